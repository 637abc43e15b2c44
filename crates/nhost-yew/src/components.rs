//! `NhostProvider` and the `SignedIn` / `SignedOut` guards.

use nhost_core::{NhostClient, Session};
use yew::prelude::*;

use crate::context::NhostContext;
#[cfg(feature = "email-links")]
use crate::hooks::UseEmailLinkHandle;
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
/// (`initialize`), keeps tabs of the same origin in step (`BroadcastChannel`) and, when the page
/// was opened from an email link (`?code=…`, `?refreshToken=…` or `?error=…`), completes it and
/// takes its parameters out of the address bar — in direct mode, with the `email-links` feature
/// (on by default); in server-session mode the site's callback route completes links.
/// [`use_email_link`](crate::use_email_link) tells how it went.
///
/// A session held when the link arrives (the stored anonymous session of a user who has just
/// verified their email, or another user's) is replaced by the link's — as nhost-js's
/// `autoSignIn` does — once the link has given one; a link that fails changes nothing.
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
    #[cfg(feature = "email-links")]
    let email_link = use_state_eq(UseEmailLinkHandle::default);
    #[cfg(feature = "email-links")]
    let link_setter = email_link.setter();
    #[cfg(not(feature = "email-links"))]
    let link_setter = ();
    // Effects never run on the server; in the browser this one restores the stored session,
    // completes the page's email link and joins the other tabs.
    use_effect_with(props.client.clone(), move |client| {
        start_in_browser(client, link_setter)
    });
    let context = NhostContext {
        client: props.client.clone(),
        #[cfg(feature = "email-links")]
        email_link: (*email_link).clone(),
    };
    html! {
        <ContextProvider<NhostContext> {context}>
            { props.children.clone() }
        </ContextProvider<NhostContext>>
    }
}

/// Where the provider puts the email link's outcome: its state's setter (nothing without the
/// `email-links` feature).
#[cfg(feature = "email-links")]
type LinkSetter = UseStateSetter<UseEmailLinkHandle>;
#[cfg(not(feature = "email-links"))]
type LinkSetter = ();

/// Restores the stored session — completing the page's email link, if any (direct mode only) —
/// and starts tab sync; the returned closure stops the sync.
#[cfg(all(target_arch = "wasm32", feature = "email-links"))]
fn start_in_browser(client: &NhostClient, link_setter: LinkSetter) -> impl FnOnce() + use<> {
    let landing = if client.session_endpoints().is_none() {
        crate::email_link::take_from_address_bar()
    } else {
        None
    };
    if let Some(landing) = &landing {
        link_setter.set(UseEmailLinkHandle {
            is_loading: true,
            link_type: landing.link_type.clone(),
            ..UseEmailLinkHandle::default()
        });
    }
    let starting = client.clone();
    yew::platform::spawn_local(async move {
        let Some(landing) = landing else {
            starting.initialize().await;
            return;
        };
        let outcome = crate::email_link::complete(&starting, &landing).await;
        let error = outcome.as_ref().err().cloned();
        link_setter.set(UseEmailLinkHandle {
            is_loading: false,
            is_success: matches!(outcome, Ok(Some(_))),
            is_error: error.is_some(),
            error,
            link_type: landing.link_type,
        });
    });
    let sync = crate::broadcast::TabSync::start(client);
    move || drop(sync)
}

/// Restores the stored session and starts tab sync; the returned closure stops the sync. Email
/// links are left alone (no `email-links` feature): compiled out rather than skipped, so that
/// none of the completion's code stays in the bundle.
#[cfg(all(target_arch = "wasm32", not(feature = "email-links")))]
fn start_in_browser(client: &NhostClient, (): LinkSetter) -> impl FnOnce() + use<> {
    let starting = client.clone();
    yew::platform::spawn_local(async move {
        starting.initialize().await;
    });
    let sync = crate::broadcast::TabSync::start(client);
    move || drop(sync)
}

/// Server side: effects never run there; this only keeps the hook call unconditional.
#[cfg(not(target_arch = "wasm32"))]
fn start_in_browser(_client: &NhostClient, _link_setter: LinkSetter) -> impl FnOnce() + use<> {
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
