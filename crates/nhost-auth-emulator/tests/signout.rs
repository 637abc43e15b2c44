//! `POST /signout`, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::*;
use serde_json::json;
use uuid::Uuid;

const EMAIL: &str = "signout@example.com";

async fn signout_single(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let other = s.sign_in_anonymous().await;
    let token = refresh_token(&session);
    let r = s.post("/signout", &json!({ "refreshToken": token })).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.json(),
        json!("OK"),
        "sign-out answers the JSON string \"OK\""
    );
    assert_handler_error(&s.refresh(&token).await, 401, "invalid-refresh-token");
    let id: Uuid = user_id(&session).parse().expect("uuid");
    assert!(
        s.stored_refresh_token_hashes(id)
            .await
            .expect("hashes")
            .is_empty(),
        "the token row is deleted"
    );
    // Someone else's session is untouched.
    s.refresh_ok(&refresh_token(&other)).await;
}
both!(signout_single);

async fn signout_all_with_bearer(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let first = s.registered_session(EMAIL, PASSWORD).await;
    let second = s.sign_in_ok(EMAIL, PASSWORD).await;
    let third = s.sign_in_ok(EMAIL, PASSWORD).await;
    let bystander = s.sign_in_anonymous().await;
    let id: Uuid = user_id(&first).parse().expect("uuid");
    assert_eq!(
        s.stored_refresh_token_hashes(id)
            .await
            .expect("hashes")
            .len(),
        3,
        "three sessions"
    );

    // As nhost-js does: the current refresh token and `all: true`, with the access token.
    let r = s
        .post_auth(
            "/signout",
            &access_token(&first),
            &json!({ "refreshToken": refresh_token(&first), "all": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!("OK"));
    for (name, session) in [("first", &first), ("second", &second), ("third", &third)] {
        let r = s.refresh(&refresh_token(session)).await;
        assert_eq!(
            r.status,
            401,
            "the {name} session must be revoked: {}",
            r.describe()
        );
        assert_handler_error(&r, 401, "invalid-refresh-token");
    }
    assert!(
        s.stored_refresh_token_hashes(id)
            .await
            .expect("hashes")
            .is_empty(),
        "every row of the user is deleted"
    );
    // Other users keep their sessions.
    s.refresh_ok(&refresh_token(&bystander)).await;
    // Access tokens stay valid until they expire.
    let me = s.get_auth("/user", &access_token(&second)).await;
    assert_eq!(
        me.status,
        200,
        "an access token outlives sign-out until `exp`: {}",
        me.describe()
    );
}
both!(signout_all_with_bearer);

async fn signout_all_only_flag(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let r = s
        .post_auth("/signout", &access_token(&session), &json!({ "all": true }))
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!("OK"));
    assert_handler_error(
        &s.refresh(&refresh_token(&session)).await,
        401,
        "invalid-refresh-token",
    );
}
both!(signout_all_only_flag);

async fn signout_all_without_bearer(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let r = s
        .post(
            "/signout",
            &json!({ "refreshToken": refresh_token(&session), "all": true }),
        )
        .await;
    // The bearer is optional on this route: the handler refuses, with its own shape and id, as
    // upstream's does (issue 11) — not the middleware's 401.
    assert_handler_error(&r, 400, "invalid-request");
    // Nothing was revoked.
    s.refresh_ok(&refresh_token(&session)).await;
}
both!(signout_all_without_bearer);

async fn signout_unknown_token(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let r = s
        .post(
            "/signout",
            &json!({ "refreshToken": Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "an unknown refresh token still signs out: {}",
        r.describe()
    );
    assert_eq!(r.json(), json!("OK"));
    s.refresh_ok(&refresh_token(&session)).await;
}
both!(signout_unknown_token);
