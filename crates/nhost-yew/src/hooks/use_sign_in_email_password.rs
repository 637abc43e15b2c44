use nhost_core::AuthError;
use yew::prelude::*;

use crate::action::{action, use_action};

/// What [`use_sign_in_email_password`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UseSignInEmailPasswordHandle {
    /// Signs in with `(email, password)`.
    pub sign_in_email_password: Callback<(String, String)>,
    /// `true` while signing in.
    pub is_loading: bool,
    /// `true` once signed in.
    pub is_success: bool,
    /// `true` when it failed.
    pub is_error: bool,
    /// Why: e.g. `invalid-email-password` (401), `unverified-user` (401), `invalid-email` (10).
    pub error: Option<AuthError>,
}

/// Signs in with an email and a password.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn SignIn() -> Html {
///     let sign_in = use_sign_in_email_password();
///     let onclick = sign_in.sign_in_email_password.reform(|_| ("ada@example.com".to_owned(), "secret".to_owned()));
///     html! { <button {onclick}>{ "Sign in" }</button> }
/// }
/// ```
#[hook]
pub fn use_sign_in_email_password() -> UseSignInEmailPasswordHandle {
    let (sign_in_email_password, status) =
        use_action(|client, (email, password): (String, String)| {
            action(async move { client.sign_in_email_password(&email, &password).await })
        });
    let error = status.error();
    UseSignInEmailPasswordHandle {
        sign_in_email_password,
        is_loading: status.is_loading,
        is_success: status.succeeded().is_some(),
        is_error: error.is_some(),
        error,
    }
}
