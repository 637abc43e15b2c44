//! Cross-tab sync over `BroadcastChannel`: when one tab's session changes (sign-in, refresh,
//! sign-out), it tells the other tabs of the origin, which re-read the stored session
//! ([`NhostClient::sync_from_storage`]) — no `/token` call of their own, and no token in the
//! message: the store, written inside the Web Lock that serialises refreshes, is the one truth.
//!
//! The ping can arrive before the other tab's `localStorage` write does: Chromium propagates
//! writes between tabs' processes asynchronously, so a tab that re-reads at once may still see
//! the old value (measured: a sign-out was followed by the other tab in only 2 of 6 runs of the
//! CSR example's `sign_out_reaches_the_other_tab`; with the listener below, 8 of 8). The
//! `storage` event is the browser's own "this key changed here now" — fired once the write is
//! visible — so a tab also follows the store on every `storage` event for the session keys.
//! Either signal alone would do most of the time; together, the tab follows as soon as the
//! change is visible.
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
use web_sys::{BroadcastChannel, MessageEvent, StorageEvent};

const CHANNEL: &str = "nhost-rs-auth";
/// The one message: "the stored session changed, look".
const CHANGED: &str = "changed";

/// Live while the provider is mounted; dropping it closes the channel and stops listening.
pub(crate) struct TabSync {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    /// Direct mode: the window's `storage` listener.
    on_storage: Option<(web_sys::Window, Closure<dyn FnMut(StorageEvent)>)>,
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

        // Direct mode: follow the store once another tab's write is visible here.
        let on_storage = match (client.session_endpoints(), web_sys::window()) {
            (None, Some(window)) => {
                let client = client.clone();
                let applying = applying.clone();
                let listener =
                    Closure::<dyn FnMut(StorageEvent)>::new(move |event: StorageEvent| {
                        // `key` is null when another tab called `localStorage.clear()`.
                        let ours = event.key().is_none_or(|key| {
                            key == nhost_core::SESSION_KEY || key == nhost_core::REFRESH_TOKEN_KEY
                        });
                        if ours {
                            applying.set(true);
                            client.sync_from_storage();
                            applying.set(false);
                        }
                    });
                window
                    .add_event_listener_with_callback("storage", listener.as_ref().unchecked_ref())
                    .ok()
                    .map(|()| (window, listener))
            }
            _ => None,
        };

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
            on_storage,
            _subscription: subscription,
        })
    }
}

impl Drop for TabSync {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
        if let Some((window, listener)) = &self.on_storage {
            let _ = window
                .remove_event_listener_with_callback("storage", listener.as_ref().unchecked_ref());
        }
    }
}
