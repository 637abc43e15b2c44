use nhost_core::HasuraClaims;
use yew::prelude::*;

use crate::context::use_auth_value;

/// The Hasura claims of the access token (roles, user id, is-anonymous), decoded, or `None`.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Show() -> Html {
///     let claims = use_hasura_claims();
///     html! { <span>{ claims.map(|c| c.default_role).unwrap_or_default() }</span> }
/// }
/// ```
#[hook]
pub fn use_hasura_claims() -> Option<HasuraClaims> {
    use_auth_value(|client| client.hasura_claims())
}
