//! The Nhost Auth client for Rust: anonymous sign-in, sessions, race-free token refresh and
//! typed errors — one API on native (tokio) and in the browser (`wasm32-unknown-unknown`).
//!
//! It is the Rust counterpart of `@nhost/hasura-auth-js`; `nhost-yew` and `nhost-ssr` are thin
//! adapters over it.
//!
//! ```no_run
//! use nhost_core::{NhostClient, SignInAnonymousOptions};
//!
//! # async fn demo() -> Result<(), nhost_core::AuthError> {
//! let client = NhostClient::builder().subdomain("myapp").region("eu-central-1").build()?;
//! let session = client.sign_in_anonymous(SignInAnonymousOptions::default()).await?;
//! println!("signed in as {:?}", session.user_id());
//!
//! // Call Hasura with the user's role; refreshed first when close to expiry, and however many
//! // tasks ask at once, only one refresh request is sent.
//! let token = client.access_token().await?;
//! # let _ = token;
//! # Ok(()) }
//! ```
//!
//! Errors have the shape the hooks show, `{status, error, message}`: see [`AuthError`].
//!
//! Crate features: `rustls-tls` (default; HTTPS natively), `server-session` (the browser client
//! of a full-stack site's session endpoints: [`NhostClientBuilder::session_endpoints`]).

// The docs link to the `server-session` API from everywhere the mode matters; without the
// feature those items do not exist (docs.rs builds with every feature).
#![cfg_attr(
    not(feature = "server-session"),
    allow(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)
)]

mod api;
mod client;
mod error;
mod flight;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(any(target_arch = "wasm32", test, fuzzing))]
mod json;
mod options;
mod pkce;
mod platform;
mod session;
mod state;
mod storage;
#[cfg(target_arch = "wasm32")]
mod web_lock;

pub use client::{
    DEFAULT_CLAIMS_NAMESPACE, EMAIL_LINK_PARAMS, NhostClient, NhostClientBuilder, SignOutScope,
    SignUpOutcome, Subscription,
};
pub use error::{
    AuthError, ErrorCode, STATUS_NETWORK, STATUS_OTHER, STATUS_STATE, STATUS_VALIDATION,
};
pub use flight::SingleFlight;
pub use options::{DeanonymizeMethod, SignInAnonymousOptions, SignUpOptions};
pub use pkce::CODE_VERIFIER_KEY;
pub use platform::{MaybeSend, MaybeSendSync};
pub use session::{AccessToken, HasuraClaims, RefreshToken, Session, User};
pub use state::{AuthChange, AuthState, RETRY_BACKOFF, refresh_margin};
#[cfg(target_arch = "wasm32")]
pub use storage::LocalStorage;
#[cfg(target_arch = "wasm32")]
pub use storage::WEB_LOCK_NAME;
pub use storage::{
    LockFuture, MemoryStorage, REFRESH_TOKEN_EXPIRES_AT_KEY, REFRESH_TOKEN_ID_KEY,
    REFRESH_TOKEN_KEY, SESSION_KEY, SessionStorage, StorageLock,
};

/// Not public API: a [`Session`] as a JavaScript value in the shape its serde `Serialize` writes,
/// and back, without linking serde_json's printer and parser into the bundle (for the browser
/// tests of the JSON mapping, and for handing a session to JavaScript).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __browser {
    use wasm_bindgen::JsValue;

    use crate::json::{FromJson as _, ToJson as _};
    use crate::session::Session;

    /// The session as serde would write it.
    pub fn session_to_js(session: &Session) -> JsValue {
        crate::js::to_js(&session.to_json())
    }

    /// A session written by [`session_to_js`] (or by serde); `None` when it is not one.
    pub fn session_from_js(value: &JsValue) -> Option<Session> {
        Session::from_json(&crate::js::from_js(value)).ok()
    }

    /// The PKCE S256 challenge of `verifier`, by Web Crypto (for the browser tests).
    pub async fn pkce_challenge(verifier: &str) -> Result<String, crate::AuthError> {
        crate::pkce::challenge(verifier).await
    }

    /// The Hasura claims of an access token under `namespace`, read by `atob` and `JSON` (for
    /// the browser tests).
    pub fn access_token_claims(token: &str, namespace: &str) -> Option<crate::HasuraClaims> {
        crate::session::decode_access_token(token, namespace).map(|d| d.claims)
    }
}
