use nhost_core::AccessToken;
use yew::prelude::*;

use crate::context::use_auth_value;

/// The current access token, or `None`. Its `Debug` is redacted; `expose()` it only to send it.
/// To call Hasura, prefer `use_nhost_client().access_token().await`, which refreshes first when needed.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Show() -> Html {
///     let token = use_access_token();
///     html! { <span>{ if token.is_some() { "has a token" } else { "no token" } }</span> }
/// }
/// ```
#[hook]
pub fn use_access_token() -> Option<AccessToken> {
    use_auth_value(|client| client.session().map(|s| s.access_token))
}
