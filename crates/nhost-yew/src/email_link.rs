//! Completing the email link a page was opened with (wasm32 only: the provider's start-up
//! effect calls it), as nhost-js's `autoSignIn` does.
//!
//! The link's parameters are read from `location.href` once and taken out of the address bar
//! at once (`history.replaceState`, the rest of the URL — path, other parameters, fragment,
//! history state — kept): a code is single-use and a refresh token must not stay in the
//! history, and a reload or a second provider then finds nothing to complete again.
//!
//! **A session already held** (restored from the store, or handed in) is replaced by the link's,
//! as nhost-js does — the link is what the user just chose — but only once the link has given a
//! session: a link that fails (expired, used, opened in another browser) changes nothing. The
//! typical case is the anonymous session of the very user who deanonymized with verification
//! required: the server revoked it, and the stored copy is still there. nhost-core's
//! `complete_email_link` does exactly that.

use nhost_core::{AuthError, NhostClient, Session};

/// The parameters whose presence makes the address an email link's landing page (the ones
/// `complete_email_link` reads). `type` and `errorDescription` alone are not a link, but are
/// taken out with them (`nhost_core::EMAIL_LINK_PARAMS`).
const LINK_MARKERS: [&str; 3] = ["code", "refreshToken", "error"];

/// An email link's landing address, as the page was opened with it.
pub(crate) struct Landing {
    /// The whole address, parameters included.
    pub(crate) href: String,
    /// The link's `type` (`emailVerify`, `signinPasswordless`…).
    pub(crate) link_type: Option<String>,
    /// Whether it carries a session (`code` or `refreshToken`), rather than only an error.
    pub(crate) carries_session: bool,
}

/// Reads the page's address; when it is an email link's landing page, takes the link's
/// parameters out of the address bar and returns what it was.
pub(crate) fn take_from_address_bar() -> Option<Landing> {
    let window = web_sys::window()?;
    let href = window.location().href().ok()?;
    let url = web_sys::Url::new(&href).ok()?;
    // Live: deleting from it rewrites `url`'s query (and drops the `?` when nothing is left).
    let params = url.search_params();
    if !LINK_MARKERS.iter().any(|name| params.has(name)) {
        return None;
    }
    let link_type = params.get("type").filter(|t| !t.is_empty());
    let carries_session = ["code", "refreshToken"]
        .iter()
        .any(|name| params.get(name).is_some_and(|v| !v.trim().is_empty()));
    for name in nhost_core::EMAIL_LINK_PARAMS {
        params.delete(name);
    }
    if let Ok(history) = window.history() {
        // The history entry's state is kept: a router may have put its own there.
        let state = history.state().unwrap_or(wasm_bindgen::JsValue::NULL);
        // Failing (a sandboxed document) leaves the parameters visible, nothing worse.
        let _ = history.replace_state_with_url(&state, "", Some(&url.href()));
    }
    Some(Landing {
        href,
        link_type,
        carries_session,
    })
}

/// Completes `landing` with `client` after restoring the stored session — so that a link that
/// fails leaves that session as it was — and replacing it when the link gives one.
pub(crate) async fn complete(
    client: &NhostClient,
    landing: &Landing,
) -> Result<Option<Session>, AuthError> {
    if !landing.carries_session {
        // Only the server's verdict on the link (`error=`): no session involved.
        let outcome = client.complete_email_link(&landing.href).await;
        client.initialize().await;
        return outcome;
    }
    client.initialize().await;
    client.complete_email_link(&landing.href).await
}
