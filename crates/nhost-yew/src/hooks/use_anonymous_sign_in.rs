use nhost_core::{AuthError, SignInAnonymousOptions};
use yew::prelude::*;

use crate::action::{action, use_action};
use crate::hooks::use_authentication_status;

/// What [`use_anonymous_sign_in`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UseAnonymousSignInHandle {
    /// Registers a new anonymous user and signs it in. Ignored while a call is running.
    pub sign_in_anonymous: Callback<()>,
    /// `true` while the sign-in runs.
    pub is_loading: bool,
    /// `true` once *this* sign-in succeeded (and its session is still held); `false` before, on
    /// error, and for a session restored at start-up or signed in by another tab.
    pub is_success: bool,
    /// `true` when the last sign-in failed.
    pub is_error: bool,
    /// Why it failed: `{status, error, message}`.
    pub error: Option<AuthError>,
}

/// Signs visitors in anonymously, as `@nhost/react`'s `useSignInAnonymous` does.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Component() -> Html {
///     let anon = use_anonymous_sign_in();
///     html! {
///         <div>
///             <button onclick={anon.sign_in_anonymous.reform(|_| ())}>{ "Anonymous sign-in" }</button>
///             if anon.is_success { <div>{ "You are now signed in anonymously" }</div> }
///             if let Some(e) = &anon.error { <div>{ format!("{} ({})", e.message, e.error) }</div> }
///         </div>
///     }
/// }
/// ```
#[hook]
pub fn use_anonymous_sign_in() -> UseAnonymousSignInHandle {
    use_anonymous_sign_in_with(SignInAnonymousOptions::default())
}

/// [`use_anonymous_sign_in`] with a display name, locale or metadata for the new user.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use nhost_yew::nhost_core::SignInAnonymousOptions;
/// use yew::prelude::*;
///
/// #[component]
/// fn Guest() -> Html {
///     let anon = use_anonymous_sign_in_with(SignInAnonymousOptions::default().display_name("Guest"));
///     html! { <button onclick={anon.sign_in_anonymous.reform(|_| ())}>{ "Continue as guest" }</button> }
/// }
/// ```
#[hook]
pub fn use_anonymous_sign_in_with(options: SignInAnonymousOptions) -> UseAnonymousSignInHandle {
    let (sign_in_anonymous, status) = use_action(move |client, ()| {
        let options = options.clone();
        action(async move { client.sign_in_anonymous(options).await })
    });
    let auth = use_authentication_status();
    let error = status.error();
    UseAnonymousSignInHandle {
        sign_in_anonymous,
        is_loading: status.is_loading,
        // The outcome of *this* sign-in (and the session it made still held): a session
        // restored at start-up or signed in by another tab is not a success of this button.
        is_success: auth.is_authenticated && status.succeeded().is_some(),
        is_error: error.is_some(),
        error,
    }
}
