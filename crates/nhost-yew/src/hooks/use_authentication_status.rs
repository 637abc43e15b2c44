use nhost_core::AuthState;
use yew::prelude::*;

use crate::context::use_auth_value;

/// What [`use_authentication_status`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticationStatus {
    /// `true` while a stored session is being restored.
    pub is_loading: bool,
    /// `true` while a user is signed in.
    pub is_authenticated: bool,
}

/// Whether someone is signed in.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Status() -> Html {
///     let status = use_authentication_status();
///     html! {
///         if status.is_loading { { "…" } }
///         else if status.is_authenticated { { "signed in" } }
///         else { { "signed out" } }
///     }
/// }
/// ```
#[hook]
pub fn use_authentication_status() -> AuthenticationStatus {
    use_auth_value(|client| {
        let state = client.auth_state();
        AuthenticationStatus {
            is_loading: matches!(state, AuthState::Loading),
            is_authenticated: matches!(state, AuthState::SignedIn(_)),
        }
    })
}
