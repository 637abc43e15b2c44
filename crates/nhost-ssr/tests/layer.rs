//! Every branch of the layer, one request at a time (`oneshot`), against a real emulator.

mod common;

use std::time::Duration;

use axum::http::{StatusCode, header};
use common::*;
use nhost_ssr::nhost_core::{NhostClient, SignInAnonymousOptions};
use nhost_ssr::{Error, MAX_COOKIE_BYTES, NhostSessionLayer};

#[tokio::test]
async fn no_cookie_means_no_session_and_no_call() {
    let emulator = emulator().await;
    let app = app(layer(emulator.url()));
    let reply = send(&app, "GET", "/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "signed out");
    assert!(reply.set_cookies().is_empty());
    let me = send(&app, "GET", "/me", None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(emulator.stats().token_requests, 0);
    assert_eq!(emulator.stats().anonymous_sign_ins, 0);
}

#[tokio::test]
async fn signing_in_sets_a_sealed_http_only_cookie() {
    let emulator = emulator().await;
    let app = app(layer(emulator.url()));
    let reply = send(&app, "POST", "/sign-in", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let user_id = reply.body.clone();
    let set = reply.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    let attrs: Vec<&str> = set[0].split("; ").collect();
    for wanted in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Secure",
        "Max-Age=2592000",
    ] {
        assert!(attrs.contains(&wanted), "{wanted} missing in {attrs:?}");
    }
    assert_eq!(
        reply
            .headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"private, no-store"[..])
    );
    let cookie = reply.new_cookie();
    assert!(cookie.len() <= MAX_COOKIE_BYTES);
    // The refresh token is sealed: not in the cookie in any readable form.
    assert!(
        !cookie.contains("refreshToken") && !cookie.contains("eyJ"),
        "{cookie}"
    );

    let page = send(&app, "GET", "/", Some(&cookie)).await;
    assert_eq!(
        page.body,
        format!("user {user_id} role public anonymous true")
    );
    assert!(
        page.set_cookies().is_empty(),
        "fresh session: cookie untouched"
    );
    // Rendered with a session: never stored by a shared cache, cookie set or not.
    assert_eq!(
        page.headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"private, no-store"[..])
    );
    assert_eq!(send(&app, "GET", "/me", Some(&cookie)).await.body, user_id);
}

#[tokio::test]
async fn a_fresh_cookie_needs_no_network_call() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let cookie = cookie_for(&layer, &session);
    let app = app(layer);
    let before = emulator.stats().token_requests;
    for _ in 0..5 {
        let reply = send(&app, "GET", "/", Some(&cookie)).await;
        assert!(reply.body.starts_with("user "), "{}", reply.body);
    }
    assert_eq!(emulator.stats().token_requests, before);
}

#[tokio::test]
async fn an_expired_cookie_is_refreshed_once_and_replaced() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().map(str::to_owned);
    let old = cookie_for(&layer, &expired(session, Duration::from_secs(60)));
    let app = app(layer);

    let reply = send(&app, "GET", "/", Some(&old)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body.contains(user_id.as_deref().unwrap_or("?")),
        "{}",
        reply.body
    );
    assert_eq!(emulator.stats().token_requests, 1);
    assert_eq!(
        reply
            .headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"private, no-store"[..])
    );
    let new = reply.new_cookie();
    assert_ne!(new, old);

    // The new cookie is fresh: no further call.
    let page = send(&app, "GET", "/", Some(&new)).await;
    assert!(page.body.contains(user_id.as_deref().unwrap_or("?")));
    assert!(page.set_cookies().is_empty());
    // A straggler with the old cookie gets the same new cookie, without a second /token call.
    let late = send(&app, "GET", "/", Some(&old)).await;
    assert_eq!(late.new_cookie(), new);
    assert_eq!(emulator.stats().token_requests, 1);
}

#[tokio::test]
async fn inside_the_refresh_margin_it_refreshes_before_expiry() {
    let emulator = emulator().await;
    let layer = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(key())
        .refresh_margin(Duration::from_secs(24 * 3600))
        .build()
        .expect("layer");
    let session = sign_in(emulator.url()).await;
    let cookie = cookie_for(&layer, &session);
    let reply = send(&app(layer), "GET", "/", Some(&cookie)).await;
    assert!(reply.body.starts_with("user "));
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(emulator.stats().token_requests, 1);
}

#[tokio::test]
async fn a_rejected_refresh_token_clears_the_cookie() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    // Revoke it at the server.
    let client = NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .initial_session(session.clone())
        .build()
        .expect("client");
    client.sign_out(Default::default()).await.expect("sign out");
    let cookie = cookie_for(&layer, &expired(session, Duration::from_secs(5)));
    let reply = send(&app(layer), "GET", "/", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "signed out");
    let set = reply.set_cookies();
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("__Host-nhostSession=;"), "{set:?}");
    assert!(set[0].contains("Max-Age=0"), "{set:?}");
}

#[tokio::test]
async fn auth_server_down_keeps_the_cookie_and_still_renders() {
    let emulator = emulator().await;
    let session = sign_in(emulator.url()).await;
    let down = layer(&nothing_listening());
    // Due for refresh but not expired: the still-valid access token is used.
    let due = {
        let mut s = session.clone();
        s.access_token_expires_at = unix_now() + 2;
        s
    };
    let app = app(down.clone());
    let reply = send(&app, "GET", "/", Some(&cookie_for(&down, &due))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.starts_with("user "), "{}", reply.body);
    assert!(reply.set_cookies().is_empty(), "cookie kept");
    // Expired: no session for this request, but the page renders and the cookie stays.
    let reply = send(
        &app,
        "GET",
        "/",
        Some(&cookie_for(
            &down,
            &expired(session, Duration::from_secs(5)),
        )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "signed out");
    assert!(reply.set_cookies().is_empty(), "cookie kept");
    // A 5xx from the server counts the same.
}

#[tokio::test]
async fn signing_out_clears_the_cookie_and_revokes() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let cookie = cookie_for(&layer, &session);
    let app = app(layer);
    let reply = send(&app, "POST", "/sign-out", Some(&cookie)).await;
    let set = reply.set_cookies();
    assert!(set[0].contains("Max-Age=0"), "{set:?}");
    // The refresh token was revoked at the server.
    let client = NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .build()
        .expect("client");
    let err = client
        .sign_in_with_refresh_token(session.refresh_token.expose())
        .await
        .expect_err("revoked");
    assert_eq!(err.status, 401);
}

#[tokio::test]
async fn auto_anonymous_sign_in_is_off_by_default_and_get_only_when_on() {
    let emulator = emulator().await;
    let on = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(key())
        .auto_anonymous_sign_in(Some(
            SignInAnonymousOptions::default().display_name("Guest"),
        ))
        .build()
        .expect("layer");
    let app = app(on);
    let reply = send(&app, "GET", "/", None).await;
    assert!(reply.body.starts_with("user "), "{}", reply.body);
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(emulator.stats().anonymous_sign_ins, 1);
    // Not on POST (nor on other unsafe methods).
    let reply = send(&app, "POST", "/sign-out", None).await;
    assert!(reply.set_cookies().is_empty());
    assert_eq!(emulator.stats().anonymous_sign_ins, 1);
}

#[tokio::test]
async fn anonymous_sign_in_failing_still_renders() {
    let mut config = emulator_config();
    config.anonymous_users_enabled = false;
    let emulator = nhost_auth_emulator::Emulator::start(config)
        .await
        .expect("emulator");
    let on = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(key())
        .auto_anonymous_sign_in(Some(Default::default()))
        .build()
        .expect("layer");
    let reply = send(&app(on), "GET", "/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "signed out");
}

#[tokio::test]
async fn a_large_user_is_dropped_from_the_cookie_to_stay_under_4_kb() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let client = NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .build()
        .expect("client");
    let mut metadata = serde_json::Map::new();
    metadata.insert("notes".into(), "x".repeat(3000).into());
    let session = client
        .sign_in_anonymous(SignInAnonymousOptions::default().metadata(metadata))
        .await
        .expect("sign in");
    let sealed = layer.seal(&session).expect("fits after dropping metadata");
    assert!(layer.cookie_name().len() + 1 + sealed.len() <= MAX_COOKIE_BYTES);
    let cookie = format!("{}={sealed}", layer.cookie_name());
    let app = app(layer);
    let reply = send(&app, "GET", "/", Some(&cookie)).await;
    assert!(
        reply.body.contains(session.user_id().unwrap_or("?")),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn without_the_layer_extractors_fail_loudly() {
    let app = routes();
    let reply = send(&app, "GET", "/", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("NhostSessionLayer"), "{}", reply.body);
}

#[test]
fn the_layer_cannot_be_built_insecurely_by_accident() {
    let no_key = NhostSessionLayer::builder()
        .auth_url("http://127.0.0.1:1")
        .build();
    assert!(matches!(no_key, Err(Error::MissingKey)));
    assert!(matches!(
        nhost_ssr::key_from_bytes(b"short"),
        Err(Error::KeyTooShort(5))
    ));
    assert!(nhost_ssr::key_from_bytes(&[1u8; 32]).is_ok());
    let bad_name = NhostSessionLayer::builder()
        .auth_url("http://127.0.0.1:1")
        .cookie_key(key())
        .cookie_name("no spaces; please")
        .build();
    assert!(matches!(bad_name, Err(Error::InvalidCookieName(_))));
    let bad_url = NhostSessionLayer::builder()
        .auth_url("ftp://x")
        .cookie_key(key())
        .build();
    let message = bad_url.expect_err("bad URL").to_string();
    assert!(message.contains("http://"), "{message}");
    let debug = format!("{:?}", NhostSessionLayer::builder().cookie_key(key()));
    assert!(debug.contains("redacted"), "{debug}");
}

#[tokio::test]
async fn a_token_rotated_by_a_handler_is_shared_with_stragglers() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let fresh = cookie_for(&layer, &session);
    let stale = cookie_for(&layer, &expired(session, Duration::from_secs(5)));
    let app = app(layer);
    // The handler deanonymizes, which exchanges the refresh token itself.
    let reply = send(&app, "POST", "/deanonymize", Some(&fresh)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rotated = reply.new_cookie();
    let calls = emulator.stats().token_requests;
    // A request still carrying the old token (sent before the browser saw the new cookie) gets
    // the new session — not a rejection that would clear the cookie — and no new /token call.
    let late = send(&app, "GET", "/", Some(&stale)).await;
    assert!(late.body.ends_with("anonymous false"), "{}", late.body);
    assert_eq!(late.new_cookie(), rotated);
    assert_eq!(emulator.stats().token_requests, calls);
}

/// The values of one response header, as text.
fn values(reply: &Reply, name: header::HeaderName) -> Vec<String> {
    reply
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// The caching headers merge with the handler's own (issue 14: the layer now looks each one up
/// once): a `Vary` it sent is kept and `Cookie` added, unless it already varies on cookies or
/// on everything; its own `Cache-Control` is kept, except on a response that sets the cookie,
/// which is `private, no-store` alone.
#[tokio::test]
async fn the_caching_headers_merge_with_the_handlers_own() {
    use axum::routing::{get, post};
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let cookie = cookie_for(&layer, &sign_in(emulator.url()).await);
    let varying = |vary: &'static str| {
        get(move |_: Option<nhost_ssr::Session>| async move { ([(header::VARY, vary)], "page") })
    };
    let app = axum::Router::new()
        .route("/encoding", varying("Accept-Encoding"))
        .route("/cookie", varying("Accept-Encoding, COOKIE"))
        .route("/everything", varying("*"))
        .route(
            "/sign-in",
            post(|auth: nhost_ssr::NhostAuth| async move {
                let signed_in = auth.client().sign_in_anonymous(Default::default()).await;
                assert!(signed_in.is_ok(), "{signed_in:?}");
                (
                    [
                        (header::CACHE_CONTROL, "public, max-age=60"),
                        (header::VARY, "Accept-Encoding"),
                    ],
                    "signed in",
                )
            }),
        )
        .layer(layer);

    let encoding = send(&app, "GET", "/encoding", Some(&cookie)).await;
    assert_eq!(
        values(&encoding, header::VARY),
        ["Accept-Encoding", "Cookie"]
    );
    assert_eq!(
        values(&encoding, header::CACHE_CONTROL),
        ["private, no-store"]
    );
    let cookie_already = send(&app, "GET", "/cookie", Some(&cookie)).await;
    assert_eq!(
        values(&cookie_already, header::VARY),
        ["Accept-Encoding, COOKIE"]
    );
    let everything = send(&app, "GET", "/everything", Some(&cookie)).await;
    assert_eq!(values(&everything, header::VARY), ["*"]);
    // Without a session, the handler's headers are left as they are.
    let anonymous = send(&app, "GET", "/encoding", None).await;
    assert_eq!(values(&anonymous, header::VARY), ["Accept-Encoding"]);
    assert!(values(&anonymous, header::CACHE_CONTROL).is_empty());

    let signed_in = send(&app, "POST", "/sign-in", None).await;
    assert_eq!(signed_in.body, "signed in");
    assert_eq!(signed_in.set_cookies().len(), 1);
    assert_eq!(
        values(&signed_in, header::CACHE_CONTROL),
        ["private, no-store"]
    );
    assert_eq!(
        values(&signed_in, header::VARY),
        ["Accept-Encoding", "Cookie"]
    );
}

/// A handler that uses the request's client and leaves the session as it was: the layer looks
/// at the client after the handler (the response's slower path since issue 14), writes nothing,
/// and still keeps the page out of shared caches. `NhostAuth::site_origin` reads the request's
/// `Host`.
#[tokio::test]
async fn a_handler_that_uses_its_client_without_changing_the_session() {
    use axum::routing::get;
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let cookie = cookie_for(&layer, &session);
    let app = axum::Router::new()
        .route(
            "/",
            get(|auth: nhost_ssr::NhostAuth| async move {
                let user = auth.client().session().and_then(|s| s.user).map(|u| u.id);
                format!(
                    "{} {}",
                    user.unwrap_or_default(),
                    auth.site_origin().unwrap_or("none")
                )
            }),
        )
        .layer(layer);
    let user_id = session.user.as_ref().expect("user").id.clone();

    let page = send(&app, "GET", "/", Some(&cookie)).await;
    assert_eq!(page.body, format!("{user_id} https://{HOST}"));
    assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
    assert_eq!(values(&page, header::CACHE_CONTROL), ["private, no-store"]);
    assert_eq!(values(&page, header::VARY), ["Cookie"]);

    let other_host = send_with(&app, "GET", "/", Some(&cookie), "127.0.0.1:3000").await;
    assert_eq!(other_host.body, format!("{user_id} https://127.0.0.1:3000"));
    let bad_host = send_with(&app, "GET", "/", None, "not a host").await;
    assert_eq!(bad_host.body, " none");
    assert!(bad_host.set_cookies().is_empty());
    assert!(values(&bad_host, header::CACHE_CONTROL).is_empty());
}

/// The layer includes `tower-cookies`' cookie manager (its type says so): handlers behind the
/// layer alone can use `Cookies`, read the request's cookies — the session cookie among them —
/// and set their own beside the layer's.
#[tokio::test]
async fn handlers_can_use_tower_cookies_behind_the_layer_alone() {
    use axum::routing::{get, post};
    use tower_cookies::{Cookie, Cookies};
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let cookie = cookie_for(&layer, &sign_in(emulator.url()).await);
    let name = layer.cookie_name().to_owned();
    let app = axum::Router::new()
        .route(
            "/",
            get(
                move |cookies: Cookies, session: Option<nhost_ssr::Session>| async move {
                    cookies.add(Cookie::new("theme", "dark"));
                    format!(
                        "{} {} {}",
                        cookies
                            .get("a")
                            .map(|c| c.value().to_owned())
                            .unwrap_or_default(),
                        cookies.get(&name).is_some(),
                        session.is_some()
                    )
                },
            ),
        )
        .route(
            "/sign-in",
            post(|cookies: Cookies, auth: nhost_ssr::NhostAuth| async move {
                cookies.add(Cookie::new("theme", "light"));
                let signed_in = auth.client().sign_in_anonymous(Default::default()).await;
                assert!(signed_in.is_ok(), "{signed_in:?}");
                "signed in"
            }),
        )
        .layer(layer);

    let page = send(&app, "GET", "/", Some(&format!("a=1; {cookie}"))).await;
    assert_eq!(page.body, "1 true true");
    assert_eq!(page.set_cookies(), ["theme=dark"]);

    let signed_in = send(&app, "POST", "/sign-in", None).await;
    assert_eq!(signed_in.body, "signed in");
    let mut set = signed_in.set_cookies();
    set.sort();
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(set[0].starts_with("__Host-nhostSession="), "{set:?}");
    assert_eq!(set[1], "theme=light");
}
