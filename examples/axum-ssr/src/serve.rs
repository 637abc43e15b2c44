//! The binary on the machine: the site on `127.0.0.1:$PORT` (default 3000) next to an
//! in-process nhost-auth-emulator, unless `NHOST_AUTH_URL` (or `NHOST_SUBDOMAIN` +
//! `NHOST_REGION`) names a real backend.
//!
//! `--dist <dir>`: the browser bundle (`example-axum-ssr.js` + `example-axum-ssr_bg.wasm`, built
//! by `cargo xtask axum-ssr`); the pages then hydrate. Without it the site serves the same pages
//! for use without JavaScript.
//!
//! Environment:
//! - `PORT` — where the site listens (`0`: any free port; the URL is printed).
//! - `NHOST_AUTH_URL`, or `NHOST_SUBDOMAIN` + `NHOST_REGION` — a real auth server.
//! - `AUTH_*`, `DATABASE_URL`, `HASURA_GRAPHQL_JWT_SECRET` — the embedded emulator's settings,
//!   as for the standalone one (e.g. `AUTH_ACCESS_TOKEN_EXPIRES_IN=5` for 5-second tokens).
//!   Its defaults here: anonymous role `public`, any free port, a SQLite file in `DATA_DIR`.
//! - `NHOST_SSR_COOKIE_KEY` — hex, at least 32 bytes: the key sealing the session cookie. Without
//!   it a random key is made once and kept in `DATA_DIR/cookie.key`.
//! - `DATA_DIR` — default `target/example-axum-ssr` in this workspace.
//! - `REDIS_URL` — coordinate refreshes through Redis (for several instances of the site).
//!
//! The site listens on loopback (`127.0.0.1`) over plain HTTP, so it opts into nhost-ssr's
//! development switch, `SecureCookie::PlainHttpDevelopment`: the session cookie is named
//! `nhostSession`, without `Secure` and the `__Host-` prefix (and the cross-site check expects
//! `http://` origins). That choice is tied to the loopback bind below; a site served to others
//! keeps the default (`Secure`, `__Host-nhostSession`) behind TLS, or uses
//! `SecureCookie::FromTrustedProxy` behind a TLS-terminating proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use example_axum_ssr::Bundle;
use nhost_auth_emulator::{Config, Database, Emulator};
use nhost_ssr::{Key, NhostSessionLayer, RedisCoordinator, SecureCookie};

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
pub(crate) async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run(args: Vec<String>) -> Result<(), BoxError> {
    let bundle = match args.as_slice() {
        [] => None,
        [flag, dir] if flag == "--dist" => Some(Bundle::load(Path::new(dir))?),
        _ => {
            return Err(
                "usage: example-axum-ssr [--dist <folder with example-axum-ssr.js and its .wasm>]"
                    .into(),
            );
        }
    };
    let data_dir = env("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/example-axum-ssr"
        ))
    });
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create DATA_DIR {}: {e}", data_dir.display()))?;

    let port: u16 = match env("PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got `{p}`"))?,
        None => 3000,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Listening first: the embedded emulator must know the site's address (email links lead
    // back to it).
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set PORT)"))?;
    let addr = listener.local_addr()?;

    // The auth server: a real one, or the embedded emulator.
    let mut builder = NhostSessionLayer::builder();
    let mut _emulator = None;
    let mut refresh_lifetime = Duration::from_secs(30 * 24 * 3600);
    match (
        env("NHOST_AUTH_URL"),
        env("NHOST_SUBDOMAIN"),
        env("NHOST_REGION"),
    ) {
        (Some(url), _, _) => builder = builder.auth_url(url),
        (None, Some(sub), Some(region)) => builder = builder.subdomain(sub).region(region),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err("set both NHOST_SUBDOMAIN and NHOST_REGION (or NHOST_AUTH_URL)".into());
        }
        (None, None, None) => {
            let mut config = Config::from_env()?;
            if env("AUTH_ANONYMOUS_USERS_ROLE").is_none() {
                config.anonymous_role = "public".into();
            }
            if env("AUTH_PORT").is_none() {
                config.port = 0;
            }
            if env("DATABASE_URL").is_none() {
                config.database = Database::SqliteFile(data_dir.join("auth.sqlite"));
            }
            // Email links (verification, magic links) come back to this site, under either
            // of its loopback names.
            if env("AUTH_CLIENT_URL").is_none() {
                config.client_url = format!("http://localhost:{}", addr.port());
                config
                    .allowed_redirect_urls
                    .push(format!("http://127.0.0.1:{}", addr.port()));
            }
            refresh_lifetime = config.refresh_token_expires_in;
            let emulator = Emulator::start(config)
                .await
                .map_err(|e| format!("cannot start the auth emulator: {e}"))?;
            println!("auth emulator: {}", emulator.url());
            builder = builder.auth_url(emulator.url());
            _emulator = Some(emulator);
        }
    }
    builder = builder
        .cookie_key(cookie_key(&data_dir)?)
        .cookie_max_age(refresh_lifetime);
    if let Some(url) = env("REDIS_URL") {
        let coordinator = RedisCoordinator::connect(&url)
            .await
            .map_err(|e| format!("cannot reach Redis at REDIS_URL: {e}"))?;
        builder = builder.coordinator(coordinator);
    }
    // Plain HTTP on loopback: a development site, so the cookie cannot be `Secure` — said
    // explicitly here, and only because the bind is loopback (nhost-ssr never guesses it from
    // the `Host` header).
    if addr.ip().is_loopback() {
        builder = builder.secure(SecureCookie::PlainHttpDevelopment);
    }
    let nhost = builder.build()?;
    if bundle.is_none() {
        println!(
            "hydration: off (no --dist): pages work without JavaScript; `cargo xtask axum-ssr` builds the bundle and serves the hydrated site"
        );
    }
    println!("example-axum-ssr: http://localhost:{}/", addr.port());
    axum::serve(listener, example_axum_ssr::router(nhost, bundle))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `NHOST_SSR_COOKIE_KEY` (hex), or a random key kept in `DATA_DIR/cookie.key` so that sessions
/// survive restarts.
fn cookie_key(data_dir: &std::path::Path) -> Result<Key, BoxError> {
    if let Some(hex_key) = env("NHOST_SSR_COOKIE_KEY") {
        let bytes = hex::decode(hex_key.trim())
            .map_err(|e| format!("NHOST_SSR_COOKIE_KEY must be hex: {e}"))?;
        return Ok(nhost_ssr::key_from_bytes(&bytes)?);
    }
    let path = data_dir.join("cookie.key");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(bytes) = hex::decode(text.trim())
        && let Ok(key) = nhost_ssr::key_from_bytes(&bytes)
    {
        return Ok(key);
    }
    let key = Key::generate();
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(hex::encode(key.master()).as_bytes())
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key)
}
