//! `nhost-core` against a deliberately misbehaving auth server: the right error payload, no
//! panic, and the session kept when the failure is transient.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use nhost_auth_emulator::{Config, Emulator};
use nhost_core::{AuthState, ErrorCode, MemoryStorage, NhostClient, Session, SessionStorage};
use tokio::net::TcpListener;

/// A real session, from the real emulator, with the given access-token lifetime.
async fn real_session(ttl: Duration) -> (Emulator, Session) {
    let mut config = Config::default();
    config.access_token_expires_in = ttl;
    let emu = Emulator::start(config).await.expect("emulator");
    let client = NhostClient::builder()
        .auth_url(emu.url())
        .auto_refresh(false)
        .build()
        .expect("client");
    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    (emu, session)
}

/// Serves `app` on a free port; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

/// A server that accepts connections and closes them without a word.
async fn hang_up_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    format!("http://{addr}")
}

fn client_at(url: &str, session: Session) -> NhostClient {
    NhostClient::builder()
        .auth_url(url)
        .auto_refresh(false)
        .timeout(Duration::from_millis(500))
        .initial_session(session)
        .build()
        .expect("client")
}

#[tokio::test]
async fn each_misbehaviour_gives_its_error_and_keeps_the_session() {
    let (_emu, session) = real_session(Duration::from_secs(900)).await;
    let cases: Vec<(&str, String, u16, ErrorCode)> = vec![
        (
            "500 with an Nhost error",
            serve(Router::new().route(
                "/token",
                post(|| async {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        r#"{"status":500,"error":"internal-server-error","message":"boom"}"#,
                    )
                }),
            ))
            .await,
            500,
            ErrorCode::InternalServerError,
        ),
        (
            "502 with an HTML page",
            serve(Router::new().route(
                "/token",
                post(|| async { (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>") }),
            ))
            .await,
            502,
            ErrorCode::Other("http-502".into()),
        ),
        (
            "200 with garbage",
            serve(Router::new().route("/token", post(|| async { "{not json" }))).await,
            1,
            ErrorCode::InvalidResponse,
        ),
        (
            "429 with an empty body",
            serve(Router::new().route("/token", post(|| async { StatusCode::TOO_MANY_REQUESTS })))
                .await,
            429,
            ErrorCode::TooManyRequests,
        ),
        (
            "an answer slower than the timeout",
            serve(Router::new().route(
                "/token",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "too late"
                }),
            ))
            .await,
            0,
            ErrorCode::Network,
        ),
        (
            "a dropped connection",
            hang_up_server().await,
            0,
            ErrorCode::Network,
        ),
        (
            "nothing listening",
            "http://127.0.0.1:9".to_owned(),
            0,
            ErrorCode::Network,
        ),
    ];
    for (name, url, status, code) in cases {
        let client = client_at(&url, session.clone());
        let err = client.refresh_session().await.expect_err(name);
        assert_eq!((err.status, &err.error), (status, &code), "{name}: {err}");
        assert!(
            !err.message.is_empty(),
            "{name}: the message says what went wrong"
        );
        // The expiry is counted from when `client_at` built the client, which may be a second
        // later on the wall clock than the sign-in (the cases before take ~0.6 s together).
        let kept = client.session().map(|mut s| {
            s.access_token_expires_at = session.access_token_expires_at;
            s
        });
        assert_eq!(kept.as_ref(), Some(&session), "{name}: the session is kept");
    }
}

#[tokio::test]
async fn undecodable_bodies_are_kept_for_debugging() {
    let (_emu, session) = real_session(Duration::from_secs(900)).await;
    let url = serve(Router::new().route("/token", post(|| async { "{not json" }))).await;
    let err = client_at(&url, session)
        .refresh_session()
        .await
        .expect_err("garbage");
    assert_eq!(err.raw_body.as_deref(), Some("{not json"));
}

#[tokio::test]
async fn offline_the_unexpired_access_token_stays_usable() {
    // 4-second tokens: after 2.5 s the token is inside the refresh margin (2 s) but not expired.
    let (_emu, session) = real_session(Duration::from_secs(4)).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let client = client_at("http://127.0.0.1:9", session.clone());
    let token = client
        .access_token()
        .await
        .expect("the old token is still good");
    assert_eq!(token, session.access_token);
    assert!(client.is_authenticated());
}

#[tokio::test]
async fn a_server_error_on_sign_in_is_reported_not_panicked() {
    let url = serve(Router::new().route(
        "/signin/anonymous",
        post(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":503,"error":"brand-new-id","message":"later"}"#,
            )
        }),
    ))
    .await;
    let client = NhostClient::builder()
        .auth_url(&url)
        .build()
        .expect("client");
    let err = client
        .sign_in_anonymous(Default::default())
        .await
        .expect_err("503");
    assert_eq!(
        (err.status, err.error, err.message.as_str()),
        (503, ErrorCode::Other("brand-new-id".into()), "later")
    );
    assert!(!client.is_authenticated());
}

/// A `/token` endpoint answering `status` with `body`, counting its calls.
async fn token_endpoint(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let url = serve(Router::new().route(
        "/token",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { (StatusCode::from_u16(status).expect("status"), body) }
        }),
    ))
    .await;
    (url, hits)
}

/// A store holding only a refresh token under the older nhost-js key.
fn store_with_token(token: &str) -> Arc<dyn SessionStorage> {
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    storage.set("nhostRefreshToken", token);
    storage
}

const TOKEN: &str = "1fb17604-86c7-444e-b337-09a644465f2d";

/// Paths 2 and 3: start-up never mistakes anything but the server's own rejection for one — a
/// `429`, a proxy's `403/404/407`, a 5xx, an unreadable `200` — and giving up neither clears the
/// store nor tells anyone "signed out" (other tabs would act on it).
#[tokio::test]
async fn startup_keeps_the_stored_session_on_anything_but_a_rejection() {
    let cases: &[(u16, &str)] = &[
        (503, ""),
        (429, ""),
        (403, "<html>Forbidden by the WAF</html>"),
        (404, "Not Found"),
        (407, "Proxy Authentication Required"),
        (
            401,
            r#"{"status":401,"error":"unauthorized","message":"proxy says no"}"#,
        ),
        (200, "{not json"),
    ];
    for &(status, body) in cases {
        let (url, hits) = token_endpoint(status, body).await;
        let storage = store_with_token(TOKEN);
        let client = NhostClient::builder()
            .auth_url(&url)
            .shared_storage(storage.clone())
            .retry_backoff(vec![Duration::from_millis(10); 2])
            .build()
            .expect("client");
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let _sub = {
            let heard = heard.clone();
            client.on_auth_state_changed(move |c| heard.lock().expect("lock").push(c.clone()))
        };
        assert_eq!(
            client.initialize().await,
            AuthState::Loading,
            "{status} {body}"
        );
        assert!(hits.load(Ordering::SeqCst) >= 3, "one try and two retries");
        assert_eq!(
            storage.get("nhostRefreshToken").as_deref(),
            Some(TOKEN),
            "{status}: an unreachable or misbehaving server loses nobody"
        );
        assert!(
            heard.lock().expect("lock").is_empty(),
            "{status}: no sign-out was announced"
        );
        let err = client
            .sign_in_anonymous(Default::default())
            .await
            .expect_err("refused");
        assert_eq!(
            err.error,
            ErrorCode::SessionRestoring,
            "{status}: nothing replaces the user"
        );
    }
}

/// Path 3: once the server is back, the background refresher restores the kept session.
#[tokio::test]
async fn a_restore_that_gave_up_succeeds_once_the_server_is_back() {
    let (emu, session) = real_session(Duration::from_secs(900)).await;
    let storage = store_with_token(session.refresh_token.expose());
    // Start against a port where nothing listens, then point a proxy there… simpler: a server
    // that fails twice, then forwards to the emulator.
    let failures = Arc::new(AtomicUsize::new(0));
    let upstream = emu.url().to_owned();
    let counter = failures.clone();
    let url = serve(Router::new().route(
        "/token",
        post(move |body: String| {
            let upstream = upstream.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    return (StatusCode::BAD_GATEWAY, String::new());
                }
                let res = reqwest::Client::new()
                    .post(format!("{upstream}/token"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("emulator");
                let status = StatusCode::from_u16(res.status().as_u16()).expect("status");
                (status, res.text().await.expect("body"))
            }
        }),
    ))
    .await;
    let client = NhostClient::builder()
        .auth_url(&url)
        .shared_storage(storage.clone())
        .retry_backoff(vec![Duration::from_millis(10)])
        .build()
        .expect("client");
    assert_eq!(client.initialize().await, AuthState::Loading);
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !client.is_authenticated() && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        client
            .session()
            .and_then(|s| s.user_id().map(str::to_owned)),
        session.user_id().map(str::to_owned),
        "restored in the background"
    );
}

/// Path 6: inside the refresh margin, a failing refresh does not turn into one request per
/// `access_token()` call, and the still-valid token is handed out instead of an error.
#[tokio::test]
async fn access_token_inside_the_margin_respects_the_backoff_and_keeps_the_valid_token() {
    let (_emu, session) = real_session(Duration::from_secs(4)).await;
    let mut clients = Vec::new();
    for (status, body) in [(429, ""), (200, "{not json"), (503, "")] {
        let (url, hits) = token_endpoint(status, body).await;
        let client = NhostClient::builder()
            .auth_url(&url)
            .auto_refresh(false)
            .retry_backoff(vec![Duration::from_secs(60)])
            .initial_session(session.clone())
            .build()
            .expect("client");
        clients.push((status, client, hits));
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await; // inside the 2 s margin
    for (status, client, hits) in clients {
        for _ in 0..20 {
            let token = client.access_token().await.expect("the valid token");
            assert_eq!(token, session.access_token, "{status}");
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "{status}: one request, then the backoff"
        );
    }
}

/// Path 10: a `/token` answer whose user has `null`s (or odd types) in fields the client does
/// not need is still read — the server has already rotated the token.
#[tokio::test]
async fn a_user_with_nulls_does_not_lose_the_session() {
    let (_emu, session) = real_session(Duration::from_secs(900)).await;
    let access = session.access_token.expose().to_owned();
    let id = session.user_id().expect("id").to_owned();
    let body: &'static str = Box::leak(
        serde_json::json!({
            "accessToken": access, "accessTokenExpiresIn": 900,
            "refreshToken": "6f1a3c5e-0000-4000-8000-000000000001", "refreshTokenId": null,
            "user": {
                "id": id, "displayName": null, "avatarUrl": null, "locale": null,
                "defaultRole": null, "createdAt": null, "roles": null, "isAnonymous": null,
                "emailVerified": null, "phoneNumberVerified": "no", "email": 7,
                "metadata": {"__proto__": {"x": 1}}
            }
        })
        .to_string()
        .into_boxed_str(),
    );
    let (url, _) = token_endpoint(200, body).await;
    let client = client_at(&url, session.clone());
    let refreshed = client.refresh_session().await.expect("read leniently");
    let user = refreshed.user.expect("user kept");
    assert_eq!(user.id, id);
    assert_eq!(user.display_name, "");
    assert!(user.roles.is_empty());
    assert!(!user.is_anonymous);
    assert_eq!(user.email, None);
    assert_eq!(user.metadata["__proto__"]["x"], 1);
    // A user that cannot be read at all is left out; the session is still kept.
    let body = r#"{"accessToken":"a.b.c","accessTokenExpiresIn":900,"refreshToken":"6f1a3c5e-0000-4000-8000-000000000002","user":{"no":"id"}}"#;
    let (url, _) = token_endpoint(200, body).await;
    let client = client_at(&url, session);
    let refreshed = client.refresh_session().await.expect("kept");
    assert_eq!(refreshed.user, None);
}

/// Path 8: signing out of all devices offline with an expired token still signs out here.
#[tokio::test]
async fn sign_out_everywhere_offline_still_signs_out_locally() {
    let (_emu, session) = real_session(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    let client = NhostClient::builder()
        .auth_url("http://127.0.0.1:9")
        .auto_refresh(false)
        .timeout(Duration::from_millis(300))
        .shared_storage(storage.clone())
        .initial_session(session)
        .build()
        .expect("client");
    // `initial_session` counts the expiry from now: let it run out.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let err = client
        .sign_out(nhost_core::SignOutScope::AllDevices)
        .await
        .expect_err("offline");
    assert_eq!(err.error, ErrorCode::Network);
    assert_eq!(client.auth_state(), AuthState::SignedOut);
    assert_eq!(storage.get(nhost_core::SESSION_KEY), None);
}

/// Path 11: a stored token wrapped in quotes or whitespace by other code is cleaned before use
/// (sent as-is it would be refused and then deleted).
#[tokio::test]
async fn a_quoted_or_padded_stored_token_is_cleaned() {
    for wrap in ["\"{}\"", "  {}\n", "\"\"{}\"\""] {
        let (emu, session) = real_session(Duration::from_secs(900)).await;
        let wrapped = wrap.replace("{}", session.refresh_token.expose());
        let storage = store_with_token(&wrapped);
        let client = NhostClient::builder()
            .auth_url(emu.url())
            .shared_storage(storage.clone())
            .build()
            .expect("client");
        let state = client.initialize().await;
        assert!(
            matches!(state, AuthState::SignedIn(_)),
            "{wrapped:?}: {state:?}"
        );
        assert_eq!(
            client
                .session()
                .and_then(|s| s.user_id().map(str::to_owned)),
            session.user_id().map(str::to_owned)
        );
        assert!(
            storage.get(nhost_core::SESSION_KEY).is_some(),
            "the new session is stored"
        );
        assert_eq!(
            storage.get("nhostRefreshToken"),
            None,
            "the older key is gone"
        );
    }
}
