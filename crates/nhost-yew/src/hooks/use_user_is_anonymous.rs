use yew::prelude::*;

use crate::context::use_auth_value;

/// Whether the signed-in user is anonymous (`false` when signed out).
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Show() -> Html {
///     let anonymous = use_user_is_anonymous();
///     html! { <span>{ if anonymous { "guest" } else { "member" } }</span> }
/// }
/// ```
#[hook]
pub fn use_user_is_anonymous() -> bool {
    use_auth_value(|client| client.session().is_some_and(|s| s.is_anonymous()))
}
