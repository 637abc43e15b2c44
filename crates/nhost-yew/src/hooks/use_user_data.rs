use nhost_core::User;
use yew::prelude::*;

use crate::context::use_auth_value;

/// The signed-in user (as the server last described it), or `None`.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Show() -> Html {
///     let user = use_user_data();
///     html! { <span>{ user.map(|u| u.display_name).unwrap_or_default() }</span> }
/// }
/// ```
#[hook]
pub fn use_user_data() -> Option<User> {
    use_auth_value(|client| client.session().and_then(|s| s.user))
}
