//! Issue 16 ("Safe by default"), the emulator's half: no web page can read or change the
//! emulator-only routes, no foreign `Host` is answered (DNS rebinding), redirects only go where
//! they were configured to, and the inputs that cost memory or leak information are bounded.
//! Each test names the item it guards; each failed before its fix.
//!
//! The checks do not depend on the store, so they run on SQLite only; the browser-level check of
//! item 1 is `tests/hostile_page.rs` (headless Chromium: a cross-site page and a rebinding one).

mod common;

use common::*;
use nhost_auth_emulator::{Config, Emulator};
use serde_json::json;

const EVIL: &str = "https://evil.example";

async fn sqlite() -> Server {
    start_default(Backend::Sqlite).await
}

/// `{status, error, message}` with a 4xx status (never a 2xx, never a 5xx).
fn assert_refused(r: &Reply, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx, got {}",
        r.describe()
    );
    let body = r.json();
    assert_eq!(
        keys(&body),
        set(&["status", "error", "message"]),
        "{what}: the protocol's error shape: {body}"
    );
    assert_eq!(body["status"], json!(r.status), "{what}: {body}");
}

/// The emulator's own URL of an emulator-only route (they live outside the API prefix).
fn emulator_route(s: &Server, path: &str) -> String {
    format!("http://{}/_emulator{path}", s.addr())
}

// Item 1: `/_emulator/*` is not readable or writable by other web pages.

#[tokio::test]
async fn item1_mailbox_is_not_readable_from_another_origin() {
    let s = sqlite().await;
    s.sign_up("victim@example.com", PASSWORD).await;
    let r = s
        .send(
            s.http
                .get(emulator_route(&s, "/mailbox"))
                .header("origin", EVIL),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "no CORS grant for another origin: {}",
        r.describe()
    );
    assert_refused(&r, "GET /_emulator/mailbox from another origin");
    assert!(
        !r.text().contains("verifyEmail:"),
        "no ticket in the answer: {}",
        r.describe()
    );
    // A cross-site request without `Origin` (an <img>, a <script src>, a no-cors GET) is told
    // apart by Fetch Metadata.
    for site in ["cross-site", "same-site"] {
        let r = s
            .send(
                s.http
                    .get(emulator_route(&s, "/mailbox"))
                    .header("sec-fetch-site", site),
            )
            .await;
        assert_refused(
            &r,
            &format!("GET /_emulator/mailbox, Sec-Fetch-Site: {site}"),
        );
    }
    // The same request from a tool (no Origin, no Fetch Metadata) or from the emulator's own
    // origin still works.
    assert_eq!(s.get("/_emulator/mailbox").await.status, 200);
    let own = format!("http://{}", s.addr());
    let r = s
        .send(
            s.http
                .get(emulator_route(&s, "/mailbox"))
                .header("origin", &own)
                .header("sec-fetch-site", "same-origin"),
        )
        .await;
    assert_eq!(r.status, 200, "same origin: {}", r.describe());
}

#[tokio::test]
async fn item1_preflight_from_another_origin_is_not_granted() {
    let s = sqlite().await;
    let r = s
        .send(
            s.http
                .request(reqwest::Method::OPTIONS, emulator_route(&s, "/reset"))
                .header("origin", EVIL)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type"),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "a preflight to an emulator route grants nothing: {}",
        r.describe()
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        None,
        "{}",
        r.describe()
    );
}

#[tokio::test]
async fn item1_reset_is_not_a_form_post() {
    let s = sqlite().await;
    let session = s.sign_in_anonymous().await;
    // What a cross-site <form method=post> can send: a CORS-safelisted content type, no
    // custom header; with and without an Origin (a sandboxed frame sends `null`).
    for (content_type, origin) in [
        ("application/x-www-form-urlencoded", Some(EVIL)),
        ("multipart/form-data; boundary=x", Some("null")),
        ("text/plain", None),
        ("text/plain; charset=utf-8", Some(EVIL)),
    ] {
        let mut req = s
            .http
            .post(emulator_route(&s, "/reset"))
            .header("content-type", content_type)
            .body("a=b");
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        let r = s.send(req).await;
        assert_refused(
            &r,
            &format!("POST /_emulator/reset as {content_type}, Origin {origin:?}"),
        );
    }
    // No body and no content type at all is a simple request too.
    assert_refused(
        &s.post_nothing("/_emulator/reset").await,
        "POST /_emulator/reset without a content type",
    );
    assert_refused(
        &s.send(s.http.delete(emulator_route(&s, "/mailbox"))).await,
        "DELETE /_emulator/mailbox without a content type",
    );
    // Nothing was reset.
    s.refresh_ok(&refresh_token(&session)).await;
    // A JSON request (which a browser only sends cross-origin after a preflight) works, as does
    // the emulator's own header.
    let r = s
        .send(s.http.post(emulator_route(&s, "/reset")).json(&json!({})))
        .await;
    assert_eq!(r.status, 200, "JSON reset: {}", r.describe());
    let r = s
        .send(
            s.http
                .post(emulator_route(&s, "/reset"))
                .header("x-nhost-emulator", "1"),
        )
        .await;
    assert_eq!(r.status, 200, "reset with the header: {}", r.describe());
}

#[tokio::test]
async fn item1_foreign_host_header_is_refused() {
    let s = sqlite().await;
    let port = s.addr().port();
    for (method, path) in [
        ("POST", "/signin/anonymous"),
        ("GET", "/healthz"),
        ("GET", "/_emulator/mailbox"),
    ] {
        for host in [
            "evil.example".to_owned(),
            format!("evil.example:{port}"),
            format!("localhost.evil.example:{port}"),
            format!("127.0.0.1.nip.io:{port}"),
        ] {
            let url = format!("http://{}{path}", s.addr());
            let req = s
                .http
                .request(method.parse().expect("a method"), &url)
                .header("host", &host);
            let r = s.send(req).await;
            assert_eq!(
                r.status,
                403,
                "{method} {path}, Host: {host}: {}",
                r.describe()
            );
            assert_refused(&r, &format!("{method} {path} with Host: {host}"));
            assert!(
                r.json()["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("AUTH_EMULATOR_ALLOWED_HOSTS")),
                "the message says how to allow a host: {}",
                r.describe()
            );
        }
    }
    // Loopback names and addresses, and IP literals (which DNS cannot rebind), are answered.
    for host in [
        format!("localhost:{port}"),
        "localhost".to_owned(),
        format!("LOCALHOST:{port}"),
        format!("app.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "192.168.1.20:4000".to_owned(),
    ] {
        let r = s
            .send(s.http.get(s.endpoint("/healthz")).header("host", &host))
            .await;
        assert_eq!(r.status, 200, "Host: {host}: {}", r.describe());
    }
}

#[tokio::test]
async fn item1_emulator_routes_are_off_beyond_loopback() {
    let mut config = Config::default();
    config.host = "0.0.0.0".parse().expect("an address");
    let emu = Emulator::start(config).await.expect("the emulator starts");
    let http = reqwest::Client::new();
    let r = http
        .get(format!(
            "http://127.0.0.1:{}/_emulator/mailbox",
            emu.addr().port()
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.status(),
        404,
        "bound to 0.0.0.0, the mailbox is not served unless forced"
    );
    // The protocol itself is served.
    let r = http
        .post(format!(
            "http://127.0.0.1:{}/signin/anonymous",
            emu.addr().port()
        ))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    emu.shutdown().await;
}

// Item 3: redirect targets are compared by origin and path, and the configuration is checked.

#[tokio::test]
async fn item3_unusable_client_urls_are_refused_at_start() {
    for bad in [
        "",
        "   ",
        "localhost:3000",
        "//localhost:3000",
        "/app",
        "ftp://localhost/",
        "http://",
        "not a url",
    ] {
        let mut config = Config::default();
        config.client_url = bad.into();
        let started = Emulator::start(config).await;
        assert!(
            started.is_err(),
            "AUTH_CLIENT_URL {bad:?} must be refused at start-up"
        );
    }
    for bad in ["", "//evil.example", "evil.example", "javascript:alert(1)"] {
        let mut config = Config::default();
        config.allowed_redirect_urls = vec![bad.into()];
        let started = Emulator::start(config).await;
        assert!(
            started.is_err(),
            "an allowed redirect URL {bad:?} must be refused at start-up"
        );
    }
}

#[tokio::test]
async fn item3_redirect_targets_compare_origin_and_path() {
    let s = start(Backend::Sqlite, |c| {
        c.client_url = "http://localhost:3000/app".into();
    })
    .await;
    let server = &s;
    let ask = |redirect_to: &str| {
        let body = json!({
            "email": "someone@example.com",
            "options": { "redirectTo": redirect_to },
        });
        async move { server.post("/signin/passwordless/email", &body).await }
    };
    for bad in [
        "//evil.example/steal",
        "/app",
        "http://localhost:3000/app/../admin",
        "http://localhost:3000/app/%2e%2e/admin",
        "http://localhost:3000/app\\..\\admin",
        "http://localhost:3000/apps",
        "http://localhost:3000.evil.example/app",
        "http://localhost:3000@evil.example/app",
        "https://localhost:3000/app",
        "http://localhost:3001/app",
        "http://127.0.0.1:3000/app",
        "javascript:alert(1)//http://localhost:3000/app",
        "http://localhost:3000/",
    ] {
        assert_handler_error(&ask(bad).await, 400, "redirectTo-not-allowed");
    }
    for good in [
        "http://localhost:3000/app",
        "http://localhost:3000/app/",
        "http://localhost:3000/app/welcome?x=1",
        "http://localhost:3000/app?x=1",
        "HTTP://LOCALHOST:3000/app/welcome",
    ] {
        let r = ask(good).await;
        assert_eq!(r.status, 200, "redirectTo {good}: {}", r.describe());
    }
}

#[tokio::test]
async fn item3_verify_puts_the_token_in_the_query_even_with_a_fragment() {
    let s = sqlite().await;
    let redirect_to = format!("{CLIENT_URL}/done#section");
    let r = s
        .post(
            "/signin/passwordless/email",
            &json!({ "email": "frag@example.com", "options": { "redirectTo": redirect_to } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let link = s.last_email("frag@example.com").link;
    let r = s.send(s.http.get(&link)).await;
    assert_eq!(r.status, 302, "{}", r.describe());
    let location = r.header("location").expect("a Location").to_owned();
    let (before_fragment, fragment) = location.split_once('#').expect("the fragment is kept");
    assert_eq!(fragment, "section", "{location}");
    assert!(
        before_fragment.contains("refreshToken="),
        "the refresh token goes in the query, before the fragment: {location}"
    );
}

// Item 5: what the mailbox keeps is bounded.

#[tokio::test]
async fn item5_redirect_to_length_is_bounded() {
    let s = sqlite().await;
    let long = format!("{CLIENT_URL}/{}", "a".repeat(8 * 1024));
    let r = s
        .post(
            "/signin/passwordless/email",
            &json!({ "email": "long@example.com", "options": { "redirectTo": long } }),
        )
        .await;
    assert_error(&r, 400);
    assert!(s.mailbox().all().is_empty(), "nothing was sent");
    let r = s
        .send(s.http.get(s.endpoint("/verify")).query(&[
            ("ticket", "passwordlessEmail:x"),
            ("type", "signinPasswordless"),
            ("redirectTo", long.as_str()),
        ]))
        .await;
    assert_error(&r, 400);
}

// Item 6: sign-in does not tell which emails exist; display names and passwords are checked.

#[tokio::test]
async fn item6_anonymous_display_name_is_validated() {
    let s = sqlite().await;
    for bad in [
        "<script>alert(1)</script>",
        "a&b",
        "http://evil.example",
        "",
        &"x".repeat(33),
    ] {
        let r = s
            .post("/signin/anonymous", &json!({ "displayName": bad }))
            .await;
        assert_error(&r, 400);
    }
    for good in ["Ada Lovelace", "李小龙", &"x".repeat(32)] {
        let r = s
            .post("/signin/anonymous", &json!({ "displayName": good }))
            .await;
        assert_eq!(r.status, 200, "{good}: {}", r.describe());
        assert_eq!(r.json()["session"]["user"]["displayName"], good);
    }
}

#[tokio::test]
async fn item6_passwords_over_72_bytes_are_refused_not_truncated() {
    let s = start(Backend::Sqlite, |c| c.email_verification_required = false).await;
    // 39 characters (under the spec's 50) but 75 bytes: bcrypt would only see the first 72.
    let long = format!("{}abc", "é".repeat(36));
    let same_first_72_bytes = format!("{}xyz", "é".repeat(36));
    assert!(long.chars().count() <= 50 && long.len() > 72);
    let r = s.sign_up("long@example.com", &long).await;
    assert_error(&r, 400);
    let r = s.sign_in("long@example.com", &same_first_72_bytes).await;
    assert!(
        r.status != 200,
        "a password differing after byte 72 must not sign in: {}",
        r.describe()
    );
    // Deanonymize checks the same.
    let anon = s.sign_in_anonymous().await;
    let r = s
        .post_auth(
            "/user/deanonymize",
            &access_token(&anon),
            &json!({ "signInMethod": "email-password", "email": "deanon@example.com", "password": long }),
        )
        .await;
    assert_error(&r, 400);
    // 72 bytes exactly is fine.
    let exact = "é".repeat(36);
    assert_eq!(s.sign_up("exact@example.com", &exact).await.status, 200);
    s.sign_in_ok("exact@example.com", &exact).await;
}

#[tokio::test]
async fn item6_sign_in_costs_one_bcrypt_comparison_either_way() {
    let s = start(Backend::Sqlite, |c| c.email_verification_required = false).await;
    s.registered_session("known@example.com", PASSWORD).await;
    // A passwordless account exists but has no password.
    let r = s
        .post(
            "/signin/passwordless/email",
            &json!({ "email": "magic@example.com" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let checks = || s.stats().password_checks;
    for (email, password) in [
        ("known@example.com", "wrong-password"),
        ("unknown@example.com", "wrong-password"),
        ("magic@example.com", "wrong-password"),
        ("known@example.com", PASSWORD),
    ] {
        let before = checks();
        let r = s.sign_in(email, password).await;
        assert_eq!(
            checks() - before,
            1,
            "sign-in as {email} makes exactly one bcrypt comparison ({})",
            r.describe()
        );
        if password != PASSWORD {
            assert_handler_error(&r, 401, "invalid-email-password");
        }
    }
}

#[tokio::test]
async fn item1_allowed_hosts_and_the_server_url_host_are_answered() {
    let s = start(Backend::Sqlite, |c| {
        c.allowed_hosts = vec!["auth.test".into(), ".dev.example".into()];
        c.server_url = Some("http://emulator.internal:4000".into());
    })
    .await;
    for (host, status) in [
        ("auth.test:4000", 200),
        ("AUTH.TEST", 200),
        ("dev.example", 200),
        ("a.dev.example:1", 200),
        ("emulator.internal:4000", 200),
        ("auth.test.evil.example", 403),
        ("evil.example", 403),
    ] {
        let r = s
            .send(s.http.get(s.endpoint("/healthz")).header("host", host))
            .await;
        assert_eq!(r.status, status, "Host: {host}: {}", r.describe());
    }
}

#[tokio::test]
async fn item1_emulator_routes_beyond_loopback_when_forced() {
    let mut config = Config::default();
    config.host = "0.0.0.0".parse().expect("an address");
    config.emulator_endpoints_beyond_loopback = true;
    let emu = Emulator::start(config).await.expect("the emulator starts");
    let r = reqwest::get(format!(
        "http://127.0.0.1:{}/_emulator/mailbox",
        emu.addr().port()
    ))
    .await
    .expect("GET");
    assert_eq!(r.status(), 200, "forced: served");
    emu.shutdown().await;
}
