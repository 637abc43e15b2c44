//! The browser half: the seed's component, made real.

use nhost_core::{DeanonymizeMethod, NhostClient, SignOutScope, SignUpOptions};
use nhost_yew::prelude::*;
use web_sys::HtmlInputElement;
use yew::prelude::*;

pub(crate) fn main() {
    yew::Renderer::<App>::new().render();
}

/// The auth URL from `<meta name="nhost-auth-url">`, written by the server.
fn auth_url() -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| {
            d.query_selector(r#"meta[name="nhost-auth-url"]"#)
                .ok()
                .flatten()
        })
        .and_then(|m| m.get_attribute("content"))
        .unwrap_or_else(|| "http://127.0.0.1:4000".to_owned())
}

/// This app's own address (origin and path, no query): where email links lead back to.
fn app_address() -> Option<String> {
    let location = web_sys::window()?.location();
    Some(format!(
        "{}{}",
        location.origin().ok()?,
        location.pathname().ok()?
    ))
}

#[component]
fn App() -> Html {
    let client = use_memo((), |_| {
        NhostClient::builder()
            .auth_url(auth_url())
            .build()
            // Display, not `expect`'s Debug: the bundle then carries no Debug of the error.
            .unwrap_or_else(|e| panic!("the auth URL is not valid: {e}"))
    });
    html! {
        <NhostProvider client={(*client).clone()}>
            <main>
                <h1>{ "nhost-yew" }</h1>
                <EmailLink />
                <AnonymousSignIn />
                <SignedIn><Profile /></SignedIn>
                // Outside `SignedIn`: when the server wants the email verified it ends the
                // session, and "check your mailbox" must outlive it.
                <Deanonymize />
                <SignedIn><SignOut /></SignedIn>
            </main>
        </NhostProvider>
    }
}

/// How the email link this page was opened with went (the provider completes it on start-up).
#[component]
fn EmailLink() -> Html {
    let link = use_email_link();
    let done = match link.link_type.as_deref() {
        Some("emailVerify") => "Your email is verified: you are signed in.",
        Some("signinPasswordless") => "You are signed in with your magic link.",
        _ => "You are signed in with the link from your email.",
    };
    html! {
        <>
            if link.is_loading { <p id="email-link-loading">{ "Completing the link from your email…" }</p> }
            if link.is_success { <p id="email-link">{ done }</p> }
            if let Some(e) = &link.error {
                <p id="email-link-error">{ format!("This email link did not work: {} ({})", e.message, e.error) }</p>
            }
        </>
    }
}

#[component]
fn AnonymousSignIn() -> Html {
    let anon = use_anonymous_sign_in();
    html! {
        <div>
            <button id="sign-in" onclick={anon.sign_in_anonymous.reform(|_| ())} disabled={anon.is_loading}>
                { "Anonymous sign-in" }
            </button>
            if anon.is_success { <div id="success">{ "You are now signed in anonymously" }</div> }
            if let Some(e) = &anon.error { <div id="error">{ format!("{} ({}, {})", e.message, e.error, e.status) }</div> }
        </div>
    }
}

#[component]
fn Profile() -> Html {
    let id = use_user_id();
    let claims = use_hasura_claims();
    let anonymous = use_user_is_anonymous();
    let session = use_session();
    // Re-render every second for the countdown.
    let tick = use_state(|| 0u32);
    {
        let tick = tick.clone();
        use_effect_with((), move |_| {
            let interval = gloo_timers::callback::Interval::new(1_000, move || tick.set(*tick + 1));
            move || drop(interval)
        });
    }
    let left = session.map(|s| s.expires_in().as_secs()).unwrap_or(0);
    html! {
        <dl>
            <dt>{ "user id" }</dt><dd data-testid="user-id">{ id.unwrap_or_default() }</dd>
            <dt>{ "default role" }</dt><dd data-testid="default-role">{ claims.map(|c| c.default_role).unwrap_or_default() }</dd>
            <dt>{ "is anonymous" }</dt><dd data-testid="is-anonymous">{ anonymous.to_string() }</dd>
            <dt>{ "access token expires in" }</dt><dd data-testid="expires-in">{ format!("{left} s") }</dd>
        </dl>
    }
}

#[component]
fn Deanonymize() -> Html {
    let upgrade = use_deanonymize();
    let anonymous = use_user_is_anonymous();
    let email = use_node_ref();
    let password = use_node_ref();
    let onsubmit = {
        let (email, password) = (email.clone(), password.clone());
        upgrade.deanonymize.reform(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            (
                DeanonymizeMethod::EmailPassword {
                    email: value(&email),
                    password: value(&password),
                },
                // When the server wants the email verified, its link leads back to this app,
                // whose provider completes it.
                app_address().map(|a| SignUpOptions::default().redirect_to(a)),
            )
        })
    };
    html! {
        <>
            if anonymous {
                <form id="deanonymize" {onsubmit}>
                    <input ref={email} name="email" type="email" placeholder="email" />
                    <input ref={password} name="password" type="password" placeholder="password" />
                    <button type="submit" disabled={upgrade.is_loading}>{ "Keep my account" }</button>
                </form>
            }
            if upgrade.needs_email_verification { <p id="check-mailbox">{ "Check your mailbox" }</p> }
            if let Some(e) = &upgrade.error { <p id="deanonymize-error">{ format!("{} ({})", e.message, e.error) }</p> }
        </>
    }
}

#[component]
fn SignOut() -> Html {
    let out = use_sign_out();
    html! { <button id="sign-out" onclick={out.sign_out.reform(|_| SignOutScope::ThisDevice)}>{ "Sign out" }</button> }
}
