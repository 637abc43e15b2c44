//! `POST /signin/anonymous` and the access token it hands out, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::*;
use nhost_auth_emulator::DEV_JWT_KEY;
use serde_json::{Value, json};

/// Checks a fresh anonymous sign-in answer: `{"session": Session}` with the default user.
fn assert_anonymous_session(session: &Value) {
    assert_session_shape(session, 900);
    assert_anonymous_user(&session["user"], "anonymous");
}

async fn anonymous_no_body(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.post_nothing("/signin/anonymous").await;
    assert_eq!(r.status, 200, "no body at all: {}", r.describe());
    let body = r.json();
    assert_eq!(
        keys(&body),
        set(&["session"]),
        "the answer is {{\"session\"}} only, no `mfa` key: {body}"
    );
    assert_anonymous_session(&body["session"]);
}
both!(anonymous_no_body);

async fn anonymous_empty_body(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.post_raw("/signin/anonymous", "", None).await;
    assert_eq!(
        r.status,
        200,
        "an empty application/json body: {}",
        r.describe()
    );
    let body = r.json();
    assert_eq!(keys(&body), set(&["session"]), "no `mfa` key: {body}");
    assert_anonymous_session(&body["session"]);
}
both!(anonymous_empty_body);

async fn anonymous_empty_object(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.post("/signin/anonymous", &json!({})).await;
    assert_eq!(r.status, 200, "`{{}}`: {}", r.describe());
    assert_anonymous_session(&r.json()["session"]);
}
both!(anonymous_empty_object);

async fn anonymous_with_body(backend: Backend) {
    let s = start_default(backend).await;
    let metadata = json!({ "firstName": "Ada", "nested": { "n": 1, "list": [true, null] } });
    let r = s
        .post(
            "/signin/anonymous",
            &json!({ "displayName": "Ada Lovelace", "locale": "en", "metadata": metadata }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = r.json();
    assert_eq!(keys(&body), set(&["session"]), "{body}");
    let session = &body["session"];
    assert_session_shape(session, 900);
    let user = &session["user"];
    assert_eq!(
        keys(user),
        set(&USER_KEYS),
        "no email/phoneNumber keys: {user}"
    );
    assert_eq!(
        user["displayName"], "Ada Lovelace",
        "displayName is taken from the body: {user}"
    );
    assert_eq!(user["locale"], "en", "locale: {user}");
    assert_eq!(
        user["metadata"], metadata,
        "metadata is stored as given: {user}"
    );
    assert_eq!(user["isAnonymous"], true, "{user}");
    assert_eq!(user["defaultRole"], "anonymous", "{user}");
    assert_eq!(user["roles"], json!(["anonymous"]), "{user}");
    assert_eq!(user["avatarUrl"], "", "{user}");
    assert_eq!(user["emailVerified"], false, "{user}");
    assert_eq!(user["phoneNumberVerified"], false, "{user}");
    assert_eq!(user["activeMfaType"], Value::Null, "{user}");

    // What was stored is what a refresh reads back.
    let again = s.refresh_ok(&refresh_token(session)).await;
    assert_eq!(
        again["user"]["displayName"], "Ada Lovelace",
        "displayName survives a refresh: {again}"
    );
    assert_eq!(
        again["user"]["metadata"], metadata,
        "metadata survives a refresh: {again}"
    );
}
both!(anonymous_with_body);

async fn anonymous_users_are_distinct(backend: Backend) {
    let s = start_default(backend).await;
    let a = s.sign_in_anonymous().await;
    let b = s.sign_in_anonymous().await;
    assert_ne!(
        user_id(&a),
        user_id(&b),
        "each anonymous sign-in creates a new user"
    );
    assert_ne!(
        refresh_token(&a),
        refresh_token(&b),
        "each sign-in gets its own refresh token"
    );
    assert_ne!(
        a["refreshTokenId"], b["refreshTokenId"],
        "each sign-in gets its own refresh token row"
    );
    assert_eq!(
        s.stats().anonymous_sign_ins,
        2,
        "the stats count anonymous sign-ins"
    );
}
both!(anonymous_users_are_distinct);

async fn anonymous_signup_disabled(backend: Backend) {
    let s = start(backend, |c| c.disable_signup = true).await;
    let r = s.post_nothing("/signin/anonymous").await;
    assert_handler_error(&r, 403, "signup-disabled");
}
both!(anonymous_signup_disabled);

async fn anonymous_disabled(backend: Backend) {
    let s = start(backend, |c| c.anonymous_users_enabled = false).await;
    let r = s.post_nothing("/signin/anonymous").await;
    assert_handler_error(&r, 409, "disabled-endpoint");
    let r = s
        .post("/signin/anonymous", &json!({ "displayName": "X" }))
        .await;
    assert_handler_error(&r, 409, "disabled-endpoint");
}
both!(anonymous_disabled);

async fn anonymous_unknown_field(backend: Backend) {
    let s = start_default(backend).await;
    for body in [
        json!({ "nope": 1 }),
        json!({ "displayName": "A", "email": "a@b.co" }),
        json!({ "options": {} }),
    ] {
        let r = s.post("/signin/anonymous", &body).await;
        assert_error(&r, 400);
    }
}
both!(anonymous_unknown_field);

async fn anonymous_locale_wrong_length(backend: Backend) {
    let s = start_default(backend).await;
    for locale in ["e", "eng", "", "en-US"] {
        let r = s
            .post("/signin/anonymous", &json!({ "locale": locale }))
            .await;
        assert_eq!(
            r.status,
            400,
            "locale {locale:?} is not 2 characters: {}",
            r.describe()
        );
        assert_error(&r, 400);
    }
}
both!(anonymous_locale_wrong_length);

async fn anonymous_locale_not_allowed_is_replaced(backend: Backend) {
    let s = start_default(backend).await;
    let r = s
        .post("/signin/anonymous", &json!({ "locale": "fr" }))
        .await;
    assert_eq!(
        r.status,
        200,
        "a well-formed but not allowed locale is not an error: {}",
        r.describe()
    );
    let session = &r.json()["session"];
    assert_anonymous_session(session);
    assert_eq!(
        session["user"]["locale"], "en",
        "the locale is silently replaced by the default"
    );
}
both!(anonymous_locale_not_allowed_is_replaced);

async fn jwt_claims_of_anonymous_user(backend: Backend) {
    let s = start_default(backend).await;
    let before = now_secs();
    let session = s.sign_in_anonymous().await;
    let after = now_secs();
    let token = access_token(&session);
    let id = user_id(&session);

    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["alg"], "HS256", "header: {header}");
    assert_eq!(header["typ"], "JWT", "header: {header}");
    assert!(
        hs256_signature_valid(&token, DEV_JWT_KEY.as_bytes()),
        "the token should be signed with HS256 and the default development key"
    );
    assert_eq!(claims["sub"], json!(id), "sub is the user id: {claims}");
    let iat = claims["iat"]
        .as_i64()
        .unwrap_or_else(|| panic!("iat should be an integer: {claims}"));
    assert!(
        (before - 5..=after + 5).contains(&iat),
        "iat {iat} should be the signing time ({before}..{after})"
    );
    assert_eq!(claims["exp"], json!(iat + 900), "exp = iat + 900: {claims}");
    assert!(
        claims["iss"].as_str().is_some_and(|i| !i.is_empty()),
        "iss should be present: {claims}"
    );

    let ns = &claims[NS];
    assert_eq!(ns["x-hasura-allowed-roles"], json!(["anonymous"]), "{ns}");
    assert_eq!(ns["x-hasura-default-role"], "anonymous", "{ns}");
    assert_eq!(ns["x-hasura-user-id"], json!(id), "{ns}");
    assert_eq!(
        ns["x-hasura-user-is-anonymous"],
        json!("true"),
        "x-hasura-user-is-anonymous is the STRING \"true\", not a boolean: {ns}"
    );

    // A refreshed token carries the same claims.
    let refreshed = s.refresh_ok(&refresh_token(&session)).await;
    let ns2 = hasura_claims(&access_token(&refreshed));
    assert_eq!(ns2, *ns, "claims after a refresh");
}
both!(jwt_claims_of_anonymous_user);

async fn jwt_claims_with_configured_anonymous_role(backend: Backend) {
    let s = start(backend, |c| c.anonymous_role = "public".into()).await;
    let session = s.sign_in_anonymous().await;
    assert_session_shape(&session, 900);
    assert_anonymous_user(&session["user"], "public");
    let ns = hasura_claims(&access_token(&session));
    assert_eq!(ns["x-hasura-allowed-roles"], json!(["public"]), "{ns}");
    assert_eq!(ns["x-hasura-default-role"], "public", "{ns}");
    assert_eq!(ns["x-hasura-user-is-anonymous"], "true", "{ns}");
}
both!(jwt_claims_with_configured_anonymous_role);

async fn jwt_signed_with_configured_secret(backend: Backend) {
    let key = "a-test-key-that-is-long-enough-for-hs256!";
    let secret = format!(r#"{{"type":"HS256","key":"{key}","issuer":"my-issuer"}}"#);
    let s = start(backend, |c| {
        c.jwt_secret = nhost_auth_emulator::JwtSecret::from_json(&secret).expect("a valid secret");
    })
    .await;
    let session = s.sign_in_anonymous().await;
    let token = access_token(&session);
    assert!(
        hs256_signature_valid(&token, key.as_bytes()),
        "signed with the configured key"
    );
    assert!(
        !hs256_signature_valid(&token, DEV_JWT_KEY.as_bytes()),
        "not with the development key"
    );
    let (_, claims) = jwt_parts(&token);
    assert_eq!(
        claims["iss"], "my-issuer",
        "the configured issuer: {claims}"
    );
}
both!(jwt_signed_with_configured_secret);
