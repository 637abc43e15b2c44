//! Not public API: the emulator's whole application without a socket, for the fuzz targets in
//! `fuzz/`.
//!
//! Compiled only with `--cfg fuzzing` (which `cargo fuzz` sets), so it is in no normal build, no
//! documentation and no semver check. The router is the one [`Emulator::serve`] runs — Host
//! check, CORS, rate limits, panic catching, every route and extractor — so a fuzz input reaches
//! exactly the code a request on the wire reaches.
//!
//! [`Emulator::serve`]: crate::Emulator::serve

use std::net::{Ipv4Addr, SocketAddr};

use crate::{Config, StartError};

/// The address the application believes it is served on: `Host: 127.0.0.1:4000` passes its
/// Host check.
pub const ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);

/// The emulator's application, served by nobody: send it requests with `tower::ServiceExt`.
pub struct App {
    state: crate::state::AppState,
    router: axum::Router,
}

impl App {
    /// Opens `config.database` and builds the router as [`crate::Emulator::serve`] does, for a
    /// server reached at [`ADDR`]. Requests need a `ConnectInfo<SocketAddr>` extension, as
    /// `into_make_service_with_connect_info` adds on the wire.
    pub async fn new(config: Config) -> Result<App, StartError> {
        let (state, _url) = crate::open(config, ADDR).await?;
        let router = crate::routes::router(state.clone());
        Ok(App { state, router })
    }

    /// The router (cheap to clone).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Forgets every user (with their tokens and codes) and every email, so that a long fuzzing
    /// run does not grow the database without end.
    pub async fn reset(&self) {
        let _ = self.state.store.reset().await;
        self.state.mailbox.clear();
    }
}
