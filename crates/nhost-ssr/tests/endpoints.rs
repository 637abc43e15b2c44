//! The session endpoints (`/_nhost/*`, issue 10) against a real emulator: every route, the
//! refresh token never in a body, the anti-forgery refusals, bad bodies, the auth server down,
//! the refresh storm, and sign-out.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use nhost_auth_emulator::Emulator;
use nhost_ssr::nhost_core::Session;
use nhost_ssr::{NhostSessionLayer, SessionRoutes};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The headers a page of the site sends with `fetch` to its own endpoints.
const SAME_ORIGIN: &[(&str, &str)] = &[
    ("x-nhost-csrf", "1"),
    ("origin", "https://app.example.com"),
    ("sec-fetch-site", "same-origin"),
];

fn site(layer: NhostSessionLayer) -> Router {
    routes().merge(nhost_ssr::session_routes()).layer(layer)
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    }
}

/// A same-origin `POST` from the site's own page.
async fn post(app: &Router, path: &str, cookie: Option<&str>, body: &str) -> Reply {
    call(app, "POST", path, cookie, SAME_ORIGIN, body).await
}

async fn get(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    call(app, "GET", path, cookie, &[], "").await
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body))
}

/// The session of the cookie this reply set.
fn session_in(reply: &Reply) -> Session {
    open_cookie(value_of(&reply.new_cookie()))
}

/// Neither the refresh token nor its id of any of `sessions` occurs in the raw body.
fn assert_no_refresh_token(reply: &Reply, sessions: &[&Session]) {
    for s in sessions {
        let token = s.refresh_token.expose();
        assert!(!token.is_empty());
        assert!(
            !reply.body.contains(token),
            "refresh token in the body: {}",
            reply.body
        );
        assert!(!s.refresh_token_id.is_empty());
        assert!(
            !reply.body.contains(&s.refresh_token_id),
            "refresh token id in the body: {}",
            reply.body
        );
    }
    for name in ["refreshToken", "refreshTokenId"] {
        assert!(!reply.body.contains(name), "{name} in {}", reply.body);
    }
}

fn assert_public_session(reply: &Reply, user_id: &str) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v = json_of(reply);
    let session = &v["session"];
    assert!(
        session["accessToken"]
            .as_str()
            .is_some_and(|t| t.len() > 20)
    );
    assert!(
        session["accessTokenExpiresIn"]
            .as_u64()
            .is_some_and(|s| s > 0)
    );
    assert_eq!(session["user"]["id"], user_id, "{}", reply.body);
    let keys: Vec<&String> = session.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["accessToken", "accessTokenExpiresIn", "user"]);
    assert_eq!(cache_control(reply), Some("private, no-store"));
}

fn assert_error(reply: &Reply, status: u16, id: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let v = json_of(reply);
    assert_eq!(v["status"], status, "{}", reply.body);
    assert_eq!(v["error"], id, "{}", reply.body);
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(v.as_object().map(|o| o.len()), Some(3), "{}", reply.body);
}

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

#[tokio::test]
async fn get_session_answers_the_public_session_or_null() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let cookie = cookie_for(&layer, &session);
    let app = site(layer);

    let none = get(&app, "/_nhost/session", None).await;
    assert_eq!(none.status, 200);
    assert_eq!(json_of(&none), json!({"session": null}));

    let reply = get(&app, "/_nhost/session", Some(&cookie)).await;
    assert_public_session(&reply, &user_id);
    assert_no_refresh_token(&reply, &[&session]);
    assert!(reply.set_cookies().is_empty(), "fresh: nothing to write");
    assert_eq!(
        json_of(&reply)["session"]["accessToken"],
        session.access_token.expose()
    );
    assert_eq!(emulator.stats().token_requests, 0);
}

#[tokio::test]
async fn get_session_refreshes_a_due_cookie_through_the_coordinator() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let cookie = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(5)));
    let app = site(layer);

    let reply = get(&app, "/_nhost/session", Some(&cookie)).await;
    assert_public_session(&reply, &user_id);
    let new = session_in(&reply);
    assert_ne!(new.refresh_token, session.refresh_token);
    assert_no_refresh_token(&reply, &[&session, &new]);
    assert_eq!(
        json_of(&reply)["session"]["accessToken"],
        new.access_token.expose()
    );
    // The same old cookie again: the coordinator's outcome, no second call.
    let again = get(&app, "/_nhost/session", Some(&cookie)).await;
    assert_eq!(json_of(&again), json_of(&reply));
    assert_eq!(emulator.stats().token_requests, 1);
}

#[tokio::test]
async fn post_token_refreshes_a_due_cookie_and_answers_a_fresh_one_as_it_is() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let fresh = cookie_for(&layer, &session);
    let due = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(5)));
    let app = site(layer);

    let reply = post(&app, "/_nhost/token", Some(&fresh), "").await;
    assert_public_session(&reply, &user_id);
    assert!(reply.set_cookies().is_empty());
    assert_eq!(emulator.stats().token_requests, 0);

    let reply = post(&app, "/_nhost/token", Some(&due), "{}").await;
    assert_public_session(&reply, &user_id);
    let new = session_in(&reply);
    assert_no_refresh_token(&reply, &[&session, &new]);
    assert_eq!(emulator.stats().token_requests, 1);

    let none = post(&app, "/_nhost/token", None, "").await;
    assert_error(&none, 401, "invalid-refresh-token");
    assert!(none.set_cookies().is_empty());
}

#[tokio::test]
async fn anonymous_sign_in_writes_the_cookie_and_answers_the_public_session() {
    let emulator = emulator().await;
    let app = site(layer(emulator.url()));

    let reply = post(
        &app,
        "/_nhost/signin/anonymous",
        None,
        r#"{"displayName":"Guest","locale":"en"}"#,
    )
    .await;
    let session = session_in(&reply);
    let user_id = session.user_id().expect("user id").to_owned();
    assert_public_session(&reply, &user_id);
    assert_no_refresh_token(&reply, &[&session]);
    let v = json_of(&reply);
    assert_eq!(v["session"]["user"]["displayName"], "Guest");
    assert_eq!(v["session"]["user"]["isAnonymous"], true);
    assert_eq!(emulator.stats().anonymous_sign_ins, 1);

    // Signing in again with the session: that session, no second user.
    let cookie = reply.new_cookie();
    let again = post(&app, "/_nhost/signin/anonymous", Some(&cookie), "").await;
    assert_public_session(&again, &user_id);
    assert!(again.set_cookies().is_empty());
    assert_eq!(emulator.stats().anonymous_sign_ins, 1);
}

#[tokio::test]
async fn deanonymize_sign_out_sign_in_and_sign_up_with_email_and_password() {
    let emulator = emulator().await;
    let app = site(layer(emulator.url()));

    let anonymous = post(&app, "/_nhost/signin/anonymous", None, "").await;
    let c1 = anonymous.new_cookie();
    let s1 = open_cookie(value_of(&c1));
    let user_id = s1.user_id().expect("user id").to_owned();

    let email = format!("{user_id}@example.com");
    let body = json!({"signInMethod": "email-password", "email": email,
                      "password": "correct-horse-battery"})
    .to_string();
    let reply = post(&app, "/_nhost/user/deanonymize", Some(&c1), &body).await;
    assert_public_session(&reply, &user_id);
    let s2 = session_in(&reply);
    assert_no_refresh_token(&reply, &[&s1, &s2]);
    assert_eq!(json_of(&reply)["session"]["user"]["isAnonymous"], false);
    assert_eq!(json_of(&reply)["session"]["user"]["email"], email.as_str());
    let c2 = reply.new_cookie();

    let out = post(&app, "/_nhost/signout", Some(&c2), "").await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(json_of(&out), json!({"session": null}));
    assert!(is_cleared(&out), "{:?}", out.set_cookies());

    let body = json!({"email": email, "password": "correct-horse-battery"}).to_string();
    let reply = post(&app, "/_nhost/signin/email-password", None, &body).await;
    assert_public_session(&reply, &user_id);
    let s3 = session_in(&reply);
    assert_no_refresh_token(&reply, &[&s1, &s2, &s3]);

    let wrong = json!({"email": email, "password": "wrong-password"}).to_string();
    let refused = post(&app, "/_nhost/signin/email-password", None, &wrong).await;
    assert_error(&refused, 401, "invalid-email-password");
    assert!(refused.set_cookies().is_empty());

    let body = json!({"email": "new@example.com", "password": "correct-horse-battery",
                      "options": {"displayName": "New"}})
    .to_string();
    let reply = post(&app, "/_nhost/signup/email-password", None, &body).await;
    let s4 = session_in(&reply);
    assert_public_session(&reply, s4.user_id().expect("user id"));
    assert_no_refresh_token(&reply, &[&s4]);
    assert_eq!(json_of(&reply)["session"]["user"]["displayName"], "New");

    let taken = post(&app, "/_nhost/signup/email-password", None, &body).await;
    assert_error(&taken, 409, "email-already-in-use");
}

#[tokio::test]
async fn sign_out_clears_the_cookie_and_a_replayed_cookie_is_signed_out() {
    let emulator = emulator().await;
    let app = site(layer(emulator.url()));
    let cookie = post(&app, "/_nhost/signin/anonymous", None, "")
        .await
        .new_cookie();
    assert!(!json_of(&get(&app, "/_nhost/session", Some(&cookie)).await)["session"].is_null());

    let out = post(&app, "/_nhost/signout", Some(&cookie), r#"{"all":true}"#).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(json_of(&out), json!({"session": null}));
    assert!(is_cleared(&out), "{:?}", out.set_cookies());

    // The old cookie, replayed while its access token is still fresh.
    let replay = get(&app, "/_nhost/session", Some(&cookie)).await;
    assert_eq!(json_of(&replay), json!({"session": null}));
    assert!(is_cleared(&replay), "{:?}", replay.set_cookies());
    let token = post(&app, "/_nhost/token", Some(&cookie), "").await;
    assert_error(&token, 401, "invalid-refresh-token");
    assert_eq!(
        send(&app, "GET", "/", Some(&cookie)).await.body,
        "signed out"
    );
}

#[tokio::test]
async fn state_changing_calls_without_the_anti_forgery_marks_are_refused() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let cookie = cookie_for(&layer, &session);
    let app = site(layer);
    let before = emulator.stats();

    let refusals: &[(&str, &[(&str, &str)])] = &[
        ("no header", &[("origin", "https://app.example.com")]),
        ("header not 1", &[("x-nhost-csrf", "true")]),
        (
            "cross-site Origin",
            &[("x-nhost-csrf", "1"), ("origin", "https://evil.example")],
        ),
        (
            "other scheme",
            &[("x-nhost-csrf", "1"), ("origin", "http://app.example.com")],
        ),
        ("Origin null", &[("x-nhost-csrf", "1"), ("origin", "null")]),
        (
            "Sec-Fetch-Site cross-site",
            &[("x-nhost-csrf", "1"), ("sec-fetch-site", "cross-site")],
        ),
        (
            "Sec-Fetch-Site same-site",
            &[
                ("x-nhost-csrf", "1"),
                ("sec-fetch-site", "same-site"),
                ("origin", "https://app.example.com"),
            ],
        ),
    ];
    for path in [
        "/_nhost/token",
        "/_nhost/signin/anonymous",
        "/_nhost/signin/email-password",
        "/_nhost/signup/email-password",
        "/_nhost/user/deanonymize",
        "/_nhost/signout",
    ] {
        for (what, headers) in refusals {
            for cookie in [None, Some(cookie.as_str())] {
                let reply = call(&app, "POST", path, cookie, headers, "{}").await;
                assert_error(&reply, 403, "csrf");
                assert!(reply.set_cookies().is_empty(), "{path} {what}");
            }
        }
        // The CORS preflight a cross-site fetch with the header would need.
        let preflight = call(
            &app,
            "OPTIONS",
            path,
            None,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-nhost-csrf"),
            ],
            "",
        )
        .await;
        assert_error(&preflight, 403, "csrf");
        assert!(
            preflight
                .headers
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{:?}",
            preflight.headers
        );
    }
    assert_eq!(emulator.stats(), before, "nothing reached the auth server");
    // The session is intact.
    let reply = get(&app, "/_nhost/session", Some(&cookie)).await;
    assert_public_session(&reply, session.user_id().unwrap_or_default());

    // No browser headers at all (a server-side client holding the cookie): the header suffices.
    let reply = call(
        &app,
        "POST",
        "/_nhost/token",
        Some(&cookie),
        &[("x-nhost-csrf", "1")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn bad_bodies_are_400_and_leave_the_cookie_alone() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let due = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(5)));
    let fresh = cookie_for(&layer, &session);
    let app = site(layer);
    let before = emulator.stats();
    let oversized = format!(r#"{{"displayName":"{}"}}"#, "x".repeat(20 * 1024));

    let bad: &[(&str, &str)] = &[
        ("/_nhost/signin/anonymous", "{not json"),
        (
            "/_nhost/signin/anonymous",
            r#"{"displayName":"a","role":"admin"}"#,
        ),
        ("/_nhost/signin/anonymous", &oversized),
        ("/_nhost/signout", r#"{"all":true,"refreshToken":"x"}"#),
        ("/_nhost/signout", r#"{"all":"yes"}"#),
        ("/_nhost/token", r#"{"refreshToken":"x"}"#),
        ("/_nhost/signin/email-password", r#"{"email":"a@b.c"}"#),
        ("/_nhost/signup/email-password", r#"[]"#),
        (
            "/_nhost/user/deanonymize",
            r#"{"signInMethod":"email-password","email":"a@b.c"}"#,
        ),
        (
            "/_nhost/user/deanonymize",
            r#"{"signInMethod":"magic","email":"a@b.c","password":"secret"}"#,
        ),
    ];
    for (path, body) in bad {
        let reply = post(&app, path, Some(&fresh), body).await;
        assert_error(&reply, 400, "invalid-request");
        assert!(reply.set_cookies().is_empty(), "{path} {body:.40}");
    }
    assert_eq!(emulator.stats(), before, "nothing reached the auth server");
    // The session is unchanged: still signed in with the same token, and no one was signed out.
    let reply = get(&app, "/_nhost/session", Some(&fresh)).await;
    assert_eq!(
        json_of(&reply)["session"]["accessToken"],
        session.access_token.expose()
    );
    // The due cookie still refreshes (its token was not spent or revoked).
    let reply = post(&app, "/_nhost/token", Some(&due), "").await;
    assert_public_session(&reply, session.user_id().unwrap_or_default());
}

#[tokio::test]
async fn auth_server_down_is_a_503_and_keeps_the_cookie() {
    let emulator = emulator().await;
    let session = sign_in(emulator.url()).await;
    let layer = NhostSessionLayer::builder()
        .auth_url(nothing_listening())
        .cookie_key(key())
        .timeout(Duration::from_secs(2))
        .build()
        .expect("layer");
    let due = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(5)));
    let fresh = cookie_for(&layer, &session);
    let app = site(layer);

    for (method, path, cookie, body) in [
        ("POST", "/_nhost/token", Some(&due), ""),
        ("GET", "/_nhost/session", Some(&due), ""),
        ("POST", "/_nhost/signin/anonymous", None, ""),
        ("POST", "/_nhost/signin/anonymous", Some(&due), ""),
        (
            "POST",
            "/_nhost/signin/email-password",
            None,
            r#"{"email":"a@example.com","password":"secret"}"#,
        ),
        (
            "POST",
            "/_nhost/user/deanonymize",
            Some(&due),
            r#"{"signInMethod":"email-password","email":"a@example.com","password":"secret"}"#,
        ),
    ] {
        let reply = call(
            &app,
            method,
            path,
            cookie.map(String::as_str),
            SAME_ORIGIN,
            body,
        )
        .await;
        assert_error(&reply, 503, "network");
        assert!(
            reply.set_cookies().is_empty(),
            "{path}: cookie kept, {:?}",
            reply.set_cookies()
        );
        assert!(
            !reply.body.contains("127.0.0.1"),
            "no internal address: {}",
            reply.body
        );
    }
    // A fresh cookie still reads without the server.
    let reply = get(&app, "/_nhost/session", Some(&fresh)).await;
    assert_public_session(&reply, session.user_id().unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_token_calls_with_one_expired_cookie_cost_one_refresh() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let old = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(30)));
    let base = serve(site(layer)).await;
    let before = emulator.stats().token_requests;

    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let request = client
                .post(format!("{base}/_nhost/token"))
                .header("cookie", &old)
                .header("x-nhost-csrf", "1")
                .header("sec-fetch-site", "same-origin");
            tokio::spawn(send_collecting(request))
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.expect("task"));
    }

    assert_eq!(
        emulator.stats().token_requests - before,
        1,
        "one /token call"
    );
    assert!(replies.iter().all(|(status, ..)| *status == 200));
    let sessions: Vec<Value> = replies
        .iter()
        .map(|(_, body, _)| serde_json::from_str::<Value>(body).expect("json")["session"].clone())
        .collect();
    let first = &replies[0].2;
    assert_eq!(first.len(), 1);
    assert!(
        replies.iter().all(|(.., set)| set == first),
        "one new cookie"
    );
    let new = open_cookie(value_of(first[0].split(';').next().unwrap_or_default()));
    assert_ne!(new.refresh_token, session.refresh_token, "rotated");
    assert!(
        sessions
            .iter()
            .all(|s| s["accessToken"] == new.access_token.expose()
                && s["user"]["id"] == user_id.as_str()),
        "every call answered the new cookie's session"
    );
    assert!(
        replies
            .iter()
            .all(|(_, body, _)| !body.contains(new.refresh_token.expose())
                && !body.contains(session.refresh_token.expose())
                && !body.contains(&new.refresh_token_id)),
        "no refresh token in any answer"
    );
}

#[tokio::test]
async fn other_methods_and_a_missing_layer_answer_json() {
    let wrong = get(&site(layer(&nothing_listening())), "/_nhost/token", None).await;
    assert_error(&wrong, 405, "method-not-allowed");

    let bare: Router = nhost_ssr::session_routes();
    let reply = get(&bare, "/_nhost/session", None).await;
    assert_error(&reply, 500, "internal-server-error");
}

#[tokio::test]
async fn the_prefix_is_configurable() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let cookie = cookie_for(&layer, &session);
    let app = routes()
        .merge(SessionRoutes::new().prefix("/api/auth/").into_router())
        .layer(layer);

    let reply = get(&app, "/api/auth/session", Some(&cookie)).await;
    assert_public_session(&reply, session.user_id().unwrap_or_default());
    assert_eq!(
        get(&app, "/_nhost/session", Some(&cookie)).await.status,
        404
    );
}

/// The `Set-Cookie` of `reply` for cookie `name` (`__Host-<name>`), if any.
fn set_cookie_named(reply: &Reply, name: &str) -> Option<String> {
    let prefix = format!("__Host-{name}=");
    reply
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(&prefix))
}

/// Issue 11 on the server: a link asked for through the endpoints leads to `/_nhost/callback`,
/// which completes it with the PKCE verifier the layer kept in a sealed cookie; bad links come
/// back to the landing page with `?error=…` and change no cookie.
#[tokio::test]
async fn email_links_complete_through_the_callback() {
    let mut config = emulator_config();
    config.email_verification_required = true;
    let emulator = Emulator::start(config).await.expect("emulator starts");
    let app = site(layer(emulator.url()));

    let anonymous = post(&app, "/_nhost/signin/anonymous", None, "").await;
    let c1 = anonymous.new_cookie();
    let user_id = open_cookie(value_of(&c1))
        .user_id()
        .expect("user id")
        .to_owned();
    let email = format!("{user_id}@example.com");
    let body = json!({"signInMethod": "email-password", "email": email,
                      "password": "correct-horse-battery"})
    .to_string();
    let reply = post(&app, "/_nhost/user/deanonymize", Some(&c1), &body).await;
    assert_eq!(
        json_of(&reply),
        json!({"session": null}),
        "verification first"
    );
    let verifier = set_cookie_named(&reply, "nhostSessionPkce").expect("the verifier cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(verifier.contains(attribute), "{attribute}: {verifier}");
    }
    let verifier = verifier.split(';').next().expect("name=value").to_owned();
    assert!(!reply.body.contains("code"), "{}", reply.body);

    // The link: the auth server redirects to the site's callback with a one-time code.
    let mail = emulator.mailbox().to(&email).pop().expect("an email");
    assert_eq!(mail.redirect_to, format!("https://{HOST}/_nhost/callback"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let location = http.get(&mail.link).send().await.expect("link").headers()
        [reqwest::header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let callback = location
        .strip_prefix(&format!("https://{HOST}"))
        .expect("to the site");
    assert!(callback.starts_with("/_nhost/callback?code="), "{callback}");

    // Another browser (no verifier cookie): refused, no session.
    let elsewhere = get(&app, callback, None).await;
    assert_eq!(elsewhere.status, 303);
    let to = elsewhere.headers[header::LOCATION].to_str().expect("ascii");
    assert!(
        to.starts_with("/?error=invalid-request&errorDescription="),
        "{to}"
    );
    assert!(set_cookie_named(&elsewhere, "nhostSession").is_none());

    // This browser: signed in as the same user, registered; the verifier cookie cleared.
    let done = get(&app, callback, Some(&verifier)).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], "/");
    let session_cookie = set_cookie_named(&done, "nhostSession").expect("a session cookie");
    let session = open_cookie(value_of(
        session_cookie.split(';').next().expect("name=value"),
    ));
    assert_eq!(session.user_id(), Some(user_id.as_str()));
    assert!(!session.is_anonymous());
    let cleared = set_cookie_named(&done, "nhostSessionPkce").expect("the verifier cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(!done.body.contains("refreshToken"));

    // The same code again: used up; the cookie is not touched.
    let again = get(&app, callback, Some(&verifier)).await;
    assert_eq!(again.status, 303);
    let to = again.headers[header::LOCATION].to_str().expect("ascii");
    assert!(to.starts_with("/?error="), "{to}");
    assert!(set_cookie_named(&again, "nhostSession").is_none());

    // A link without PKCE (a refresh token in the address): refused, whoever sent it.
    let planted = get(
        &app,
        "/_nhost/callback?refreshToken=abc&type=signinPasswordless",
        None,
    )
    .await;
    let to = planted.headers[header::LOCATION].to_str().expect("ascii");
    assert!(to.contains("error=invalid-request"), "{to}");
    assert!(set_cookie_named(&planted, "nhostSession").is_none());

    // The auth server's own error redirect is passed on.
    let failed = get(
        &app,
        "/_nhost/callback?error=invalid-ticket&errorDescription=Invalid+ticket",
        None,
    )
    .await;
    assert_eq!(
        failed.headers[header::LOCATION],
        "/?error=invalid-ticket&errorDescription=Invalid+ticket"
    );
}
