//! A local server that speaks [Nhost Auth]'s (hasura-auth's) wire protocol, for development and
//! tests without Docker, PostgreSQL or the cloud — with real signed JWTs, strict refresh-token
//! rotation and a development mailbox.
//!
//! Start it in-process on an ephemeral port:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nhost_auth_emulator::{Config, Emulator};
//!
//! let emulator = Emulator::start(Config::default()).await?;
//! let session: serde_json::Value = reqwest::Client::new()
//!     .post(format!("{}/signin/anonymous", emulator.url()))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(session["session"]["user"]["isAnonymous"], true);
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Or run the binary: `cargo run -p nhost-auth-emulator` (port 4000, SQLite file
//! `nhost-auth-emulator.sqlite`, configured through the real server's `AUTH_*` variables; see
//! [`Config`]).
//!
//! [Nhost Auth]: https://github.com/nhost/hasura-auth

mod config;
mod error;
mod extract;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod guards;
mod jwt;
mod mailbox;
mod pkce;
mod rate_limit;
mod redirect;
mod routes;
mod state;
mod store;
mod tokens;
mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use config::{Args, Config, ConfigError, DEV_JWT_KEY, Database, RateLimits};
pub use jwt::{DEFAULT_CLAIMS_NAMESPACE, JwtSecret, JwtSecretError};
pub use mailbox::{Email, MAILBOX_MAX_BYTES, MAILBOX_MAX_EMAILS, Mailbox};
pub use state::{Stats, StatsSnapshot};
pub use tokens::hash_refresh_token;

use state::AppState;
use store::Store;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The address could not be bound (port in use, no permission…).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database schema could not be migrated.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A setting is unusable (see [`Config::validate`]).
    #[error("{0}")]
    Config(#[from] ConfigError),
}

/// A running emulator. Dropping it stops the server; [`Emulator::shutdown`] also waits for it.
pub struct Emulator {
    addr: SocketAddr,
    url: String,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Opens the database, binds `config.host:config.port` (port 0 = any free port) and serves
    /// in a background task.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Self::serve(listener, config).await
    }

    /// Like [`Emulator::start`], on a listener you bound yourself.
    pub async fn serve(listener: TcpListener, config: Config) -> Result<Self, StartError> {
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: SocketAddr::new(config.host, config.port),
            source,
        })?;
        let (state, url) = open(config, addr).await?;
        let app = routes::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%url, "nhost-auth-emulator listening");
        Ok(Emulator {
            addr,
            url,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The base URL of the protocol routes, prefix included (e.g. `http://127.0.0.1:4000/v1`):
    /// what a client's "auth URL" setting wants.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The development mailbox (also at `GET /_emulator/mailbox`).
    pub fn mailbox(&self) -> &Mailbox {
        &self.state.mailbox
    }

    /// Request counters (also at `GET /_emulator/stats`).
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats.snapshot()
    }

    /// What the database holds for a user's refresh tokens: their hashes, oldest first. Tokens
    /// themselves are never stored; this lets tests check that.
    pub async fn stored_refresh_token_hashes(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<String>, sqlx::Error> {
        self.state.store.refresh_token_hashes(user_id).await
    }

    /// What the database holds for a user's pending PKCE authorization codes: their hashes,
    /// oldest first. Codes themselves are never stored; this lets tests check that.
    pub async fn stored_authorization_code_hashes(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<String>, sqlx::Error> {
        self.state.store.authorization_code_hashes(user_id).await
    }

    /// Stops accepting connections, lets in-flight requests finish, and closes the database.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take()
            && let Ok(Err(e)) = task.await
        {
            tracing::warn!(error = %e, "server stopped with an error");
        }
        self.state.store.close().await;
    }

    /// Serves until the task ends (it does not, unless the listener fails) or `signal` completes.
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = signal => {}
            res = async { self.task.as_mut().expect("task present until shutdown").await }, if self.task.is_some() => {
                self.task = None;
                if let Ok(Err(e)) = res {
                    tracing::error!(error = %e, "server stopped");
                }
            }
        }
        self.shutdown().await;
    }
}

/// Opens the database and builds the state every handler shares, for a server reached at
/// `addr`; also returns the base URL of the protocol routes.
async fn open(config: Config, addr: SocketAddr) -> Result<(AppState, String), StartError> {
    let redirects = redirect::RedirectPolicy::new(&config)?;
    let store = Store::connect(&config.database).await?;
    let prefix = config.normalized_prefix();
    // An unspecified bind address (0.0.0.0) is not something to put in a URL.
    let host = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}{prefix}", SocketAddr::new(host, addr.port()));
    let server_url = config
        .server_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| url.clone());
    // Email links point at the server URL, so its host is one of ours.
    let server_host = url::Url::parse(&server_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let allowed_hosts = guards::AllowedHosts::new(
        config
            .allowed_hosts
            .iter()
            .map(String::as_str)
            .chain(server_host.as_deref()),
    );
    for warning in startup_warnings(&config, addr) {
        tracing::warn!("{warning}");
    }
    if config.jwt_secret.is_development_key() && is_loopback(addr) {
        tracing::info!(
            "signing access tokens with the public development key (DEV_JWT_KEY): fine on \
             loopback; set HASURA_GRAPHQL_JWT_SECRET for anything else"
        );
    }
    let state = AppState::new(state::Shared {
        serve_emulator_routes: config.emulator_endpoints
            && (is_loopback(addr) || config.emulator_endpoints_beyond_loopback),
        config: Arc::new(config),
        store: Arc::new(store),
        mailbox: Mailbox::default(),
        stats: Arc::default(),
        rate_limiter: Arc::default(),
        prefix,
        server_url,
        redirects: Arc::new(redirects),
        allowed_hosts: Arc::new(allowed_hosts),
        dummy_password_hash: Arc::default(),
    });
    Ok((state, url))
}

/// Whether only this machine can reach `addr` (IPv4-mapped IPv6 loopback included).
fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// What the emulator warns about at start-up, bound to `addr` with `config`: the public signing
/// key or the emulator-only routes reachable beyond this machine.
fn startup_warnings(config: &Config, addr: SocketAddr) -> Vec<String> {
    let mut warnings = Vec::new();
    if is_loopback(addr) {
        return warnings;
    }
    if config.jwt_secret.is_development_key() {
        warnings.push(format!(
            "listening on {addr}, beyond loopback, and signing with the public development key \
             (DEV_JWT_KEY): anyone can forge access tokens; set HASURA_GRAPHQL_JWT_SECRET"
        ));
    }
    if config.emulator_endpoints && config.emulator_endpoints_beyond_loopback {
        warnings.push(format!(
            "SERVING /_emulator/* BEYOND LOOPBACK on {addr} (AUTH_EMULATOR_ENDPOINTS_BEYOND_LOOPBACK): \
             anyone who reaches this port can read every magic link and verification ticket, \
             and reset or disable every user"
        ));
    } else if config.emulator_endpoints {
        warnings.push(format!(
            "not serving /_emulator/* (mailbox, reset, stats) on {addr}, which is beyond loopback; \
             bind 127.0.0.1, or set AUTH_EMULATOR_ENDPOINTS_BEYOND_LOOPBACK=true to force it"
        ));
    }
    warnings
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(host: &str, tweak: impl FnOnce(&mut Config)) -> Vec<String> {
        let mut config = Config::default();
        tweak(&mut config);
        let addr = SocketAddr::new(host.parse().expect("an address"), 4000);
        startup_warnings(&config, addr)
    }

    #[test]
    fn the_public_key_warning_fires_exactly_when_it_is_used_beyond_loopback() {
        let custom = JwtSecret::hs256("0123456789abcdef0123456789abcdef");
        let has_key_warning = |w: &[String]| w.iter().any(|w| w.contains("public development key"));
        assert!(has_key_warning(&warnings("0.0.0.0", |_| {})));
        assert!(!has_key_warning(
            &warnings("0.0.0.0", |c| c.jwt_secret = custom.clone())
        ));
        assert!(warnings("127.0.0.1", |_| {}).is_empty());
        assert!(warnings("::1", |_| {}).is_empty());
        assert!(warnings("::ffff:127.0.0.1", |_| {}).is_empty());
    }

    #[test]
    fn emulator_routes_beyond_loopback_are_announced() {
        let w = warnings("0.0.0.0", |_| {});
        assert!(
            w.iter().any(|w| w.starts_with("not serving /_emulator/*")),
            "{w:?}"
        );
        let w = warnings("0.0.0.0", |c| c.emulator_endpoints_beyond_loopback = true);
        assert!(
            w.iter().any(|w| w.starts_with("SERVING /_emulator/*")),
            "{w:?}"
        );
        let w = warnings("0.0.0.0", |c| c.emulator_endpoints = false);
        assert!(!w.iter().any(|w| w.contains("/_emulator")), "{w:?}");
    }
}
