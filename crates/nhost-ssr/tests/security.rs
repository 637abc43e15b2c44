//! The session holes of issue 16 ("Safe by default", items 7–12), one test each, against a real
//! emulator. Each failed on the code before its fix. The Redis halves of items 7 and 11 are in
//! `tests/instances.rs`.

mod common;

use std::time::Duration;

use axum::http::{StatusCode, header};
use common::*;
use nhost_ssr::nhost_core::NhostClient;

fn cache_control(reply: &Reply) -> Option<&str> {
    reply
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
}

fn is_cleared(reply: &Reply) -> bool {
    let set = reply.set_cookies();
    set.len() == 1 && set[0].contains("Max-Age=0")
}

/// Revokes `session`'s refresh token at the auth server, as another device signing out would.
async fn revoke(auth_url: &str, session: nhost_ssr::nhost_core::Session) {
    NhostClient::builder()
        .auth_url(auth_url)
        .auto_refresh(false)
        .initial_session(session)
        .build()
        .expect("client")
        .sign_out(Default::default())
        .await
        .expect("sign out");
}

/// Item 7: C1 refreshed to C2, sign-out with C2, C1 replayed within the race window. The cached
/// outcome of C1 (C2's session) must not sign the user back in.
#[tokio::test]
async fn a_signed_out_session_does_not_come_back_from_the_refresh_cache() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let c1 = cookie_for(
        &layer,
        &expired(sign_in(emulator.url()).await, Duration::from_secs(60)),
    );
    let app = app(layer);
    let refreshed = send(&app, "GET", "/", Some(&c1)).await;
    assert!(refreshed.body.starts_with("user "), "{}", refreshed.body);
    let c2 = refreshed.new_cookie();
    let out = send(&app, "POST", "/sign-out", Some(&c2)).await;
    assert!(is_cleared(&out), "{:?}", out.set_cookies());

    let replay = send(&app, "GET", "/", Some(&c1)).await;
    assert_eq!(replay.body, "signed out");
    assert!(is_cleared(&replay), "{:?}", replay.set_cookies());
    // And again (now from the cache of C1's own outcome).
    let again = send(&app, "GET", "/", Some(&c1)).await;
    assert_eq!(again.body, "signed out");
}

/// Item 7, "any rejection": C1 → C2 → C2's token rejected by the server (revoked elsewhere);
/// C1 replayed afterwards is signed out too, not handed C2's session from the cache.
#[tokio::test]
async fn a_rejection_later_in_the_chain_reaches_replays_of_earlier_cookies() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let c1 = cookie_for(
        &layer,
        &expired(sign_in(emulator.url()).await, Duration::from_secs(60)),
    );
    let app = app(layer.clone());
    let c2 = send(&app, "GET", "/", Some(&c1)).await.new_cookie();
    let s2 = open_cookie(value_of(&c2));
    revoke(emulator.url(), s2.clone()).await;
    let c2_due = cookie_for(&layer, &expired(s2, Duration::from_secs(1)));
    let rejected = send(&app, "GET", "/", Some(&c2_due)).await;
    assert_eq!(rejected.body, "signed out");
    assert!(is_cleared(&rejected));

    let replay = send(&app, "GET", "/", Some(&c1)).await;
    assert_eq!(replay.body, "signed out");
    assert!(is_cleared(&replay), "{:?}", replay.set_cookies());
}

/// Item 8: every response rendered with a session is `private, no-store` (with `Vary: Cookie`),
/// not only those that set a cookie; a handler's own `Cache-Control` wins when the response does
/// not set the cookie; pages rendered without a session are left alone.
#[tokio::test]
async fn every_response_rendered_with_a_session_is_private_and_not_stored() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let cookie = cookie_for(&layer, &sign_in(emulator.url()).await);
    let app = app(layer);

    let page = send(&app, "GET", "/", Some(&cookie)).await;
    assert!(page.body.starts_with("user "), "{}", page.body);
    assert!(page.set_cookies().is_empty());
    assert_eq!(cache_control(&page), Some("private, no-store"));
    let vary: Vec<_> = page.headers.get_all(header::VARY).iter().collect();
    assert!(
        vary.iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie")),
        "{vary:?}"
    );

    let own = send(&app, "GET", "/cacheable", Some(&cookie)).await;
    assert_eq!(own.body, "in");
    assert_eq!(cache_control(&own), Some("private, max-age=60"));

    let anonymous = send(&app, "GET", "/", None).await;
    assert_eq!(cache_control(&anonymous), None);
}

/// Item 9: behind a proxy that rewrites `Host` to `127.0.0.1:3000` (nginx's default
/// `proxy_pass`), production cookies keep `Secure`: the `Host` header decides nothing.
#[tokio::test]
async fn secure_does_not_depend_on_the_host_header() {
    let emulator = emulator().await;
    let app = app(layer(emulator.url()));
    for host in [
        "127.0.0.1:3000",
        "localhost",
        "[::1]:8080",
        "app.example.com",
    ] {
        let reply = send_with(&app, "POST", "/sign-in", None, host).await;
        let set = reply.set_cookies();
        assert_eq!(set.len(), 1, "{host}: {set:?}");
        assert!(set[0].contains("; Secure"), "{host}: {set:?}");
    }
}

/// Item 10: a 4xx that is not the auth server's own rejection of the token (a proxy's or WAF's
/// 403/404, a 401 without the protocol's error shape, a validation 400) is "unavailable": the
/// cookie is kept. Only `invalid-refresh-token` / `disabled-user` in the protocol's shape clear it.
#[tokio::test]
async fn only_the_auth_servers_own_rejection_clears_the_cookie() {
    let emulator = emulator().await;
    let session = sign_in(emulator.url()).await;
    let not_rejections: [(u16, &str, &str); 6] = [
        (403, "text/html", "<html><body>403 Forbidden</body></html>"),
        (404, "text/html", "<h1>Not Found</h1>"),
        (
            403,
            "application/json",
            r#"{"error":"forbidden","message":"Request blocked by WAF"}"#,
        ),
        (401, "text/plain", "Unauthorized"),
        (404, "application/json", r#"{"error":"route-not-found"}"#),
        (400, "application/json", r#"{"error":"invalid-request"}"#),
    ];
    for (status, content_type, body) in not_rejections {
        let url = fake_auth_server(status, content_type, body).await;
        let layer = layer(&url);
        let cookie = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(5)));
        let reply = send(&app(layer), "GET", "/", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.set_cookies().is_empty(),
            "{status} {body}: the cookie must be kept, got {:?}",
            reply.set_cookies()
        );
    }
    for body in [
        r#"{"status":401,"error":"invalid-refresh-token","message":"Invalid or expired refresh token"}"#,
        r#"{"status":401,"error":"disabled-user","message":"User is disabled"}"#,
    ] {
        let url = fake_auth_server(401, "application/json", body).await;
        let layer = layer(&url);
        let cookie = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(5)));
        let reply = send(&app(layer), "GET", "/", Some(&cookie)).await;
        assert!(is_cleared(&reply), "{body}: {:?}", reply.set_cookies());
    }
}

/// Item 12: on an HTTPS site (the default) the cookie is `__Host-` prefixed (so no sibling
/// subdomain can plant it), and a cookie under the unprefixed name is not read.
#[tokio::test]
async fn the_cookie_is_host_prefixed_by_default() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let app = app(layer.clone());
    let reply = send(&app, "POST", "/sign-in", None).await;
    let set = reply.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].starts_with("__Host-nhostSession="), "{set:?}");
    assert!(set[0].contains("; Secure") && set[0].contains("; Path=/"));
    assert!(!set[0].to_ascii_lowercase().contains("domain="), "{set:?}");
    assert_eq!(layer.cookie_name(), "__Host-nhostSession");
    // The same sealed value under the unprefixed name (what a sibling could plant): ignored.
    let planted = format!("nhostSession={}", value_of(&reply.new_cookie()));
    let page = send(&app, "GET", "/", Some(&planted)).await;
    assert_eq!(page.body, "signed out");
}

/// Item 12: two different session cookies in one request (a cookie planted on a longer `Path`
/// is sent first) mean no session — neither is trusted — rather than "the first that opens".
#[tokio::test]
async fn two_different_session_cookies_mean_no_session() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let attacker = cookie_for(&layer, &sign_in(emulator.url()).await);
    let victim = cookie_for(&layer, &sign_in(emulator.url()).await);
    let app = app(layer);
    let both = format!("{attacker}; {victim}");
    let page = send(&app, "GET", "/", Some(&both)).await;
    assert_eq!(page.body, "signed out");
    // A form post with both does not act on the planted session either.
    let post = send(&app, "POST", "/deanonymize", Some(&both)).await;
    assert_eq!(post.status, StatusCode::BAD_REQUEST, "{}", post.body);
    // The same cookie twice (two equal headers) is still that one session.
    let twice = format!("{victim}; {victim}");
    let page = send(&app, "GET", "/", Some(&twice)).await;
    assert!(page.body.starts_with("user "), "{}", page.body);
}
