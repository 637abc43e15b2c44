//! The page's Yew components — one set for both sides. The server renders them with the
//! request's client (`ServerRenderer`, in `server.rs`); the browser hydrates the same HTML with
//! a client in server-session mode ([`nhost_yew::hydration::client`]), which talks to the
//! site's `/_nhost/*` endpoints and never sees the refresh token.
//!
//! Progressive enhancement: every action is an HTML form that posts to the site's
//! `/auth/*` routes, so the page works without JavaScript and before the bundle has loaded.
//! Once hydrated, each form's `submit` is taken over by a hook (`use_anonymous_sign_in`,
//! `use_sign_out`, `use_deanonymize`): no navigation, the page updates in place.
//!
//! Components touch browser APIs only in callbacks and effects, which never run on the server.

use nhost_yew::nhost_core::{AuthError, DeanonymizeMethod, NhostClient, SignOutScope};
use nhost_yew::prelude::*;
use serde::{Deserialize, Serialize};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// The `id` of the `<script type="application/json">` holding the page's [`Notice`], so that
/// the browser hydrates with the props the server rendered with.
pub const NOTICE_SCRIPT_ID: &str = "page-notice";

/// A message shown above the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Notice {
    /// Deanonymization needs the email verified first.
    CheckMailbox,
    /// The user is now registered.
    Deanonymized,
    /// An email link was followed and completed: signed in as its user.
    LinkCompleted,
    /// An action failed.
    Error {
        /// What failed, as the visitor may read it.
        error: AuthError,
    },
}

/// What the page is rendered from, on the server and in the browser alike.
#[derive(Properties, PartialEq, Clone)]
pub struct AppProps {
    /// On the server: the request's client, holding its session. In the browser: the
    /// server-session client started from the page's `<script id="nhost-session">`.
    pub client: NhostClient,
    /// The message the server rendered the page with.
    pub notice: Option<Notice>,
}

/// The whole `<body>`: the provider, the heading and [`Home`].
#[component]
pub fn App(props: &AppProps) -> Html {
    // Runs in the browser only, after the first render — that is, once hydrated.
    use_effect_with((), |_| {
        if let Some(html) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = html.set_attribute("data-hydrated", "true");
        }
    });
    html! {
        <NhostProvider client={props.client.clone()}>
            <main>
                <h1>{ "nhost-rs · axum SSR" }</h1>
                <Home notice={props.notice.clone()} />
            </main>
        </NhostProvider>
    }
}

#[derive(Properties, PartialEq)]
struct HomeProps {
    notice: Option<Notice>,
}

/// The outcome of the last action taken in the browser, if any, else the server's notice.
fn current_notice(
    server: Option<&Notice>,
    anon: &UseAnonymousSignInHandle,
    sign_out: &UseSignOutHandle,
    upgrade: &UseDeanonymizeHandle,
) -> Option<Notice> {
    let failed = [&anon.error, &sign_out.error, &upgrade.error]
        .into_iter()
        .find_map(|e| e.clone());
    if let Some(error) = failed {
        return Some(Notice::Error { error });
    }
    if upgrade.needs_email_verification {
        return Some(Notice::CheckMailbox);
    }
    if upgrade.is_success {
        return Some(Notice::Deanonymized);
    }
    if anon.is_success || sign_out.is_success {
        return None;
    }
    server.cloned()
}

fn notice(notice: Option<&Notice>) -> Html {
    match notice {
        None => html! {},
        Some(Notice::CheckMailbox) => html! {
            <p id="notice" role="status">{ "Check your mailbox: follow the link we sent to finish signing up." }</p>
        },
        Some(Notice::Deanonymized) => html! {
            <p id="notice" role="status">{ "You are now a registered user." }</p>
        },
        Some(Notice::LinkCompleted) => html! {
            <p id="notice" role="status">{ "Your email is verified: you are signed in." }</p>
        },
        Some(Notice::Error { error: e }) => html! {
            <p id="error" class="error" role="alert" data-status={e.status.to_string()} data-error={e.error.as_str().to_owned()}>
                { format!("{} ({}, status {})", e.message, e.error.as_str(), e.status) }
            </p>
        },
    }
}

#[component]
fn Home(props: &HomeProps) -> Html {
    let status = use_authentication_status();
    let user = use_user_data();
    let claims = use_hasura_claims();
    let session = use_session();
    let anonymous = use_user_is_anonymous();
    let user_id = use_user_id();
    let anon = use_anonymous_sign_in();
    let sign_out = use_sign_out();
    let upgrade = use_deanonymize();
    let email = use_node_ref();
    let password = use_node_ref();

    let shown = current_notice(props.notice.as_ref(), &anon, &sign_out, &upgrade);
    let busy = anon.is_loading || sign_out.is_loading || upgrade.is_loading;
    // With JavaScript, the forms' submits run the hooks instead of posting.
    let on_sign_in = anon
        .sign_in_anonymous
        .reform(|e: SubmitEvent| e.prevent_default());
    let on_sign_out = sign_out.sign_out.reform(|e: SubmitEvent| {
        e.prevent_default();
        SignOutScope::ThisDevice
    });
    let on_deanonymize = {
        let (email, password) = (email.clone(), password.clone());
        upgrade.deanonymize.reform(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let method = DeanonymizeMethod::EmailPassword {
                email: value(&email).trim().to_owned(),
                password: value(&password),
            };
            (method, None)
        })
    };

    if !status.is_authenticated {
        return html! {
            <section>
                { notice(shown.as_ref()) }
                <p data-testid="status">{ "You are signed out." }</p>
                <form method="post" action="/auth/sign-in/anonymous" onsubmit={on_sign_in}>
                    <button id="sign-in" type="submit" disabled={busy}>{ "Sign in anonymously" }</button>
                </form>
                // A plain form with or without JavaScript: the link it asks for is completed on
                // the server (`/_nhost/callback`), with the PKCE verifier kept in a sealed cookie.
                <form id="magic-link" method="post" action="/auth/sign-in/magic-link">
                    <label>{ "Email " }<input name="email" type="email" required=true autocomplete="email" /></label>
                    <button type="submit">{ "Email me a sign-in link" }</button>
                </form>
            </section>
        };
    }
    let expires = session
        .as_ref()
        .map(|s| {
            format!(
                "{} (Unix time; in {} s)",
                s.access_token_expires_at,
                s.expires_in().as_secs()
            )
        })
        .unwrap_or_default();
    html! {
        <section>
            { notice(shown.as_ref()) }
            <p data-testid="status">{ "You are signed in." }</p>
            <dl>
                <dt>{ "User id" }</dt>
                <dd data-testid="user-id">{ user_id.unwrap_or_default() }</dd>
                <dt>{ "Display name" }</dt>
                <dd data-testid="display-name">{ user.map(|u| u.display_name).unwrap_or_default() }</dd>
                <dt>{ "Default role" }</dt>
                <dd data-testid="default-role">{ claims.map(|c| c.default_role).unwrap_or_default() }</dd>
                <dt>{ "Anonymous" }</dt>
                <dd data-testid="is-anonymous">{ anonymous.to_string() }</dd>
                <dt>{ "Access token expires" }</dt>
                <dd data-testid="expires-at">{ expires }</dd>
            </dl>
            <form method="post" action="/auth/sign-out" onsubmit={on_sign_out}>
                <button id="sign-out" type="submit" disabled={busy}>{ "Sign out" }</button>
            </form>
            if anonymous {
                <form id="deanonymize" method="post" action="/auth/deanonymize" onsubmit={on_deanonymize}>
                    <h2>{ "Keep your account" }</h2>
                    <label>{ "Email " }<input ref={email} name="email" type="email" required=true autocomplete="email" /></label>
                    <label>{ " Password " }<input ref={password} name="password" type="password" required=true minlength="9" autocomplete="new-password" /></label>
                    <button type="submit" disabled={busy}>{ "Deanonymize" }</button>
                </form>
            }
        </section>
    }
}

/// The browser's entry point: reads the page's session and notice, then hydrates the server's
/// HTML with [`App`].
#[cfg(target_arch = "wasm32")]
pub fn hydrate() {
    let client = nhost_yew::hydration::client("/_nhost")
        // Display, not `expect`'s Debug: the bundle then carries no Debug of the error.
        .unwrap_or_else(|e| panic!("the session endpoints' path is not valid: {e}"));
    let notice = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(NOTICE_SCRIPT_ID))
        .and_then(|e| e.text_content())
        .and_then(|text| serde_json::from_str::<Option<Notice>>(&text).ok())
        .flatten();
    yew::Renderer::<App>::with_props(AppProps { client, notice }).hydrate();
}
