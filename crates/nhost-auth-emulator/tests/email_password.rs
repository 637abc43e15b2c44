//! `POST /signup/email-password`, `POST /signin/email-password` and `GET /user` (with every way
//! a bearer token can be wrong), on SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::*;
use nhost_auth_emulator::DEV_JWT_KEY;
use serde_json::{Value, json};

const EMAIL: &str = "grace@example.com";

async fn signup_without_verification_returns_session(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let r = s.sign_up(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = r.json();
    assert_eq!(keys(&body), set(&["session"]), "{{\"session\": …}}: {body}");
    let session = &body["session"];
    assert_session_shape(session, 900);
    let user = &session["user"];
    assert_registered_user(user, EMAIL);
    assert_eq!(
        user["displayName"], EMAIL,
        "the display name defaults to the email: {user}"
    );
    assert_eq!(user["emailVerified"], false, "{user}");
    assert_eq!(user["locale"], "en", "{user}");
    assert_eq!(user["metadata"], Value::Null, "{user}");
    let ns = hasura_claims(&access_token(session));
    assert_eq!(ns["x-hasura-user-is-anonymous"], "false", "{ns}");
    assert_eq!(ns["x-hasura-default-role"], "user", "{ns}");
    assert_eq!(ns["x-hasura-allowed-roles"], json!(["me", "user"]), "{ns}");
    assert!(
        s.mailbox().to(EMAIL).is_empty(),
        "no email without verification"
    );
}
both!(signup_without_verification_returns_session);

async fn signup_with_verification_returns_no_session(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.sign_up(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.json(),
        json!({}),
        "no `session` key when the email must be verified first"
    );
    let mails = s.mailbox().to(EMAIL);
    assert_eq!(mails.len(), 1, "one verification email: {mails:?}");
    assert_eq!(mails[0].kind, "emailVerify", "{mails:?}");
    assert_eq!(mails[0].redirect_to, CLIENT_URL, "{mails:?}");
    assert!(
        mails[0].link.starts_with(&format!("{}/verify?", s.url())),
        "link: {}",
        mails[0].link
    );
}
both!(signup_with_verification_returns_no_session);

async fn signup_email_taken(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    assert_eq!(s.sign_up(EMAIL, PASSWORD).await.status, 200);
    assert_handler_error(
        &s.sign_up(EMAIL, "another-password").await,
        409,
        "email-already-in-use",
    );
    assert_handler_error(
        &s.sign_up(&EMAIL.to_uppercase(), PASSWORD).await,
        409,
        "email-already-in-use",
    );
}
both!(signup_email_taken);

async fn signup_disabled(backend: Backend) {
    let s = start(backend, |c| c.disable_signup = true).await;
    assert_handler_error(&s.sign_up(EMAIL, PASSWORD).await, 403, "signup-disabled");
}
both!(signup_disabled);

async fn signup_short_password(backend: Backend) {
    let s = start_default(backend).await;
    assert_handler_error(&s.sign_up(EMAIL, "ab").await, 400, "password-too-short");
}
both!(signup_short_password);

async fn signin_unverified(backend: Backend) {
    let s = start_default(backend).await;
    assert_eq!(s.sign_up(EMAIL, PASSWORD).await.status, 200);
    assert_handler_error(&s.sign_in(EMAIL, PASSWORD).await, 401, "unverified-user");
}
both!(signin_unverified);

async fn signin_wrong_password(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    assert_eq!(s.sign_up(EMAIL, PASSWORD).await.status, 200);
    assert_handler_error(
        &s.sign_in(EMAIL, "wrong-password").await,
        401,
        "invalid-email-password",
    );
    assert_handler_error(
        &s.sign_in("nobody@example.com", PASSWORD).await,
        401,
        "invalid-email-password",
    );
}
both!(signin_wrong_password);

async fn signin_after_verify(backend: Backend) {
    let s = start_default(backend).await;
    assert_eq!(s.sign_up(EMAIL, PASSWORD).await.status, 200);
    let mail = s.last_email(EMAIL);
    let params = s.follow_link(&mail.link).await;
    assert_eq!(param(&params, "type"), Some("emailVerify"), "{params:?}");
    // The redirect's refresh token is a working session.
    let from_link = s
        .refresh_ok(param(&params, "refreshToken").expect("refreshToken"))
        .await;
    assert_registered_user(&from_link["user"], EMAIL);
    assert_eq!(from_link["user"]["emailVerified"], true, "{from_link}");

    let session = s.sign_in_ok(EMAIL, PASSWORD).await;
    assert_session_shape(&session, 900);
    assert_registered_user(&session["user"], EMAIL);
    assert_eq!(session["user"]["emailVerified"], true, "{session}");
    assert_eq!(user_id(&session), user_id(&from_link), "same user");
}
both!(signin_after_verify);

async fn signin_disabled_user(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let session = s.registered_session(EMAIL, PASSWORD).await;
    s.disable_user(&user_id(&session)).await;
    assert_handler_error(&s.sign_in(EMAIL, PASSWORD).await, 401, "disabled-user");
}
both!(signin_disabled_user);

async fn get_user_anonymous(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let r = s.get_auth("/user", &access_token(&session)).await;
    assert_handler_error(&r, 403, "forbidden-anonymous");
}
both!(get_user_anonymous);

async fn get_user_registered(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let session = s.registered_session(EMAIL, PASSWORD).await;
    let r = s.get_auth("/user", &access_token(&session)).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let user = r.json();
    // A bare User, equal to the session's.
    assert_registered_user(&user, EMAIL);
    assert_eq!(
        user, session["user"],
        "GET /user returns the same User as the session"
    );
}
both!(get_user_registered);

/// A registered user's session and the claims of its access token, for forging tokens.
async fn registered(backend: Backend) -> (Server, Value, Value) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let session = s.registered_session(EMAIL, PASSWORD).await;
    let (_, claims) = jwt_parts(&access_token(&session));
    // A control: the same claims re-signed with the right key are accepted, so a rejection
    // below is caused by the one thing each test changes.
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let resigned = sign_hs256(&header, &claims, DEV_JWT_KEY.as_bytes());
    let r = s.get_auth("/user", &resigned).await;
    assert_eq!(
        r.status,
        200,
        "a token re-signed with the development key is valid: {}",
        r.describe()
    );
    (s, session, claims)
}

fn assert_unauthorized(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: expected 401, got {}", r.describe());
    assert_error(r, 401);
}

async fn get_user_without_bearer(backend: Backend) {
    let (s, _, _) = registered(backend).await;
    assert_unauthorized(&s.get("/user").await, "no Authorization header");
}
both!(get_user_without_bearer);

async fn get_user_garbage_bearer(backend: Backend) {
    let (s, session, _) = registered(backend).await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        assert_unauthorized(
            &s.get_auth("/user", token).await,
            &format!("bearer {token:?}"),
        );
    }
    let basic = s
        .send(
            s.http
                .get(s.endpoint("/user"))
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    assert_unauthorized(&basic, "a Basic authorization header");
    // The refresh token is not an access token.
    assert_unauthorized(
        &s.get_auth("/user", &refresh_token(&session)).await,
        "a refresh token as bearer",
    );
}
both!(get_user_garbage_bearer);

async fn get_user_token_signed_with_another_key(backend: Backend) {
    let (s, _, claims) = registered(backend).await;
    let forged = sign_hs256(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims,
        b"another-key-another-key-another-key-42",
    );
    assert_unauthorized(
        &s.get_auth("/user", &forged).await,
        "a token signed with another key",
    );
}
both!(get_user_token_signed_with_another_key);

async fn get_user_alg_none(backend: Backend) {
    let (s, _, claims) = registered(backend).await;
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(v).expect("json"))
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&claims)
    );
    assert_unauthorized(&s.get_auth("/user", &none).await, "an `alg: none` token");
    // Nor does a forged token pass by claiming HS256 with an empty signature.
    let empty_sig = format!(
        "{}.{}.",
        b64(&json!({ "alg": "HS256", "typ": "JWT" })),
        b64(&claims)
    );
    assert_unauthorized(
        &s.get_auth("/user", &empty_sig).await,
        "an HS256 token without signature",
    );
}
both!(get_user_alg_none);

async fn get_user_expired_token(backend: Backend) {
    let (s, _, mut claims) = registered(backend).await;
    let now = now_secs();
    claims["iat"] = json!(now - 3600);
    claims["exp"] = json!(now - 1800);
    let expired = sign_hs256(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims,
        DEV_JWT_KEY.as_bytes(),
    );
    assert_unauthorized(&s.get_auth("/user", &expired).await, "an expired token");
}
both!(get_user_expired_token);
