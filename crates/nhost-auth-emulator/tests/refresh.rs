//! `POST /token` (strict refresh-token rotation) and how refresh tokens are stored, on SQLite
//! and PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use nhost_auth_emulator::hash_refresh_token;
use serde_json::json;
use uuid::Uuid;

const EMAIL: &str = "refresh@example.com";

async fn refresh_valid(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let first = s.registered_session(EMAIL, PASSWORD).await;
    let r = s.refresh(&refresh_token(&first)).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let second = r.json();
    // `/token` answers a bare Session, not {"session": …}.
    assert_session_shape(&second, 900);
    assert_registered_user(&second["user"], EMAIL);
    assert_ne!(
        refresh_token(&second),
        refresh_token(&first),
        "rotation hands out a new refresh token"
    );
    assert_eq!(
        second["refreshTokenId"], first["refreshTokenId"],
        "rotation keeps the refresh token row (its id)"
    );
    assert_eq!(user_id(&second), user_id(&first), "same user");
    let (_, claims) = jwt_parts(&access_token(&second));
    assert_eq!(
        claims["sub"],
        json!(user_id(&first)),
        "the new access token is for the same user"
    );
    assert_eq!(
        claims[NS]["x-hasura-user-is-anonymous"], "false",
        "{claims}"
    );
}
both!(refresh_valid);

async fn refresh_anonymous(backend: Backend) {
    let s = start_default(backend).await;
    let first = s.sign_in_anonymous().await;
    let mut current = first.clone();
    for round in 0..3 {
        let next = s.refresh_ok(&refresh_token(&current)).await;
        assert_session_shape(&next, 900);
        assert_anonymous_user(&next["user"], "anonymous");
        assert_ne!(
            refresh_token(&next),
            refresh_token(&current),
            "round {round}: a new refresh token"
        );
        assert_eq!(
            next["refreshTokenId"], first["refreshTokenId"],
            "round {round}: same refreshTokenId"
        );
        assert_eq!(
            user_id(&next),
            user_id(&first),
            "round {round}: same anonymous user"
        );
        assert_eq!(
            hasura_claims(&access_token(&next))["x-hasura-user-is-anonymous"],
            "true"
        );
        current = next;
    }
}
both!(refresh_anonymous);

async fn refresh_invalid_token(backend: Backend) {
    let s = start_default(backend).await;
    let _someone = s.sign_in_anonymous().await;
    let r = s.refresh(&Uuid::new_v4().to_string()).await;
    assert_handler_error(&r, 401, "invalid-refresh-token");
}
both!(refresh_invalid_token);

async fn refresh_disabled_user(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    s.disable_user(&user_id(&session)).await;
    let r = s.refresh(&refresh_token(&session)).await;
    assert_handler_error(&r, 401, "disabled-user");
}
both!(refresh_disabled_user);

async fn refresh_replayed_token(backend: Backend) {
    let s = start_default(backend).await;
    let first = s.sign_in_anonymous().await;
    let old = refresh_token(&first);
    let second = s.refresh_ok(&old).await;
    let r = s.refresh(&old).await;
    assert_handler_error(&r, 401, "invalid-refresh-token");
    // No reuse detection: replaying the old token does not revoke the new one.
    let third = s.refresh_ok(&refresh_token(&second)).await;
    assert_eq!(
        user_id(&third),
        user_id(&first),
        "the rotated token still works after a replay"
    );
}
both!(refresh_replayed_token);

async fn refresh_concurrent_race(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let id = user_id(&session);
    let mut token = refresh_token(&session);
    for round in 0..20 {
        let spawn = |token: String| {
            let http = s.http.clone();
            let url = s.endpoint("/token");
            tokio::spawn(async move {
                let res = http
                    .post(url)
                    .json(&json!({ "refreshToken": token }))
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.expect("a JSON body");
                (status, body)
            })
        };
        let a = spawn(token.clone());
        let b = spawn(token.clone());
        let a = a.await.expect("task a");
        let b = b.await.expect("task b");
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 401],
            "round {round}: two refreshes with one token must give exactly one 200 and one 401: {a:?} / {b:?}"
        );
        let (winner, loser) = if a.0 == 200 { (a.1, b.1) } else { (b.1, a.1) };
        assert_eq!(
            loser["error"], "invalid-refresh-token",
            "round {round}: the loser's error: {loser}"
        );
        assert_eq!(loser["status"], 401, "round {round}: {loser}");
        assert_eq!(winner["user"]["id"], json!(id), "round {round}: {winner}");
        token = refresh_token(&winner);
    }
    // The chain is intact and there is still exactly one token row.
    let last = s.refresh_ok(&token).await;
    let hashes = s
        .stored_refresh_token_hashes(id.parse().expect("uuid"))
        .await
        .expect("stored hashes");
    assert_eq!(
        hashes,
        vec![hash_refresh_token(&refresh_token(&last))],
        "one row, holding the latest token's hash"
    );
}
both!(refresh_concurrent_race);

async fn refresh_not_a_uuid(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let good = refresh_token(&session);
    let cases = [
        "not-a-uuid".to_owned(),
        String::new(),
        good.replace('-', ""),
        format!("{{{good}}}"),
        format!("{good}x"),
        format!(" {good}"),
        good.to_uppercase(),
        "'; DROP TABLE users; --".to_owned(),
    ];
    for bad in cases {
        let r = s.refresh(&bad).await;
        assert_eq!(
            r.status,
            400,
            "refreshToken {bad:?} is not a lowercase UUID: {}",
            r.describe()
        );
        assert_error(&r, 400);
    }
    // None of that consumed the real token.
    s.refresh_ok(&good).await;
}
both!(refresh_not_a_uuid);

async fn refresh_expired(backend: Backend) {
    let s = start(backend, |c| {
        c.refresh_token_expires_in = Duration::from_secs(1)
    })
    .await;
    let session = s.sign_in_anonymous().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = s.refresh(&refresh_token(&session)).await;
    assert_handler_error(&r, 401, "invalid-refresh-token");
}
both!(refresh_expired);

async fn refresh_expiry_slides(backend: Backend) {
    let s = start(backend, |c| {
        c.refresh_token_expires_in = Duration::from_secs(3)
    })
    .await;
    let first = s.sign_in_anonymous().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = s.refresh_ok(&refresh_token(&first)).await;
    // Four seconds after sign-in (past the first expiry), two after the refresh.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let third = s.refresh_ok(&refresh_token(&second)).await;
    assert_eq!(
        user_id(&third),
        user_id(&first),
        "each refresh slides the expiry"
    );
}
both!(refresh_expiry_slides);

async fn refresh_unknown_field(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let token = refresh_token(&session);
    let r = s
        .post(
            "/token",
            &json!({ "refreshToken": token, "refreshTokenId": session["refreshTokenId"] }),
        )
        .await;
    assert_error(&r, 400);
    let r = s
        .post("/token", &json!({ "refreshToken": token, "extra": true }))
        .await;
    assert_error(&r, 400);
    // A refused request does not consume the token.
    s.refresh_ok(&token).await;
}
both!(refresh_unknown_field);

async fn refresh_missing_token(backend: Backend) {
    let s = start_default(backend).await;
    assert_error(&s.post("/token", &json!({})).await, 400);
    assert_error(&s.post_nothing("/token").await, 400);
    assert_error(
        &s.post("/token", &json!({ "refreshToken": null })).await,
        400,
    );
}
both!(refresh_missing_token);

async fn refresh_counts_token_requests(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    assert_eq!(s.stats().token_requests, 0);
    s.refresh_ok(&refresh_token(&session)).await;
    let _ = s.refresh(&refresh_token(&session)).await; // replay: 401
    let _ = s.refresh(&Uuid::new_v4().to_string()).await; // unknown: 401
    assert_eq!(
        s.stats().token_requests,
        3,
        "every POST /token is counted, whatever its outcome"
    );
    let stats = s.get("/_emulator/stats").await;
    assert_eq!(stats.status, 200, "{}", stats.describe());
    assert_eq!(stats.json()["tokenRequests"], 3, "{}", stats.describe());
}
both!(refresh_counts_token_requests);

/// `\x` followed by 64 lowercase hex digits.
fn assert_hash_format(hash: &str) {
    let hex = hash
        .strip_prefix("\\x")
        .unwrap_or_else(|| panic!("a stored hash starts with \\x: {hash}"));
    assert_eq!(hex.len(), 64, "sha256 in hex: {hash}");
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex: {hash}"
    );
}

fn assert_token_not_stored(hashes: &[String], token: &str) {
    let simple = token.replace('-', "");
    for h in hashes {
        assert!(
            !h.contains(token) && !h.contains(&simple),
            "the token itself must never be stored: {h}"
        );
    }
}

async fn storage_holds_only_hashes(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let id: Uuid = user_id(&session).parse().expect("uuid");
    let token = refresh_token(&session);
    let hashes = s
        .stored_refresh_token_hashes(id)
        .await
        .expect("stored hashes");
    assert_eq!(
        hashes,
        vec![hash_refresh_token(&token)],
        "the stored hash is hash_refresh_token(token)"
    );
    assert_hash_format(&hashes[0]);
    assert_token_not_stored(&hashes, &token);

    let next = s.refresh_ok(&token).await;
    let new_token = refresh_token(&next);
    let hashes = s
        .stored_refresh_token_hashes(id)
        .await
        .expect("stored hashes");
    assert_eq!(
        hashes,
        vec![hash_refresh_token(&new_token)],
        "rotation replaces the hash in the same row"
    );
    assert_token_not_stored(&hashes, &token);
    assert_token_not_stored(&hashes, &new_token);
}
both!(storage_holds_only_hashes);

async fn storage_one_row_per_session(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let a = s.registered_session(EMAIL, PASSWORD).await;
    let b = s.sign_in_ok(EMAIL, PASSWORD).await;
    let id: Uuid = user_id(&a).parse().expect("uuid");
    let mut hashes = s
        .stored_refresh_token_hashes(id)
        .await
        .expect("stored hashes");
    hashes.sort();
    let mut want = vec![
        hash_refresh_token(&refresh_token(&a)),
        hash_refresh_token(&refresh_token(&b)),
    ];
    want.sort();
    assert_eq!(
        hashes, want,
        "two sign-ins, two rows, each holding its token's hash"
    );
    for h in &hashes {
        assert_hash_format(h);
    }
    assert_token_not_stored(&hashes, &refresh_token(&a));
    assert_token_not_stored(&hashes, &refresh_token(&b));
}
both!(storage_one_row_per_session);

#[test]
fn hash_matches_the_documented_test_vector() {
    assert_eq!(
        hash_refresh_token("1fb17604-86c7-444e-b337-09a644465f2d"),
        "\\x9698157153010b858587119503cbeef0cf288f11775e51cdb6bfd65e930d9310",
        "PROTOCOL.md's test vector"
    );
}

/// Issue 16, item 2: one user with many sessions, every session refreshed at once. On SQLite the
/// refreshes share a group-commit batch; the real server (and PostgreSQL here) rotates each token
/// on its own, so all of them must succeed, and each new token must work again.
async fn refresh_many_sessions_of_one_user_at_once(backend: Backend) {
    const SESSIONS: usize = 64;
    let s = start(backend, |c| c.email_verification_required = false).await;
    let mut tokens = vec![refresh_token(&s.registered_session(EMAIL, PASSWORD).await)];
    for _ in 1..SESSIONS {
        tokens.push(refresh_token(&s.sign_in_ok(EMAIL, PASSWORD).await));
    }
    let url = s.endpoint("/token");
    let mut refreshes = tokio::task::JoinSet::new();
    for token in tokens {
        let (http, url) = (s.http.clone(), url.clone());
        refreshes.spawn(async move {
            let r = http
                .post(&url)
                .json(&json!({ "refreshToken": token }))
                .send()
                .await
                .expect("POST /token");
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        });
    }
    let mut failures = Vec::new();
    let mut rotated = Vec::new();
    while let Some(done) = refreshes.join_next().await {
        let (status, body) = done.expect("the refresh task");
        if status == 200 {
            let session: serde_json::Value = serde_json::from_str(&body).expect("a Session");
            rotated.push(refresh_token(&session));
        } else {
            failures.push(format!("HTTP {status} {body}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {SESSIONS} concurrent refreshes of one user's sessions failed: {:?}",
        failures.len(),
        failures.first()
    );
    // The rotated tokens were committed: each one works once more.
    for token in rotated {
        s.refresh_ok(&token).await;
    }
}
both!(refresh_many_sessions_of_one_user_at_once);

/// The user in a rotation's answer is the stored user, field for field: on SQLite a batch of
/// rotations reads it in the rotating statement itself (as one JSON array, decoded by the
/// request), on PostgreSQL with a query of its own; either way it must equal `GET /user`, with
/// several roles, metadata of every JSON kind, an email and a display name.
async fn refresh_answers_the_stored_user(backend: Backend) {
    let s = start(backend, |c| c.email_verification_required = false).await;
    let metadata = json!({
        "plan": "pro",
        "ratio": 0.1,
        "big": 12345678901234567_i64,
        "nested": {"list": [1, "two", null, true], "quote": "a \"b\" \\ c"},
        "unicode": "é李🙂",
    });
    let r = s
        .post(
            "/signup/email-password",
            &json!({
                "email": EMAIL,
                "password": PASSWORD,
                "options": {
                    "displayName": "Ana-María O'Neil",
                    "metadata": metadata,
                    "allowedRoles": ["user", "me"],
                    "defaultRole": "me",
                },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let signed_up = r.json()["session"].clone();
    let rotated = s.refresh_ok(&refresh_token(&signed_up)).await;
    let stored = s.get_auth("/user", &access_token(&rotated)).await;
    assert_eq!(stored.status, 200, "{}", stored.describe());
    assert_eq!(
        rotated["user"],
        stored.json(),
        "the rotation's user is the stored one"
    );
    // Sign-up answers the roles in the order asked; what is read back is sorted.
    let mut answered = signed_up["user"].clone();
    answered["roles"] = json!(["me", "user"]);
    assert_eq!(rotated["user"], answered, "and the one sign-up answered");
    assert_eq!(rotated["user"]["metadata"], metadata);
    assert_eq!(rotated["user"]["roles"], json!(["me", "user"]));

    let anonymous = s
        .post(
            "/signin/anonymous",
            &json!({"displayName": "Guest", "locale": "en", "metadata": {"n": -1.5e-7}}),
        )
        .await;
    assert_eq!(anonymous.status, 200, "{}", anonymous.describe());
    let anonymous = anonymous.json()["session"].clone();
    let rotated = s.refresh_ok(&refresh_token(&anonymous)).await;
    assert_eq!(rotated["user"], anonymous["user"]);
}
both!(refresh_answers_the_stored_user);
