//! `POST /user/deanonymize`: an anonymous user becomes a registered one and keeps its id, on
//! SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};
use uuid::Uuid;

const EMAIL: &str = "ada@example.com";

async fn deanonymize(s: &Server, session: &Value, body: Value) -> Reply {
    s.post_auth("/user/deanonymize", &access_token(session), &body)
        .await
}

fn assert_ok(r: &Reply) {
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.json(),
        json!("OK"),
        "deanonymize answers the JSON string \"OK\""
    );
}

/// The link of an email, as query parameters; checks the protocol's
/// `<server>/verify?ticket=…&type=…&redirectTo=…`.
fn assert_link(s: &Server, mail: &nhost_auth_emulator::Email, kind: &str) {
    assert_eq!(mail.kind, kind, "email kind: {mail:?}");
    assert_eq!(
        mail.redirect_to, CLIENT_URL,
        "the default redirectTo is the client URL: {mail:?}"
    );
    let prefix = format!("{}/verify?", s.url());
    let query = mail
        .link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("the link should start with {prefix}: {}", mail.link));
    let params = parse_query(query);
    assert_eq!(
        param(&params, "type"),
        Some(kind),
        "link type: {}",
        mail.link
    );
    assert_eq!(
        param(&params, "redirectTo"),
        Some(CLIENT_URL),
        "link redirectTo: {}",
        mail.link
    );
    assert_eq!(
        param(&params, "ticket"),
        Some(mail.ticket.as_str()),
        "link ticket: {}",
        mail.link
    );
}

async fn deanonymize_email_password_with_verification(backend: Backend) {
    let s = start_default(backend).await;
    assert!(
        s.config().email_verification_required,
        "the default requires email verification"
    );
    let session = s.sign_in_anonymous().await;
    let id = user_id(&session);
    let r = deanonymize(
        &s,
        &session,
        json!({ "signInMethod": "email-password", "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_ok(&r);

    // Every refresh token is revoked: the client must sign in again.
    assert_handler_error(
        &s.refresh(&refresh_token(&session)).await,
        401,
        "invalid-refresh-token",
    );
    let uid: Uuid = id.parse().expect("uuid");
    assert!(
        s.stored_refresh_token_hashes(uid)
            .await
            .expect("hashes")
            .is_empty(),
        "no refresh token left"
    );

    let mails = s.mailbox().to(EMAIL);
    assert_eq!(mails.len(), 1, "one verification email: {mails:?}");
    assert_link(&s, &mails[0], "emailVerify");

    // Signing in before verifying is refused.
    assert_handler_error(&s.sign_in(EMAIL, PASSWORD).await, 401, "unverified-user");

    let params = s.follow_link(&mails[0].link).await;
    assert_eq!(param(&params, "type"), Some("emailVerify"), "{params:?}");
    let token = param(&params, "refreshToken").expect("refreshToken");
    let verified = s.refresh_ok(token).await;
    assert_session_shape(&verified, 900);
    assert_registered_user(&verified["user"], EMAIL);
    assert_eq!(user_id(&verified), id, "the user keeps its id");
    assert_eq!(
        verified["user"]["emailVerified"], true,
        "following the link verifies the email"
    );
    assert_eq!(
        verified["user"]["displayName"], EMAIL,
        "the display name defaults to the email"
    );
    let ns = hasura_claims(&access_token(&verified));
    assert_eq!(ns["x-hasura-user-is-anonymous"], "false", "{ns}");
    assert_eq!(ns["x-hasura-default-role"], "user", "{ns}");
    assert_eq!(ns["x-hasura-allowed-roles"], json!(["me", "user"]), "{ns}");
    assert_eq!(ns["x-hasura-user-id"], json!(id), "{ns}");

    // The ticket is single-use; the password now works.
    let again = s.send(s.http.get(&mails[0].link)).await;
    assert_eq!(again.status, 302, "{}", again.describe());
    let location = again.header("location").expect("Location");
    assert!(
        location.contains("error=invalid-ticket"),
        "a used ticket redirects with error=invalid-ticket: {location}"
    );
    let signed_in = s.sign_in_ok(EMAIL, PASSWORD).await;
    assert_eq!(user_id(&signed_in), id, "same user id after sign-in");
}
both!(deanonymize_email_password_with_verification);

async fn deanonymize_email_password_without_verification(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let session = s.sign_in_anonymous().await;
    let id = user_id(&session);
    let r = deanonymize(
        &s,
        &session,
        json!({ "signInMethod": "email-password", "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_ok(&r);
    assert!(
        s.mailbox().to(EMAIL).is_empty(),
        "no email without verification: {:?}",
        s.mailbox().all()
    );

    // The refresh token stays valid and now yields the registered user.
    let next = s.refresh_ok(&refresh_token(&session)).await;
    assert_session_shape(&next, 900);
    assert_registered_user(&next["user"], EMAIL);
    assert_eq!(user_id(&next), id, "the user keeps its id");
    assert_eq!(
        next["refreshTokenId"], session["refreshTokenId"],
        "the same refresh token row"
    );
    assert_eq!(
        next["user"]["displayName"], EMAIL,
        "the display name defaults to the email"
    );
    let ns = hasura_claims(&access_token(&next));
    assert_eq!(ns["x-hasura-user-is-anonymous"], "false", "{ns}");
    assert_eq!(ns["x-hasura-default-role"], "user", "{ns}");
    assert_eq!(ns["x-hasura-allowed-roles"], json!(["me", "user"]), "{ns}");

    let me = s.get_auth("/user", &access_token(&next)).await;
    assert_eq!(
        me.status,
        200,
        "a registered user may read itself: {}",
        me.describe()
    );
    assert_eq!(me.json()["id"], json!(id));
    let signed_in = s.sign_in_ok(EMAIL, PASSWORD).await;
    assert_eq!(user_id(&signed_in), id, "the password works");
}
both!(deanonymize_email_password_without_verification);

async fn deanonymize_with_options(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let session = s.sign_in_anonymous().await;
    let body = json!({
        "signInMethod": "email-password",
        "email": EMAIL,
        "password": PASSWORD,
        "options": { "displayName": "Ada", "locale": "en", "metadata": { "k": "v" }, "defaultRole": "me", "allowedRoles": ["me"] }
    });
    assert_ok(&deanonymize(&s, &session, body).await);
    let next = s.refresh_ok(&refresh_token(&session)).await;
    let user = &next["user"];
    assert_eq!(user["displayName"], "Ada", "{user}");
    assert_eq!(user["metadata"], json!({ "k": "v" }), "{user}");
    assert_eq!(user["defaultRole"], "me", "{user}");
    assert_eq!(user["roles"], json!(["me"]), "{user}");
    assert_eq!(user["isAnonymous"], false, "{user}");
}
both!(deanonymize_with_options);

async fn deanonymize_passwordless(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let id = user_id(&session);
    assert_ok(
        &deanonymize(
            &s,
            &session,
            json!({ "signInMethod": "passwordless", "email": EMAIL }),
        )
        .await,
    );

    assert_handler_error(
        &s.refresh(&refresh_token(&session)).await,
        401,
        "invalid-refresh-token",
    );
    let mails = s.mailbox().to(EMAIL);
    assert_eq!(mails.len(), 1, "one magic link: {mails:?}");
    assert_link(&s, &mails[0], "signinPasswordless");

    let params = s.follow_link(&mails[0].link).await;
    assert_eq!(
        param(&params, "type"),
        Some("signinPasswordless"),
        "{params:?}"
    );
    let signed_in = s
        .refresh_ok(param(&params, "refreshToken").expect("refreshToken"))
        .await;
    assert_session_shape(&signed_in, 900);
    assert_registered_user(&signed_in["user"], EMAIL);
    assert_eq!(user_id(&signed_in), id, "the user keeps its id");
    assert_eq!(
        hasura_claims(&access_token(&signed_in))["x-hasura-user-is-anonymous"],
        "false"
    );
    // No password was set.
    assert_handler_error(
        &s.sign_in(EMAIL, PASSWORD).await,
        401,
        "invalid-email-password",
    );
}
both!(deanonymize_passwordless);

async fn deanonymize_missing_password(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let r = deanonymize(
        &s,
        &session,
        json!({ "signInMethod": "email-password", "email": EMAIL }),
    )
    .await;
    assert_handler_error(&r, 400, "invalid-request");
    assert_still_anonymous(&s, &session).await;
}
both!(deanonymize_missing_password);

async fn deanonymize_short_password(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let r = deanonymize(
        &s,
        &session,
        json!({ "signInMethod": "email-password", "email": EMAIL, "password": "ab" }),
    )
    .await;
    assert_handler_error(&r, 400, "password-too-short");
    assert_still_anonymous(&s, &session).await;
}
both!(deanonymize_short_password);

async fn deanonymize_not_anonymous(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let registered = s.registered_session("first@example.com", PASSWORD).await;
    let r = deanonymize(
        &s,
        &registered,
        json!({ "signInMethod": "email-password", "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_handler_error(&r, 400, "user-not-anonymous");
}
both!(deanonymize_not_anonymous);

async fn deanonymize_with_stale_anonymous_token(backend: Backend) {
    // The access token still says "anonymous" after the user was de-anonymised: the server must
    // look at the user, not only at the claim.
    let s = start(backend, |c| c.email_verification_required = false).await;
    let session = s.sign_in_anonymous().await;
    let body = json!({ "signInMethod": "email-password", "email": EMAIL, "password": PASSWORD });
    assert_ok(&deanonymize(&s, &session, body).await);
    let again = json!({ "signInMethod": "email-password", "email": "other@example.com", "password": PASSWORD });
    let r = deanonymize(&s, &session, again).await;
    assert_handler_error(&r, 400, "user-not-anonymous");
}
both!(deanonymize_with_stale_anonymous_token);

async fn deanonymize_email_taken(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.sign_up(EMAIL, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let session = s.sign_in_anonymous().await;
    let r = deanonymize(
        &s,
        &session,
        json!({ "signInMethod": "email-password", "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_handler_error(&r, 409, "email-already-in-use");
    let r = deanonymize(
        &s,
        &session,
        json!({ "signInMethod": "passwordless", "email": EMAIL }),
    )
    .await;
    assert_handler_error(&r, 409, "email-already-in-use");
    assert_still_anonymous(&s, &session).await;
}
both!(deanonymize_email_taken);

async fn deanonymize_without_bearer(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let body = json!({ "signInMethod": "email-password", "email": EMAIL, "password": PASSWORD });
    let r = s.post("/user/deanonymize", &body).await;
    assert_eq!(assert_error(&r, 401), "unauthorized", "{}", r.describe());
    let r = s.post_auth("/user/deanonymize", "not-a-jwt", &body).await;
    assert_error(&r, 401);
    assert_still_anonymous(&s, &session).await;
}
both!(deanonymize_without_bearer);

/// After a refused deanonymize the user is unchanged and its refresh token still works.
async fn assert_still_anonymous(s: &Server, session: &Value) {
    let next = s.refresh_ok(&refresh_token(session)).await;
    assert_anonymous_user(&next["user"], "anonymous");
    assert_eq!(user_id(&next), user_id(session));
    assert!(
        s.mailbox()
            .to(EMAIL)
            .iter()
            .all(|m| m.kind == "emailVerify"),
        "no magic link was sent"
    );
}
