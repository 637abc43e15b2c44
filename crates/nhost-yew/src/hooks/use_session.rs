use nhost_core::Session;
use yew::prelude::*;

use crate::context::use_auth_value;

/// The whole session (tokens, expiry, user, claims), or `None`.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Show() -> Html {
///     let session = use_session();
///     html! { <span>{ session.map(|s| s.access_token_expires_at).unwrap_or_default() }</span> }
/// }
/// ```
#[hook]
pub fn use_session() -> Option<Session> {
    use_auth_value(|client| client.session())
}
