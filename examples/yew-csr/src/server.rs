//! The native half: serves the built app (`--dist DIR`) and, unless `NHOST_AUTH_URL` is set, an
//! in-process auth emulator whose email links lead back to the app (its client URL is the
//! app's address unless `AUTH_CLIENT_URL` says otherwise; the emulator's mailbox is at
//! `{auth}/_emulator/mailbox`). The page learns the auth URL from a `<meta>` tag written here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use nhost_auth_emulator::{Config, Emulator};

#[derive(Clone)]
struct App {
    dist: PathBuf,
    auth_url: String,
}

#[tokio::main]
pub(crate) async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let mut args = std::env::args().skip(1);
    let mut dist = None;
    while let Some(arg) = args.next() {
        if arg == "--dist" {
            dist = args.next().map(PathBuf::from);
        }
    }
    let Some(dist) = dist.filter(|d| d.join("example-yew-csr.js").exists()) else {
        eprintln!(
            "error: no built app: run `cargo xtask yew-csr`, which builds it and passes --dist"
        );
        return ExitCode::from(2);
    };
    // Bound first: the emulator's email links lead back to this address.
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e} (set PORT)");
            return ExitCode::FAILURE;
        }
    };
    let app_url = format!("http://{}", listener.local_addr().unwrap_or(addr));
    let mut _emulator = None;
    let auth_url = match std::env::var("NHOST_AUTH_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            let mut config = match Config::from_env() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if std::env::var_os("AUTH_ANONYMOUS_USERS_ROLE").is_none() {
                config.anonymous_role = "public".into();
            }
            if std::env::var_os("AUTH_PORT").is_none() {
                config.port = 0;
            }
            // Email links (verification after deanonymizing, magic links) land on this app,
            // whose provider completes them — not on the emulator's default client URL.
            if std::env::var_os("AUTH_CLIENT_URL").is_none() {
                config.client_url = app_url.clone();
                // The app opened as `localhost` sends its links there.
                let local = listener.local_addr().map_or(port, |a| a.port());
                config
                    .allowed_redirect_urls
                    .push(format!("http://localhost:{local}"));
            }
            if std::env::var_os("DATABASE_URL").is_none() {
                config.database =
                    nhost_auth_emulator::Database::SqliteFile(dist.join("auth.sqlite"));
            }
            match Emulator::start(config).await {
                Ok(e) => {
                    let url = e.url().to_owned();
                    _emulator = Some(e);
                    url
                }
                Err(e) => {
                    eprintln!("error: cannot start the auth emulator: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let app = Router::new()
        .route("/", get(index))
        .route("/{file}", get(asset))
        .with_state(App {
            dist,
            auth_url: auth_url.clone(),
        });
    println!("example-yew-csr on {app_url} (auth: {auth_url})");
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn index(State(app): State<App>) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="nhost-auth-url" content="{}">
    <title>nhost-yew example</title>
  </head>
  <body>
    <script type="module">import init from './example-yew-csr.js'; init();</script>
  </body>
</html>
"#,
        app.auth_url.replace('"', "&quot;")
    ))
}

async fn asset(State(app): State<App>, Path(file): Path<String>) -> Response {
    let content_type = match file.rsplit('.').next() {
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    // Only the files wasm-bindgen wrote, by name: no paths.
    if file.contains('/') || file.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(app.dist.join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
