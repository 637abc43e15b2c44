//! The page, as Yew components rendered on the server. The hooks (`use_authentication_status`,
//! `use_user_data`, …) read the session the provider was seeded with; the buttons are plain HTML
//! forms, so everything works without JavaScript.

use nhost_ssr::nhost_core::{AuthError, NhostClient, Session};
use nhost_yew::prelude::*;
use yew::ServerRenderer;
use yew::prelude::*;

/// A message shown above the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Deanonymization needs the email verified first.
    CheckMailbox,
    /// The user is now registered.
    Deanonymized,
    /// An action failed.
    Error(AuthError),
}

/// What a page is rendered from.
#[derive(Properties, PartialEq, Clone)]
pub struct PageProps {
    /// The request's client (seeded with its session).
    pub client: NhostClient,
    /// The session to render with.
    pub session: Option<Session>,
    /// A message to show.
    pub notice: Option<Notice>,
}

/// Renders the whole HTML document.
pub async fn render(props: PageProps) -> String {
    let body = ServerRenderer::<Page>::with_props(move || props)
        .render()
        .await;
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>nhost-rs · axum SSR</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         dt{{font-weight:bold}}form{{margin:1rem 0}}.error{{color:#b00}}</style>\
         </head><body>{body}</body></html>"
    )
}

#[component]
fn Page(props: &PageProps) -> Html {
    html! {
        <NhostProvider client={props.client.clone()} initial_session={props.session.clone()}>
            <main>
                <h1>{ "nhost-rs · axum SSR" }</h1>
                { notice(props.notice.as_ref()) }
                <Home />
            </main>
        </NhostProvider>
    }
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
        Some(Notice::Error(e)) => html! {
            <p id="error" class="error" role="alert" data-status={e.status.to_string()} data-error={e.error.as_str().to_owned()}>
                { format!("{} ({}, status {})", e.message, e.error.as_str(), e.status) }
            </p>
        },
    }
}

#[component]
fn Home() -> Html {
    let status = use_authentication_status();
    let user = use_user_data();
    let claims = use_hasura_claims();
    let session = use_session();
    let anonymous = use_user_is_anonymous();
    let user_id = use_user_id();
    if !status.is_authenticated {
        return html! {
            <section>
                <p data-testid="status">{ "You are signed out." }</p>
                <form method="post" action="/auth/sign-in/anonymous">
                    <button id="sign-in" type="submit">{ "Sign in anonymously" }</button>
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
            <form method="post" action="/auth/sign-out">
                <button id="sign-out" type="submit">{ "Sign out" }</button>
            </form>
            if anonymous {
                <form id="deanonymize" method="post" action="/auth/deanonymize">
                    <h2>{ "Keep your account" }</h2>
                    <label>{ "Email " }<input name="email" type="email" required=true autocomplete="email" /></label>
                    <label>{ " Password " }<input name="password" type="password" required=true minlength="9" autocomplete="new-password" /></label>
                    <button type="submit">{ "Deanonymize" }</button>
                </form>
            }
        </section>
    }
}
