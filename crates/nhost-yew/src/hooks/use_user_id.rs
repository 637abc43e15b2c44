use yew::prelude::*;

use crate::context::use_auth_value;

/// The signed-in user's id, or `None`.
///
/// # Example
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn Show() -> Html {
///     let id = use_user_id();
///     html! { <span data-testid="user-id">{ id.unwrap_or_default() }</span> }
/// }
/// ```
#[hook]
pub fn use_user_id() -> Option<String> {
    use_auth_value(|client| {
        client
            .session()
            .and_then(|s| s.user_id().map(str::to_owned))
    })
}
