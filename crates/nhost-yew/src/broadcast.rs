//! Cross-tab sync over `BroadcastChannel`: a sign-in, refresh or sign-out in one tab reaches the
//! other tabs of the origin, which adopt the new session without a `/token` call of their own —
//! so no tab ever refreshes with a token another tab has rotated away.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{JSON, Object, Reflect};
use nhost_core::{__browser, AuthChange, NhostClient, Subscription};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::JsValue;
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
                let Some(message) = event.data().as_string().and_then(|t| JSON::parse(&t).ok())
                else {
                    return;
                };
                let field = |key: &str| Reflect::get(&message, &key.into()).ok();
                applying.set(true);
                match field("type").and_then(|t| t.as_string()).as_deref() {
                    Some("session") => {
                        let current = client.session().map(|s| s.refresh_token);
                        if let Some(session) =
                            field("session").and_then(|s| __browser::session_from_js(&s))
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
                // `{"type": "session", "session": …}` or `{"type": "signed-out"}`, as JSON text.
                let message = Object::new();
                let set = |key: &str, value: JsValue| {
                    let _ = Reflect::set(&message, &key.into(), &value);
                };
                match change {
                    AuthChange::SignedIn(s) | AuthChange::TokenRefreshed(s) => {
                        set("type", "session".into());
                        set("session", __browser::session_to_js(s));
                    }
                    AuthChange::SignedOut => set("type", "signed-out".into()),
                }
                if let Ok(text) = JSON::stringify(&message) {
                    let _ = channel.post_message(&text);
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
