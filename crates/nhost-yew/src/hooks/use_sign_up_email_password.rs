use nhost_core::{AuthError, SignUpOptions};
use yew::prelude::*;

use crate::action::{Done, action, use_action};

/// What [`use_sign_up_email_password`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UseSignUpEmailPasswordHandle {
    /// Signs up with `(email, password, options)`.
    pub sign_up_email_password: Callback<(String, String, Option<SignUpOptions>)>,
    /// `true` while signing up.
    pub is_loading: bool,
    /// `true` once done (signed in, or waiting for the email to be verified).
    pub is_success: bool,
    /// `true` when the server sent a verification email: the user signs in after clicking it.
    pub needs_email_verification: bool,
    /// `true` when it failed.
    pub is_error: bool,
    /// Why: e.g. `email-already-in-use` (409), `invalid-password` (10).
    pub error: Option<AuthError>,
}

/// Signs up with an email and a password. When the signed-in user is anonymous it deanonymizes
/// that user instead (keeping its id and data), as nhost-js does.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn SignUp() -> Html {
///     let sign_up = use_sign_up_email_password();
///     let onclick = sign_up.sign_up_email_password.reform(|_| ("ada@example.com".to_owned(), "secret".to_owned(), None));
///     html! {
///         <>
///             <button {onclick}>{ "Sign up" }</button>
///             if sign_up.needs_email_verification { <p>{ "Check your mailbox" }</p> }
///         </>
///     }
/// }
/// ```
#[hook]
pub fn use_sign_up_email_password() -> UseSignUpEmailPasswordHandle {
    let (sign_up_email_password, status) = use_action(
        |client, (email, password, options): (String, String, Option<SignUpOptions>)| {
            action(async move {
                client
                    .sign_up_email_password(&email, &password, options)
                    .await
            })
        },
    );
    let error = status.error();
    UseSignUpEmailPasswordHandle {
        sign_up_email_password,
        is_loading: status.is_loading,
        is_success: status.succeeded().is_some(),
        needs_email_verification: status.succeeded() == Some(Done::EmailVerificationRequired),
        is_error: error.is_some(),
        error,
    }
}
