//! The example site, route by route (`oneshot`), against a real in-process emulator; and the
//! binary itself, started as `cargo run -p example-axum-ssr` would.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use nhost_auth_emulator::{Config, Emulator};
use nhost_ssr::NhostSessionLayer;
use tower::ServiceExt as _;

struct Reply {
    status: StatusCode,
    body: String,
    location: Option<String>,
    set_cookie: Vec<String>,
}

impl Reply {
    fn cookie(&self) -> String {
        assert_eq!(self.set_cookie.len(), 1, "{:?}", self.set_cookie);
        self.set_cookie[0]
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text of the element with `data-testid="{id}"`.
    fn testid(&self, id: &str) -> Option<String> {
        let start = self.body.find(&format!("data-testid=\"{id}\""))?;
        let rest = &self.body[start..];
        let open = rest.find('>')? + 1;
        let close = rest[open..].find('<')?;
        Some(rest[open..open + close].trim().to_owned())
    }
}

async fn site() -> (Emulator, Router) {
    let mut config = Config::default();
    config.anonymous_role = "public".into();
    config.email_verification_required = false;
    config.bcrypt_cost = 4;
    let emulator = Emulator::start(config).await.expect("emulator");
    // Served on http://localhost:3000 like the binary: the explicit development switch.
    let layer = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(nhost_ssr::key_from_bytes(&[3u8; 64]).expect("key"))
        .secure(nhost_ssr::SecureCookie::PlainHttpDevelopment)
        .build()
        .expect("layer");
    (emulator, example_axum_ssr::router(layer, None))
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    form: Option<&str>,
) -> Reply {
    send_with(app, method, path, cookie, origin, form, &[]).await
}

async fn send_with(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    form: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost:3000");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    let body = match form {
        Some(f) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f.to_owned())
        }
        None => Body::empty(),
    };
    let resp = app
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let set_cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        location,
        set_cookie,
    }
}

#[tokio::test]
async fn signed_out_page_offers_the_anonymous_sign_in_form() {
    let (_emulator, app) = site().await;
    let page = send(&app, "GET", "/", None, None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.starts_with("<!doctype html>"));
    assert!(
        page.body.contains(r#"action="/auth/sign-in/anonymous""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Sign in anonymously"));
    assert_eq!(page.testid("user-id"), None);
}

#[tokio::test]
async fn the_whole_flow_without_javascript() {
    let (emulator, app) = site().await;
    // Sign in: 303 to / with the cookie.
    let reply = send(&app, "POST", "/auth/sign-in/anonymous", None, None, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location.as_deref(), Some("/"));
    let cookie = reply.cookie();
    // The page shows the user, rendered on the server by nhost-yew's hooks.
    let page = send(&app, "GET", "/", Some(&cookie), None, None).await;
    let user_id = page.testid("user-id").expect("user id shown");
    assert_eq!(user_id.len(), 36, "{user_id}");
    assert_eq!(page.testid("default-role").as_deref(), Some("public"));
    assert_eq!(page.testid("is-anonymous").as_deref(), Some("true"));
    assert!(page.testid("expires-at").is_some_and(|t| t.contains("in ")));
    assert!(page.body.contains(r#"action="/auth/sign-out""#));
    assert!(page.body.contains(r#"action="/auth/deanonymize""#));
    // Signing in again while signed in changes nothing.
    let again = send(
        &app,
        "POST",
        "/auth/sign-in/anonymous",
        Some(&cookie),
        None,
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.set_cookie.is_empty());
    assert_eq!(emulator.stats().anonymous_sign_ins, 1);

    // Deanonymize: same user id, no longer anonymous.
    let reply = send(
        &app,
        "POST",
        "/auth/deanonymize",
        Some(&cookie),
        Some("http://localhost:3000"),
        Some("email=ada%40example.com&password=correct-horse-battery"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location.as_deref(), Some("/?notice=deanonymized"));
    let cookie = reply.cookie();
    let page = send(
        &app,
        "GET",
        "/?notice=deanonymized",
        Some(&cookie),
        None,
        None,
    )
    .await;
    assert_eq!(page.testid("user-id").as_deref(), Some(user_id.as_str()));
    assert_eq!(page.testid("is-anonymous").as_deref(), Some("false"));
    assert!(page.body.contains("registered user"));
    assert!(!page.body.contains(r#"action="/auth/deanonymize""#));

    // Sign out: 303 to /, cookie cleared.
    let reply = send(&app, "POST", "/auth/sign-out", Some(&cookie), None, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.set_cookie[0].contains("Max-Age=0"),
        "{:?}",
        reply.set_cookie
    );
    let page = send(&app, "GET", "/", None, None, None).await;
    assert!(page.body.contains("Sign in anonymously"));
}

#[tokio::test]
async fn deanonymize_errors_are_shown_with_their_status() {
    let (_emulator, app) = site().await;
    let cookie = send(&app, "POST", "/auth/sign-in/anonymous", None, None, None)
        .await
        .cookie();
    let reply = send(
        &app,
        "POST",
        "/auth/deanonymize",
        Some(&cookie),
        None,
        Some("email=not-an-email&password=x"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body.contains("role=\"alert\""), "{}", reply.body);
    // Still signed in, same cookie.
    assert!(reply.set_cookie.is_empty());
    // Signed out: deanonymize is refused with the unauthenticated error.
    let reply = send(
        &app,
        "POST",
        "/auth/deanonymize",
        None,
        None,
        Some("email=a%40b.co&password=123456789"),
    )
    .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    // A body that is not a form is a clear 4xx from axum, not a 500.
    let reply = send(&app, "POST", "/auth/deanonymize", Some(&cookie), None, None).await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let (emulator, app) = site().await;
    for path in [
        "/auth/sign-in/anonymous",
        "/auth/sign-out",
        "/auth/deanonymize",
    ] {
        for origin in ["https://evil.example", "null"] {
            let reply = send(&app, "POST", path, None, Some(origin), None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} from {origin}");
            assert!(reply.set_cookie.is_empty());
        }
    }
    assert_eq!(emulator.stats().anonymous_sign_ins, 0);
    // Same origin, and no Origin at all (curl), are accepted.
    let reply = send(
        &app,
        "POST",
        "/auth/sign-in/anonymous",
        None,
        Some("http://localhost:3000"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let reply = send(&app, "POST", "/auth/sign-in/anonymous", None, None, None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

/// Issue 16, item 13: `Sec-Fetch-Site` decides when the browser sends it (a POST without
/// `Origin` but `Sec-Fetch-Site: cross-site` is refused), and an `Origin` must match the site's
/// scheme, host and port (`https://localhost:3000` is not `http://localhost:3000`).
#[tokio::test]
async fn sec_fetch_site_and_the_origins_scheme_are_checked() {
    let (emulator, app) = site().await;
    let path = "/auth/sign-in/anonymous";
    for (origin, fetch_site) in [
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (Some("http://localhost:3000"), Some("cross-site")),
        (Some("https://localhost:3000"), None),
        (Some("http://localhost:3001"), None),
        (Some("http://localhost"), None),
    ] {
        let headers: Vec<(&str, &str)> = fetch_site
            .map(|v| ("sec-fetch-site", v))
            .into_iter()
            .collect();
        let reply = send_with(&app, "POST", path, None, origin, None, &headers).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "Origin {origin:?}, Sec-Fetch-Site {fetch_site:?}"
        );
    }
    assert_eq!(emulator.stats().anonymous_sign_ins, 0);
    for (origin, fetch_site) in [
        (Some("http://localhost:3000"), Some("same-origin")),
        (None, Some("same-origin")),
        (Some("http://localhost:3000"), None),
    ] {
        let headers: Vec<(&str, &str)> = fetch_site
            .map(|v| ("sec-fetch-site", v))
            .into_iter()
            .collect();
        let reply = send_with(&app, "POST", path, None, origin, None, &headers).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "Origin {origin:?}, Sec-Fetch-Site {fetch_site:?}"
        );
    }
}

/// Issue 16, item 13: an error page says what happened in words for the visitor, never the
/// auth server's internal URL or the HTTP library's message.
#[tokio::test]
async fn error_pages_show_no_internal_details() {
    let nowhere = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        format!("http://{addr}")
    };
    let layer = NhostSessionLayer::builder()
        .auth_url(&nowhere)
        .cookie_key(nhost_ssr::key_from_bytes(&[3u8; 64]).expect("key"))
        .build()
        .expect("layer");
    let app = example_axum_ssr::router(layer, None);
    let reply = send(&app, "POST", "/auth/sign-in/anonymous", None, None, None).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.body);
    assert!(reply.body.contains("role=\"alert\""), "{}", reply.body);
    let host = nowhere.trim_start_matches("http://");
    for secret in [host, "127.0.0.1", "error sending request", "tcp connect"] {
        assert!(!reply.body.contains(secret), "{secret} in {}", reply.body);
    }
}

#[tokio::test]
async fn the_binary_starts_with_no_configuration() {
    use std::io::BufRead as _;
    let data = tempfile_dir();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_example-axum-ssr"))
        .env("PORT", "0")
        .env("DATA_DIR", &data)
        .env_remove("NHOST_AUTH_URL")
        .env_remove("NHOST_SUBDOMAIN")
        .env_remove("DATABASE_URL")
        .env("AUTH_ACCESS_TOKEN_EXPIRES_IN", "5")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("the URL is printed").expect("utf-8");
        if let Some(url) = line.strip_prefix("example-axum-ssr: ") {
            break url.to_owned();
        }
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client.get(&url).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let reply = client
        .post(format!("{url}auth/sign-in/anonymous"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(reply.status(), 303);
    let cookie = reply
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    // The binary binds loopback and says so: a plain-HTTP development cookie.
    assert!(cookie.starts_with("nhostSession="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
    let page = client
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("body");
    assert!(page.contains("data-testid=\"user-id\""), "{page}");
    // `AUTH_ACCESS_TOKEN_EXPIRES_IN=5` reached the embedded emulator: the token lives 5 s.
    assert!(page.contains("in 5 s") || page.contains("in 4 s"), "{page}");
    assert!(data.join("auth.sqlite").exists() && data.join("cookie.key").exists());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("example-axum-ssr-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
