//! The context the provider gives its children: the client, nothing else. Hooks subscribe to it
//! themselves, so each re-renders only when the value it returns changes.

use nhost_core::NhostClient;
use yew::prelude::*;

use crate::hooks::UseEmailLinkHandle;

#[derive(Clone, PartialEq)]
pub(crate) struct NhostContext {
    pub(crate) client: NhostClient,
}

/// The outcome of the email link the page was opened with, in a context of its own: it changes
/// at most twice, and then only [`use_email_link`](crate::use_email_link)'s components re-render.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct EmailLinkContext(pub(crate) UseEmailLinkHandle);

/// The [`NhostClient`] of the nearest [`NhostProvider`](crate::NhostProvider), for calls the
/// hooks do not cover (e.g. `access_token()` before calling Hasura).
///
/// # Panics
///
/// Outside an `NhostProvider`: that is a mistake in the component tree, not a runtime condition.
#[hook]
pub fn use_nhost_client() -> NhostClient {
    use_context::<NhostContext>()
        .expect("nhost-yew hooks must be used inside an <NhostProvider>")
        .client
}

/// A value derived from the client's state that re-renders the component only when it changes:
/// computed at render (so server rendering sees it), then kept current by a subscription in the
/// browser.
#[hook]
pub(crate) fn use_auth_value<T>(derive: fn(&NhostClient) -> T) -> T
where
    T: Clone + PartialEq + 'static,
{
    let client = use_nhost_client();
    let value = use_state_eq({
        let client = client.clone();
        move || derive(&client)
    });
    // In the browser: keep the value current (effects never run on the server).
    let setter = value.setter();
    use_effect_with(client, move |client| watch(client, setter, derive));
    (*value).clone()
}

/// Subscribes `setter` to the client's changes; the returned closure unsubscribes.
#[cfg(target_arch = "wasm32")]
fn watch<T: PartialEq + 'static>(
    client: &NhostClient,
    setter: UseStateSetter<T>,
    derive: fn(&NhostClient) -> T,
) -> impl FnOnce() + use<T> {
    // Catch a change between the render and this effect.
    setter.set(derive(client));
    let watched = client.clone();
    let subscription = client.on_auth_state_changed(move |_| setter.set(derive(&watched)));
    move || drop(subscription)
}

/// Server side: effects never run there; this only keeps the hook call unconditional.
#[cfg(not(target_arch = "wasm32"))]
fn watch<T: PartialEq + 'static>(
    _client: &NhostClient,
    _setter: UseStateSetter<T>,
    _derive: fn(&NhostClient) -> T,
) -> impl FnOnce() + use<T> {
    || ()
}
