//! The context the provider gives its children: the client, nothing else. Hooks subscribe to it
//! themselves, so each re-renders only when the value it returns changes.

use nhost_core::NhostClient;
use yew::prelude::*;

/// What the server-side branch of an effect keeps alive: nothing. (A plain non-`Copy` value, so
/// that the browser branch's `move || drop(guard)` reads the same on both targets.)
#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct Nothing;

#[derive(Clone, PartialEq)]
pub(crate) struct NhostContext {
    pub(crate) client: NhostClient,
}

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
    // In the browser: keep the value current. (Effects never run on the server, and a hook must
    // be called unconditionally, so the cfg is inside.)
    let setter = value.setter();
    use_effect_with(client, move |client| {
        #[cfg(target_arch = "wasm32")]
        let subscription = {
            // Catch a change between the render and this effect.
            setter.set(derive(client));
            let watched = client.clone();
            client.on_auth_state_changed(move |_| setter.set(derive(&watched)))
        };
        #[cfg(not(target_arch = "wasm32"))]
        let subscription = {
            let _ = (client, setter, derive);
            Nothing
        };
        move || drop(subscription)
    });
    (*value).clone()
}
