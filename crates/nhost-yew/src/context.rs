//! The context the provider gives its children: the client, and how the page's email link went.
//! Hooks subscribe to the client themselves, so each re-renders only when the value it returns
//! changes.

use std::rc::Rc;

use nhost_core::NhostClient;
use yew::prelude::*;

#[cfg(feature = "email-links")]
use crate::hooks::UseEmailLinkHandle;

#[derive(Clone, PartialEq)]
pub(crate) struct NhostContext {
    pub(crate) client: NhostClient,
    /// The outcome of the email link the page was opened with. It changes at most twice (when
    /// the page was opened from a link: completing, then done), and each time the provider's
    /// consumers render again — one context rather than a second provider of its own, which
    /// cost ≈ 2 KB of raw wasm (see the README's bundle figures).
    #[cfg(feature = "email-links")]
    pub(crate) email_link: UseEmailLinkHandle,
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
/// computed at every render (so server rendering sees it), and watched by a subscription in the
/// browser.
///
/// Only the comparison is generic; the subscription ([`use_auth_watch`]) exists once in the
/// bundle, not once per hook (see the bundle figures in the README).
#[hook]
pub(crate) fn use_auth_value<T>(derive: fn(&NhostClient) -> T) -> T
where
    T: Clone + PartialEq + 'static,
{
    let client = use_nhost_client();
    let value = derive(&client);
    // What this component last rendered, for the subscription to compare with.
    let rendered = use_mut_ref(|| value.clone());
    *rendered.borrow_mut() = value.clone();
    use_auth_watch(
        client,
        Rc::new(move |client: &NhostClient| {
            let now = derive(client);
            let mut rendered = rendered.borrow_mut();
            let changed = *rendered != now;
            *rendered = now;
            changed
        }),
    );
    value
}

/// Asks whether the value a component rendered has changed (and remembers the new one).
type Changed = Rc<dyn Fn(&NhostClient) -> bool>;

/// Re-renders the component when `changed` says so after a change of the client's state. The
/// subscription is made once per client (an effect: never on the server).
#[hook]
fn use_auth_watch(client: NhostClient, changed: Changed) {
    let update = use_force_update();
    use_effect_with(client, move |client| watch(client, update, changed));
}

/// Subscribes to the client's changes; the returned closure unsubscribes.
#[cfg(target_arch = "wasm32")]
fn watch(
    client: &NhostClient,
    update: UseForceUpdateHandle,
    changed: Changed,
) -> impl FnOnce() + use<> {
    // Catch a change between the render and this effect.
    if changed(client) {
        update.force_update();
    }
    let watched = client.clone();
    let subscription = client.on_auth_state_changed(move |_| {
        if changed(&watched) {
            update.force_update();
        }
    });
    move || drop(subscription)
}

/// Server side: effects never run there; this only keeps the hook call unconditional.
#[cfg(not(target_arch = "wasm32"))]
fn watch(
    _client: &NhostClient,
    _update: UseForceUpdateHandle,
    _changed: Changed,
) -> impl FnOnce() + use<> {
    || ()
}
