//! Cross-tab sync over `BroadcastChannel`: a sign-in, refresh or sign-out in one tab reaches the
//! other tabs of the origin, which adopt the new session without a `/token` call of their own —
//! so no tab ever refreshes with a token another tab has rotated away.

use std::cell::Cell;
use std::rc::Rc;

use nhost_core::{AuthChange, NhostClient, Session, Subscription};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::Closure;
use web_sys::{BroadcastChannel, MessageEvent};

const CHANNEL: &str = "nhost-rs-auth";

/// Live while the provider is mounted; dropping it closes the channel.
pub(crate) struct TabSync {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _subscription: Subscription,
}

impl TabSync {
    /// `None` where the browser has no `BroadcastChannel`: tabs then meet in `localStorage` only.
    pub(crate) fn start(client: &NhostClient) -> Option<TabSync> {
        let channel = BroadcastChannel::new(CHANNEL).ok()?;
        // Set while applying a message from another tab, so that applying it is not broadcast back.
        let applying = Rc::new(Cell::new(false));

        let on_message = {
            let client = client.clone();
            let applying = applying.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(text) = event.data().as_string() else {
                    return;
                };
                let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
                    return;
                };
                applying.set(true);
                match message.get("type").and_then(|t| t.as_str()) {
                    Some("session") => {
                        let current = client.session().map(|s| s.refresh_token);
                        if let Some(session) = message
                            .get("session")
                            .and_then(|s| serde_json::from_value::<Session>(s.clone()).ok())
                            && current.as_ref() != Some(&session.refresh_token)
                        {
                            client.adopt_session(session);
                        }
                    }
                    Some("signed-out") if client.is_authenticated() => client.forget_session(),
                    _ => {}
                }
                applying.set(false);
            })
        };
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let subscription = {
            let channel = channel.clone();
            client.on_auth_state_changed(move |change| {
                if applying.get() {
                    return;
                }
                let message = match change {
                    AuthChange::SignedIn(s) | AuthChange::TokenRefreshed(s) => {
                        serde_json::json!({ "type": "session", "session": s })
                    }
                    AuthChange::SignedOut => serde_json::json!({ "type": "signed-out" }),
                };
                let _ = channel.post_message(&message.to_string().into());
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
