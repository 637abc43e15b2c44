//! `nhost-core` against a deliberately misbehaving auth server: the right error payload, no
//! panic, and the session kept when the failure is transient.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use nhost_auth_emulator::{Config, Emulator};
use nhost_core::{ErrorCode, NhostClient, Session};
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
        assert_eq!(
            client.session().as_ref(),
            Some(&session),
            "{name}: the session is kept"
        );
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

#[tokio::test]
async fn startup_retries_transient_failures_then_gives_up_keeping_the_stored_token() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nhost_core::{AuthState, MemoryStorage, SessionStorage};

    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let url = serve(Router::new().route(
        "/token",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::SERVICE_UNAVAILABLE }
        }),
    ))
    .await;
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    let token = "1fb17604-86c7-444e-b337-09a644465f2d";
    storage.set("nhostRefreshToken", token);
    let client = NhostClient::builder()
        .auth_url(&url)
        .shared_storage(storage.clone())
        .retry_backoff(vec![Duration::from_millis(10); 5])
        .build()
        .expect("client");
    assert_eq!(client.initialize().await, AuthState::SignedOut);
    assert_eq!(hits.load(Ordering::SeqCst), 6, "one try and five retries");
    assert_eq!(
        storage.get("nhostRefreshToken").as_deref(),
        Some(token),
        "an offline start loses nobody"
    );
}
