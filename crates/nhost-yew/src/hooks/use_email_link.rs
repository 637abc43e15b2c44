use nhost_core::AuthError;
use yew::prelude::*;

use crate::context::NhostContext;

/// What [`use_email_link`] returns: how the email link the page was opened with went. All
/// `false` / `None` when the page was not opened from a link (and on the server).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UseEmailLinkHandle {
    /// `true` while the provider completes the link (exchanging its code for a session).
    pub is_loading: bool,
    /// `true` once the link signed the user in (their email is verified, or the magic link
    /// worked).
    pub is_success: bool,
    /// `true` when the link could not be completed.
    pub is_error: bool,
    /// Why: the server's verdict carried by the link (`error=…`, e.g. an expired or used
    /// ticket), `invalid-request` for a code opened in another browser than the one that asked
    /// for the link (its PKCE verifier is not here) or one already used, or the exchange's own
    /// error (e.g. the network).
    pub error: Option<AuthError>,
    /// The link's `type`, as the server wrote it: `emailVerify`, `signinPasswordless`,
    /// `emailConfirmChange`, `passwordReset`; `None` without a link, or when the server wrote
    /// none.
    pub link_type: Option<String>,
}

/// The outcome of the email link the page was opened with — a verification link after sign-up
/// or deanonymization, or a magic link — which [`NhostProvider`](crate::NhostProvider)
/// completes on start-up and takes out of the address bar. For "your email is verified" or
/// "this link has expired, ask for a new one".
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn EmailLinkNotice() -> Html {
///     let link = use_email_link();
///     html! {
///         <>
///             if link.is_loading { <p>{ "Signing you in…" }</p> }
///             if link.is_success && link.link_type.as_deref() == Some("emailVerify") {
///                 <p>{ "Your email is verified" }</p>
///             }
///             if let Some(e) = &link.error { <p>{ format!("This link did not work: {}", e.message) }</p> }
///         </>
///     }
/// }
/// ```
#[hook]
pub fn use_email_link() -> UseEmailLinkHandle {
    // Outside a provider no link is completed: the idle state, like on the server.
    use_context::<NhostContext>()
        .map(|context| context.email_link)
        .unwrap_or_default()
}
