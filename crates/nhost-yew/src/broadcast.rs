//! Cross-tab sync over `BroadcastChannel`: when one tab's session changes (sign-in, refresh,
//! sign-out), it tells the other tabs of the origin, which re-read the stored session
//! ([`NhostClient::sync_from_storage`]) — no `/token` call of their own, and no token in the
//! message: the store, written inside the Web Lock that serialises refreshes, is the one truth.
//!
//! In server-session mode the store the tabs share is the site's `HttpOnly` cookie, which no
//! tab can read: a tab told "changed" asks the site (`GET /_nhost/session`,
//! [`NhostClient::sync_from_site`]) rather than taking a session from the message. So the
//! message still carries no token (nothing to copy for a script listening on the channel),
//! a tab's session only ever comes from the site's own answer (nothing posted on the channel
//! can sign a tab in or keep a signed-out session alive), and every tab ends at the cookie's
//! state — also when two changes cross. A fresh cookie costs the site no auth-server call.
//! The tabs that changed by following announce it in turn; the others then find the session
//! they hold and change nothing, so the round stops there.

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
        // Set while following another tab's store (direct mode, synchronous), so that following it
        // is not announced back. Server-session mode follows asynchronously and announces once
        // more (see the module doc).
        let applying = Rc::new(Cell::new(false));

        let on_message = {
            let client = client.clone();
            let applying = applying.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if event.data().as_string().as_deref() != Some(CHANGED) {
                    return;
                }
                if client.session_endpoints().is_some() {
                    let client = client.clone();
                    yew::platform::spawn_local(async move { client.sync_from_site().await });
                } else {
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
