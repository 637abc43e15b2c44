//! axum/tower middleware that keeps the Nhost session cookie fresh during server rendering —
//! race-free across parallel requests and across instances.
//!
//! [`NhostSessionLayer`] reads a sealed session cookie on every request, refreshes the session
//! when it is due (once per refresh token, through a [`RefreshCoordinator`]), hands it to
//! handlers through the [`Session`] extractor, and writes the new cookie on the response.
//! [`NhostAuth`] gives handlers a client seeded with the session for sign-in, sign-out and
//! deanonymization; the cookie follows whatever the client's session becomes.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use nhost_ssr::{NhostSessionLayer, Session};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = nhost_ssr::key_from_bytes(&std::fs::read("cookie.key")?)?; // ≥ 32 random bytes
//! let nhost = NhostSessionLayer::builder()
//!     .auth_url("http://127.0.0.1:4000")
//!     .cookie_key(key)
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/", get(|session: Option<Session>| async move {
//!         match session {
//!             Some(s) => format!("signed in as {}", s.user_id().unwrap_or_default()),
//!             None => "signed out".to_owned(),
//!         }
//!     }))
//!     .layer(nhost);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # Session endpoints (full-stack apps)
//!
//! A browser app hydrated from server-rendered pages reads and changes its session through
//! [`session_routes`] — `GET /_nhost/session`, `POST /_nhost/token`, sign-in, sign-up,
//! deanonymize and sign-out under `/_nhost` ([`SessionRoutes`] for another prefix) — merged
//! into the router the layer wraps. They answer [`PublicSession`]s: **the refresh token never
//! leaves the server**; it lives only in the sealed `HttpOnly` cookie, and every refresh goes
//! through the layer's [`RefreshCoordinator`]. State-changing calls need `X-Nhost-CSRF: 1` and a
//! same-origin request ([`is_same_origin`]).
//!
//! ```no_run
//! # use axum::Router;
//! # fn site(nhost: nhost_ssr::NhostSessionLayer, pages: Router) -> Router {
//! pages.merge(nhost_ssr::session_routes()).layer(nhost)
//! # }
//! ```
//!
//! # Why a sealed cookie
//!
//! A cookie is client-controlled, so the session a handler sees must be authenticated without a
//! round-trip. This crate seals the whole cookie (AES-256-GCM, `tower-cookies`' private jar, the
//! cookie name bound as associated data) with a key only the server holds, rather than verifying
//! the JWT's signature: sealing authenticates *every* field — the access token, its expiry, the
//! refresh token, the user — works with any signing algorithm the auth server uses without
//! fetching or configuring its keys, and keeps the refresh token unreadable even where cookies
//! leak (logs, proxies). A forged or edited cookie, a token signed with another key or with
//! `alg: none`, or an edited expiry never opens, and counts as "no session". The key is
//! mandatory: [`NhostSessionLayerBuilder::build`] fails without one, and
//! [`key_from_bytes`] refuses keys shorter than 32 bytes.
//!
//! # The cookie
//!
//! `__Host-nhostSession`: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` — unless configured
//! for plain-HTTP development, see [`SecureCookie`] (never decided from the `Host` header) —
//! `Max-Age` = the refresh-token lifetime. It never exceeds 4096 bytes: when
//! the session would not fit, the cookie keeps less — first the user's metadata goes, then the
//! user (the access token's claims still give id, roles and anonymity).

mod cookie;
mod coordinator;
mod endpoints;
mod extract;
mod layer;
mod origin;
mod public_session;
#[cfg(feature = "redis")]
mod redis;

pub use crate::cookie::{MAX_COOKIE_BYTES, SecureCookie};
pub use crate::coordinator::{
    MemoryCoordinator, RefreshCoordinator, RefreshKey, RefreshOutcome, RefreshWork,
};
pub use crate::endpoints::{
    CSRF_HEADER, DEFAULT_BODY_LIMIT, DEFAULT_PREFIX, SessionRoutes, session_routes,
};
pub use crate::extract::{NhostAuth, Session, SessionRejection};
pub use crate::layer::{
    NhostSessionLayer, NhostSessionLayerBuilder, NhostSessionService, ResponseFuture,
};
pub use crate::origin::is_same_origin;
pub use crate::public_session::{PublicSession, SESSION_SCRIPT_ID, json_script, session_script};
#[cfg(feature = "redis")]
pub use crate::redis::RedisCoordinator;
pub use nhost_core;
pub use tower_cookies::Key;

/// Configuration errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No cookie key was given.
    #[error("a cookie key is required to seal the session cookie: call `.cookie_key(key)`")]
    MissingKey,
    /// The key material is too short.
    #[error("the cookie key must be at least 32 bytes of random data, got {0}")]
    KeyTooShort(usize),
    /// The cookie name is not a valid cookie name.
    #[error("`{0}` is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)")]
    InvalidCookieName(String),
    /// The cookie name carries a `__Host-`/`__Secure-` prefix: the layer adds `__Host-` itself.
    #[error(
        "give the cookie name `{0}` without its `__Host-`/`__Secure-` prefix: the layer names the \
         cookie `__Host-<name>` whenever it is Secure"
    )]
    ReservedCookiePrefix(String),
    /// No auth URL could be formed.
    #[error("invalid auth server configuration: {0}")]
    AuthUrl(nhost_core::AuthError),
}

/// A cookie [`Key`] from secret bytes (at least 32; for example `openssl rand -hex 32`, decoded).
/// Keys of 64 bytes or more are used as they are; shorter ones are expanded with HKDF.
pub fn key_from_bytes(bytes: &[u8]) -> Result<Key, Error> {
    if bytes.len() < 32 {
        return Err(Error::KeyTooShort(bytes.len()));
    }
    Ok(Key::try_from(bytes).unwrap_or_else(|_| Key::derive_from(bytes)))
}
