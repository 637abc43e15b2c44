//! Cross-tab sync over `BroadcastChannel`: when one tab's session changes (sign-in, refresh,
//! sign-out), it tells the other tabs of the origin, which re-read the stored session
//! ([`NhostClient::sync_from_storage`]) — no `/token` call of their own, and no token in the
//! message: the store, written inside the Web Lock that serialises refreshes, is the one truth.

use std::cell::Cell;
use std::rc::Rc;

use nhost_core::{NhostClient, Subscription};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::Closure;
use web_sys::{BroadcastChannel, MessageEvent};

const CHANNEL: &str = "nhost-rs-auth";
/// The one message: "the stored session changed, look".
const CHANGED: &str = "changed";

/// Live while the provider is mounted; dropping it closes the channel.
pub(crate) struct TabSync {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _subscription: Subscription,
}

impl TabSync {
    /// `None` where the browser has no `BroadcastChannel`: tabs then meet in `localStorage` only
    /// (each finds the others' refreshes there when its own session becomes due).
    pub(crate) fn start(client: &NhostClient) -> Option<TabSync> {
        let channel = BroadcastChannel::new(CHANNEL).ok()?;
        // Set while following another tab, so that following it is not announced back.
        let applying = Rc::new(Cell::new(false));

        let on_message = {
            let client = client.clone();
            let applying = applying.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if event.data().as_string().as_deref() == Some(CHANGED) {
                    applying.set(true);
                    client.sync_from_storage();
                    applying.set(false);
                }
            })
        };
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let subscription = {
            let channel = channel.clone();
            client.on_auth_state_changed(move |_change| {
                if !applying.get() {
                    let _ = channel.post_message(&CHANGED.into());
                }
            })
        };
        Some(TabSync {
            channel,
            _on_message: on_message,
            _subscription: subscription,
        })
    }
}

impl Drop for TabSync {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
