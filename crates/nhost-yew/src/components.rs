//! `NhostProvider` and the `SignedIn` / `SignedOut` guards.

use nhost_core::{NhostClient, Session};
use yew::prelude::*;

use crate::context::NhostContext;
use crate::hooks::use_authentication_status;

/// Properties of [`NhostProvider`].
#[derive(Properties, PartialEq)]
pub struct NhostProviderProps {
    /// The client the hooks below use.
    pub client: NhostClient,
    /// A session to start with — the one a server rendered the page with — adopted (without any
    /// request) when the client holds none. Pass it as [`Session::handed_over`] makes it on the
    /// sender's side: its `access_token_expires_in` is counted from this client's clock.
    ///
    /// A page hydrated in the browser starts its client from the page instead
    /// ([`hydration::client`](crate::hydration::client)): the client then already holds the
    /// server's state — signed in or signed out — at the first render, and this is not needed.
    #[prop_or_default]
    pub initial_session: Option<Session>,
    /// The app.
    #[prop_or_default]
    pub children: Html,
}

/// Gives every hook below it the client. In the browser it also restores the stored session
/// (`initialize`) and keeps tabs of the same origin in step (`BroadcastChannel`).
///
/// ```
/// use nhost_yew::prelude::*;
/// use yew::prelude::*;
///
/// #[component]
/// fn App() -> Html {
///     let client = use_memo((), |_| {
///         nhost_core::NhostClient::builder().subdomain("myapp").region("eu-central-1").build().expect("valid")
///     });
///     html! { <NhostProvider client={(*client).clone()}>{ "…" }</NhostProvider> }
/// }
/// ```
#[component]
pub fn NhostProvider(props: &NhostProviderProps) -> Html {
    // Once, during the first render, so that server rendering sees the session too.
    let _adopted = use_state(|| {
        if let Some(session) = &props.initial_session
            && !props.client.is_authenticated()
        {
            props.client.adopt_session(session.clone());
        }
    });
    // Effects never run on the server; in the browser this one restores the stored session and
    // joins the other tabs.
    use_effect_with(props.client.clone(), start_in_browser);
    let context = NhostContext {
        client: props.client.clone(),
    };
    html! {
        <ContextProvider<NhostContext> {context}>
            { props.children.clone() }
        </ContextProvider<NhostContext>>
    }
}

/// Restores the stored session and starts tab sync; the returned closure stops the sync.
#[cfg(target_arch = "wasm32")]
fn start_in_browser(client: &NhostClient) -> impl FnOnce() + use<> {
    let restoring = client.clone();
    yew::platform::spawn_local(async move {
        restoring.initialize().await;
    });
    let sync = crate::broadcast::TabSync::start(client);
    move || drop(sync)
}

/// Server side: effects never run there; this only keeps the hook call unconditional.
#[cfg(not(target_arch = "wasm32"))]
fn start_in_browser(_client: &NhostClient) -> impl FnOnce() + use<> {
    || ()
}

/// Properties of [`SignedIn`] and [`SignedOut`].
#[derive(Properties, PartialEq)]
pub struct GuardProps {
    /// What to show.
    #[prop_or_default]
    pub children: Html,
}

/// Shows its children only while a user is signed in.
#[component]
pub fn SignedIn(props: &GuardProps) -> Html {
    let status = use_authentication_status();
    if status.is_authenticated {
        props.children.clone()
    } else {
        Html::default()
    }
}

/// Shows its children only while nobody is signed in (and the stored session is not being
/// restored).
#[component]
pub fn SignedOut(props: &GuardProps) -> Html {
    let status = use_authentication_status();
    if !status.is_authenticated && !status.is_loading {
        props.children.clone()
    } else {
        Html::default()
    }
}
