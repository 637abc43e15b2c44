use nhost_core::{AuthError, DeanonymizeMethod, SignUpOptions};
use yew::prelude::*;

use crate::action::{Done, action, use_action};

/// What [`use_deanonymize`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UseDeanonymizeHandle {
    /// Turns the anonymous user into a registered one: `(method, options)`.
    pub deanonymize: Callback<(DeanonymizeMethod, Option<SignUpOptions>)>,
    /// `true` while it runs.
    pub is_loading: bool,
    /// `true` once done.
    pub is_success: bool,
    /// `true` when the server revoked the session and sent an email: the user signs in again by
    /// following it (always for passwordless; for email+password when the server requires
    /// verified emails).
    pub needs_email_verification: bool,
    /// `true` when it failed.
    pub is_error: bool,
    /// Why: e.g. `email-already-in-use` (409), `user-not-anonymous` (20 or 400).
    pub error: Option<AuthError>,
}

/// Deanonymizes the signed-in anonymous user, with email+password or a magic link. The user id
/// stays the same.
///
/// # Example
///
/// ```
/// use nhost_yew::nhost_core::DeanonymizeMethod;
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Upgrade() -> Html {
///     let upgrade = use_deanonymize();
///     let onclick = upgrade.deanonymize.reform(|_| {
///         (DeanonymizeMethod::EmailPassword { email: "ada@example.com".into(), password: "secret".into() }, None)
///     });
///     html! {
///         <>
///             <button {onclick}>{ "Keep my account" }</button>
///             if upgrade.needs_email_verification { <p>{ "Check your mailbox" }</p> }
///         </>
///     }
/// }
/// ```
#[hook]
pub fn use_deanonymize() -> UseDeanonymizeHandle {
    let (deanonymize, status) = use_action(
        |client, (method, options): (DeanonymizeMethod, Option<SignUpOptions>)| {
            action(async move { client.deanonymize(method, options).await })
        },
    );
    let error = status.error();
    UseDeanonymizeHandle {
        deanonymize,
        is_loading: status.is_loading,
        is_success: status.succeeded().is_some(),
        needs_email_verification: status.succeeded() == Some(Done::EmailVerificationRequired),
        is_error: error.is_some(),
        error,
    }
}
