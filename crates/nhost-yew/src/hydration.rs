//! Hydrating a page the server rendered with [`nhost-ssr`](https://docs.rs/nhost-ssr): the
//! browser's client starts from the session the server rendered with, so the first render in the
//! browser is the server's HTML — no hydration mismatch, no flash of "signed out", no request at
//! start-up.
//!
//! The server writes `nhost_ssr::session_script(session)` into the page — `<script
//! type="application/json" id="nhost-session">{"session": PublicSession | null}</script>`, the
//! access token, its seconds left and the user; never the refresh token — and the app's `main`
//! reads it *before* hydrating, outside any component (components touch browser APIs only in
//! effects, so that they render on the server):
//!
//! ```ignore
//! // The browser's entry point (wasm32).
//! fn main() {
//!     let client = nhost_yew::hydration::client("/_nhost").expect("valid endpoints");
//!     yew::Renderer::<App>::with_props(AppProps { client }).hydrate();
//! }
//! ```
//!
//! The server renders the same `App` with a client holding the request's session (or none), so
//! the provider's hooks give the same values on both sides.

use nhost_core::{AuthError, NhostClient, Session};

/// The `id` of the page's hydration script (nhost-ssr's `SESSION_SCRIPT_ID`).
pub const SESSION_SCRIPT_ID: &str = "nhost-session";

/// The session the server rendered this page with, read once from its
/// `<script type="application/json" id="nhost-session">`: `Some(Some(session))` rendered signed
/// in, `Some(None)` rendered signed out, `None` when the page has no such script or it cannot be
/// read (then let the client ask the site: `GET /_nhost/session`). The session has no refresh
/// token. Give it to [`NhostClientBuilder::server_rendered`](nhost_core::NhostClientBuilder::server_rendered).
///
/// Call it in the app's `main`, before `Renderer::hydrate`, never in a component's render.
#[cfg(target_arch = "wasm32")]
pub fn server_session() -> Option<Option<Session>> {
    let text = web_sys::window()?
        .document()?
        .get_element_by_id(SESSION_SCRIPT_ID)?
        .text_content()?;
    Session::from_public_json(&text).ok()
}

/// Natively there is no page: always `None`.
#[cfg(not(target_arch = "wasm32"))]
pub fn server_session() -> Option<Option<Session>> {
    None
}

/// The browser's client of a hydrated full-stack page: server-session mode on `endpoints` (the
/// path where the site serves `nhost_ssr::session_routes()`, usually `/_nhost`), starting from
/// [`server_session`] when the page has one — signed in or signed out, without a request — and
/// otherwise `Loading` until `GET {endpoints}/session` answers.
///
/// # Errors
///
/// `invalid-configuration` when `endpoints` is not a path on the page's origin or an http(s) URL.
pub fn client(endpoints: &str) -> Result<NhostClient, AuthError> {
    let builder = NhostClient::builder().session_endpoints(endpoints);
    match server_session() {
        Some(session) => builder.server_rendered(session),
        None => builder,
    }
    .build()
}
