//! CORS, `GET /healthz`, `GET /version`, the JWKS, rate limiting, `POST /token/verify` and the
//! emulator-only routes, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const ORIGIN: &str = "http://localhost:3000";

fn assert_cors(r: &Reply, what: &str) {
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(ORIGIN),
        "{what}: the Origin is echoed"
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        Some("true"),
        "{what}: credentials allowed"
    );
}

async fn cors_preflight(backend: Backend) {
    let s = start_default(backend).await;
    for path in ["/signin/anonymous", "/token", "/user", "/signout"] {
        let r = s
            .send(
                s.http
                    .request(reqwest::Method::OPTIONS, s.endpoint(path))
                    .header("origin", ORIGIN)
                    .header("access-control-request-method", "POST")
                    .header(
                        "access-control-request-headers",
                        "authorization,content-type",
                    ),
            )
            .await;
        assert_eq!(r.status, 204, "OPTIONS {path}: {}", r.describe());
        assert_cors(&r, &format!("OPTIONS {path}"));
        let methods = r
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "OPTIONS {path}: allowed methods {methods:?}"
        );
        let headers = r
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            headers.contains("authorization") && headers.contains("content-type"),
            "OPTIONS {path}: allowed headers {headers:?}"
        );
    }
}
both!(cors_preflight);

async fn cors_on_responses(backend: Backend) {
    let s = start_default(backend).await;
    let r = s
        .send(
            s.http
                .post(s.endpoint("/signin/anonymous"))
                .header("origin", ORIGIN),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_cors(&r, "POST /signin/anonymous");
    // Errors too, or a browser cannot read them.
    let r = s
        .send(
            s.http
                .post(s.endpoint("/token"))
                .header("origin", ORIGIN)
                .json(&json!({ "refreshToken": uuid::Uuid::new_v4().to_string() })),
        )
        .await;
    assert_handler_error(&r, 401, "invalid-refresh-token");
    assert_cors(&r, "a 401 from POST /token");
    let r = s
        .send(s.http.get(s.endpoint("/healthz")).header("origin", ORIGIN))
        .await;
    assert_cors(&r, "GET /healthz");
}
both!(cors_on_responses);

async fn healthz(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!("OK"), "healthz answers \"OK\"");
}
both!(healthz);

async fn version(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.get("/version").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = r.json();
    assert!(
        body["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{{\"version\": string}}: {body}"
    );
}
both!(version);

async fn jwks_is_empty_for_hs256(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.get("/.well-known/jwks.json").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.json(),
        json!({ "keys": [] }),
        "an HS256 secret has no public key to publish"
    );
}
both!(jwks_is_empty_for_hs256);

async fn rate_limit_signups(backend: Backend) {
    let s = start(backend, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.signups = (2, Duration::from_secs(60));
    })
    .await;
    s.sign_in_anonymous().await;
    s.sign_in_anonymous().await;
    let r = s.post_nothing("/signin/anonymous").await;
    assert_eq!(
        r.status,
        429,
        "the third sign-up in the window is refused: {}",
        r.describe()
    );
    assert!(
        r.bytes.is_empty(),
        "a 429 has an EMPTY body, got {:?}",
        r.text()
    );
    // Other routes are not in the sign-up bucket.
    assert_eq!(s.get("/healthz").await.status, 200);
}
both!(rate_limit_signups);

async fn rate_limit_off_by_default(backend: Backend) {
    let s = start_default(backend).await;
    assert!(
        !s.config().rate_limits.enabled,
        "rate limiting is off unless enabled"
    );
    for _ in 0..12 {
        s.sign_in_anonymous().await;
    }
}
both!(rate_limit_off_by_default);

async fn token_verify(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    let token = access_token(&session);
    let r = s.post("/token/verify", &json!({ "token": token })).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!("OK"));
    let r = s
        .send(s.http.post(s.endpoint("/token/verify")).bearer_auth(&token))
        .await;
    assert_eq!(
        r.status,
        200,
        "the bearer header works too: {}",
        r.describe()
    );
    assert_eq!(r.json(), json!("OK"));
    let r = s
        .post("/token/verify", &json!({ "token": "garbage" }))
        .await;
    assert_error(&r, 401);
    // Neither a body token nor a bearer: the route's bearer is optional, so the handler refuses
    // with `400 invalid-request`, as upstream's does (issue 11).
    for body in [json!({}), json!(null)] {
        let r = s.post("/token/verify", &body).await;
        assert_handler_error(&r, 400, "invalid-request");
    }
}
both!(token_verify);

async fn emulator_mailbox_and_reset(backend: Backend) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    assert_eq!(s.sign_up("mail@example.com", PASSWORD).await.status, 200);
    let r = s.get("/_emulator/mailbox").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let mails = r.json();
    assert_eq!(mails.as_array().map(Vec::len), Some(1), "{mails}");
    assert_eq!(mails[0]["to"], "mail@example.com", "{mails}");
    assert_eq!(mails[0]["kind"], "emailVerify", "{mails}");

    let r = s.emulator_post("/reset").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!("OK"));
    assert!(s.mailbox().all().is_empty(), "reset empties the mailbox");
    assert_eq!(s.stats().anonymous_sign_ins, 0, "reset zeroes the counters");
    assert_handler_error(
        &s.refresh(&refresh_token(&session)).await,
        401,
        "invalid-refresh-token",
    );
    // The email is free again.
    assert_eq!(s.sign_up("mail@example.com", PASSWORD).await.status, 200);
}
both!(emulator_mailbox_and_reset);

async fn unknown_route(backend: Backend) {
    let s = start_default(backend).await;
    let r = s.get("/no/such/route").await;
    assert_error(&r, 404);
    let r = s.emulator_post("/users/not-a-uuid/disable").await;
    assert_eq!(
        assert_client_error(&r, "disabling a user by a non-UUID id"),
        "invalid-request"
    );
}
both!(unknown_route);

// The test helpers themselves.

#[test]
fn hmac_matches_rfc_4231_test_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn database_url_replaces_the_path_only() {
    assert_eq!(
        url_with_database("postgres://postgres@127.0.0.1:55432/postgres", "x"),
        "postgres://postgres@127.0.0.1:55432/x"
    );
    assert_eq!(
        url_with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        url_with_database("postgresql://h:5432", "x"),
        "postgresql://h:5432/x"
    );
}

#[test]
fn query_strings_are_decoded() {
    let q = parse_query("ticket=verifyEmail%3Aabc&redirectTo=http%3A%2F%2Flocalhost%3A3000&x=a+b");
    assert_eq!(param(&q, "ticket"), Some("verifyEmail:abc"));
    assert_eq!(param(&q, "redirectTo"), Some("http://localhost:3000"));
    assert_eq!(param(&q, "x"), Some("a b"));
}
