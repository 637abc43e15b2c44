//! What the nhost-ssr tests share: a real emulator, a test app behind the layer, cookies.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::{get, post};
use nhost_auth_emulator::{Config, Emulator};
use nhost_ssr::nhost_core::{self, NhostClient};
use nhost_ssr::{Key, NhostAuth, NhostSessionLayer, Session};
use tower::ServiceExt as _;

pub const HOST: &str = "app.example.com";

pub fn emulator_config() -> Config {
    let mut config = Config::default();
    config.anonymous_role = "public".into();
    config.bcrypt_cost = 4;
    config.email_verification_required = false;
    // Email links lead to the site's callback (`https://app.example.com/_nhost/callback`).
    config.client_url = format!("https://{HOST}");
    config
}

pub async fn emulator() -> Emulator {
    Emulator::start(emulator_config())
        .await
        .expect("emulator starts")
}

pub fn key() -> Key {
    nhost_ssr::key_from_bytes(&[7u8; 64]).expect("key")
}

pub fn layer(auth_url: &str) -> NhostSessionLayer {
    NhostSessionLayer::builder()
        .auth_url(auth_url)
        .cookie_key(key())
        .build()
        .expect("layer builds")
}

/// `/` says who is signed in; `/me` needs a session; `/sign-in`, `/sign-out` act.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/",
            get(|session: Option<Session>| async move {
                match session {
                    Some(s) => format!(
                        "user {} role {} anonymous {}",
                        s.user_id().unwrap_or_default(),
                        s.claims
                            .as_ref()
                            .map(|c| c.default_role.as_str())
                            .unwrap_or_default(),
                        s.is_anonymous()
                    ),
                    None => "signed out".to_owned(),
                }
            }),
        )
        .route(
            "/me",
            get(|session: Session| async move { session.user_id().unwrap_or_default().to_owned() }),
        )
        .route(
            "/sign-in",
            post(|auth: NhostAuth| async move {
                match auth.client().sign_in_anonymous(Default::default()).await {
                    Ok(s) => (StatusCode::OK, s.user_id().unwrap_or_default().to_owned()),
                    Err(e) => (StatusCode::BAD_GATEWAY, e.message),
                }
            }),
        )
        .route(
            "/deanonymize",
            post(|auth: NhostAuth| async move {
                let method = nhost_core::DeanonymizeMethod::EmailPassword {
                    email: format!(
                        "{}@example.com",
                        auth.session().and_then(|s| s.user_id()).unwrap_or("x")
                    ),
                    password: "correct-horse-battery".into(),
                };
                match auth.client().deanonymize(method, None).await {
                    Ok(_) => (StatusCode::OK, "deanonymized".to_owned()),
                    Err(e) => (StatusCode::BAD_REQUEST, e.message),
                }
            }),
        )
        .route(
            "/cacheable",
            get(|session: Option<Session>| async move {
                // A handler that decides its own caching.
                (
                    [(header::CACHE_CONTROL, "private, max-age=60")],
                    if session.is_some() { "in" } else { "out" },
                )
            }),
        )
        .route(
            "/sign-out",
            post(|auth: NhostAuth| async move {
                let _ = auth.client().sign_out(Default::default()).await;
                "signed out"
            }),
        )
}

pub fn app(layer: NhostSessionLayer) -> Router {
    routes().layer(layer)
}

/// A real session from the emulator (anonymous).
pub async fn sign_in(auth_url: &str) -> nhost_core::Session {
    let client = NhostClient::builder()
        .auth_url(auth_url)
        .auto_refresh(false)
        .build()
        .expect("client");
    client
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous sign-in")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The session with its access token expired `ago` ago (as far as the cookie says).
pub fn expired(mut session: nhost_core::Session, ago: Duration) -> nhost_core::Session {
    session.access_token_expires_at = unix_now().saturating_sub(ago.as_secs().max(1));
    session
}

/// `name=value` for a `Cookie` header.
pub fn cookie_for(layer: &NhostSessionLayer, session: &nhost_core::Session) -> String {
    format!(
        "{}={}",
        layer.cookie_name(),
        layer.seal(session).expect("fits in a cookie")
    )
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect()
    }

    /// The `name=value` part of the one `Set-Cookie`, ready for a `Cookie` header.
    pub fn new_cookie(&self) -> String {
        let set = self.set_cookies();
        assert_eq!(set.len(), 1, "one Set-Cookie expected: {set:?}");
        set[0].split(';').next().unwrap_or_default().to_owned()
    }
}

pub async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>) -> Reply {
    send_with(app, method, path, cookie, HOST).await
}

pub async fn send_with(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    host: &str,
) -> Reply {
    send_headers(app, method, path, cookie, &[("host", host)]).await
}

/// A request with the given extra headers (`host` among them, else [`HOST`]).
pub async fn send_headers(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req = req.header(header::HOST, HOST);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    }
}

/// Serves `app` on 127.0.0.1 (an ephemeral port); returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    serve_on(listener, app)
}

/// Serves `app` on a listener bound beforehand (when its URL must be known first, e.g. as the
/// auth server's client URL); returns its base URL.
pub fn serve_on(listener: tokio::net::TcpListener, app: Router) -> String {
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Opens a sealed cookie value the way the layer does (the private jar under `key()`, the
/// configured name `nhostSession` as associated data): what a test needs to see inside a cookie
/// the layer set.
pub fn open_cookie(value: &str) -> nhost_core::Session {
    use tower_cookies::cookie::{Cookie, CookieJar};
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new("nhostSession", value.to_owned()));
    let plain = jar
        .private(&key())
        .get("nhostSession")
        .expect("the cookie opens with the test key");
    serde_json::from_str(plain.value()).expect("a session")
}

/// The value part of a `name=value` cookie pair.
pub fn value_of(pair: &str) -> &str {
    pair.split_once('=').map_or("", |(_, v)| v)
}

/// An HTTP server that answers every request with `status` and `body` (`content_type`): what a
/// proxy or WAF in front of the auth server might send. Returns its base URL.
pub async fn fake_auth_server(
    status: u16,
    content_type: &'static str,
    body: &'static str,
) -> String {
    let app = Router::new().fallback(move || async move {
        (
            StatusCode::from_u16(status).expect("status"),
            [(header::CONTENT_TYPE, content_type)],
            body,
        )
    });
    serve(app).await
}

/// A URL where nothing listens.
pub fn nothing_listening() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Sends `request`: its status, body and `Set-Cookie` values.
pub async fn send_collecting(request: reqwest::RequestBuilder) -> (u16, String, Vec<String>) {
    let resp = request.send().await.expect("response");
    let status = resp.status().as_u16();
    let set: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    (status, resp.text().await.unwrap_or_default(), set)
}

/// Sends `n` parallel `GET /` with `cookie` to the given base URLs, round-robin.
pub async fn storm(bases: &[String], cookie: &str, n: usize) -> Vec<(u16, String, Vec<String>)> {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let url = format!("{}/", bases[i % bases.len()]);
            let request = client.get(url).header("cookie", cookie);
            tokio::spawn(send_collecting(request))
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}
