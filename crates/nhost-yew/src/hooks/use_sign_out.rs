use nhost_core::{AuthError, SignOutScope};
use yew::prelude::*;

use crate::action::{action, use_action};

/// What [`use_sign_out`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UseSignOutHandle {
    /// Signs out of this device (`SignOutScope::ThisDevice`) or every device (`AllDevices`).
    pub sign_out: Callback<SignOutScope>,
    /// `true` while signing out.
    pub is_loading: bool,
    /// `true` once signed out.
    pub is_success: bool,
    /// `true` when the server could not be told (the session is forgotten locally anyway).
    pub is_error: bool,
    /// Why the server could not be told.
    pub error: Option<AuthError>,
}

/// Signs out: the server revokes the refresh token, the client forgets the session, other tabs
/// follow.
///
/// # Example
///
/// ```
/// use nhost_yew::nhost_core::SignOutScope;
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn SignOutButton() -> Html {
///     let out = use_sign_out();
///     html! { <button onclick={out.sign_out.reform(|_| SignOutScope::ThisDevice)}>{ "Sign out" }</button> }
/// }
/// ```
#[hook]
pub fn use_sign_out() -> UseSignOutHandle {
    let (sign_out, status) = use_action(|client, scope: SignOutScope| {
        action(async move { client.sign_out(scope).await })
    });
    let error = status.error();
    UseSignOutHandle {
        sign_out,
        is_loading: status.is_loading,
        is_success: status.succeeded().is_some(),
        is_error: error.is_some(),
        error,
    }
}
