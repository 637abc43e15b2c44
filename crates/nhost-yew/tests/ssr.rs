//! Every component and hook renders under Yew's `ServerRenderer` — no browser API touched — and
//! a provider seeded with a session renders the signed-in page.
#![cfg(not(target_arch = "wasm32"))]

use nhost_auth_emulator::{Config, Emulator};
use nhost_yew::nhost_core::{NhostClient, Session};
use nhost_yew::prelude::*;
use yew::ServerRenderer;
use yew::prelude::*;

#[component]
fn Everything() -> Html {
    let anon = use_anonymous_sign_in();
    let status = use_authentication_status();
    let user = use_user_data();
    let id = use_user_id();
    let anonymous = use_user_is_anonymous();
    let token = use_access_token();
    let claims = use_hasura_claims();
    let session = use_session();
    let sign_out = use_sign_out();
    let sign_in = use_sign_in_email_password();
    let sign_up = use_sign_up_email_password();
    let upgrade = use_deanonymize();
    // On the server no email link is completed: idle.
    let link = use_email_link();
    let _client = use_nhost_client();
    html! {
        <div>
            <button onclick={anon.sign_in_anonymous.reform(|_| ())}>{ "Anonymous sign-in" }</button>
            if anon.is_success { <p>{ "You are now signed in anonymously" }</p> }
            <p id="loading">{ status.is_loading }</p>
            <p id="authenticated">{ status.is_authenticated }</p>
            <p id="display-name">{ user.map(|u| u.display_name).unwrap_or_default() }</p>
            <p data-testid="user-id">{ id.unwrap_or_default() }</p>
            <p id="anonymous">{ anonymous }</p>
            <p id="has-token">{ token.is_some() }</p>
            <p id="role">{ claims.map(|c| c.default_role).unwrap_or_default() }</p>
            <p id="has-session">{ session.is_some() }</p>
            <p id="idle">{ !(sign_out.is_loading || sign_in.is_loading || sign_up.is_loading || upgrade.is_loading) }</p>
            <p id="email-link">{ link.is_loading || link.is_success || link.is_error || link.error.is_some() || link.link_type.is_some() }</p>
            <SignedIn><p>{ "members only" }</p></SignedIn>
            <SignedOut><p>{ "please sign in" }</p></SignedOut>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct AppProps {
    client: NhostClient,
    session: Option<Session>,
}

#[component]
fn App(props: &AppProps) -> Html {
    html! {
        <NhostProvider client={props.client.clone()} initial_session={props.session.clone()}>
            <Everything />
        </NhostProvider>
    }
}

async fn render(client: NhostClient, session: Option<Session>) -> String {
    ServerRenderer::<App>::with_props(move || AppProps { client, session })
        .render()
        .await
}

fn client(url: &str) -> NhostClient {
    NhostClient::builder()
        .auth_url(url)
        .auto_refresh(false)
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_seeded_provider_renders_the_signed_in_page_on_the_server() {
    let mut config = Config::default();
    config.anonymous_role = "public".into();
    let emu = Emulator::start(config).await.expect("emulator");
    let session = client(emu.url())
        .sign_in_anonymous(Default::default())
        .await
        .expect("session");
    let user_id = session.user_id().expect("user id").to_owned();

    // A fresh client per request, as a server would have: the provider adopts the session.
    let html = render(client(emu.url()), Some(session)).await;
    // Signed in, but not by a click of this page: `is_success` is the outcome of *this*
    // sign-in, so the success message is not rendered for a seeded session.
    assert!(
        !html.contains("You are now signed in anonymously"),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<p data-testid="user-id">{user_id}</p>"#)),
        "{html}"
    );
    assert!(html.contains(r#"<p id="authenticated">true</p>"#), "{html}");
    assert!(html.contains(r#"<p id="anonymous">true</p>"#), "{html}");
    assert!(html.contains(r#"<p id="role">public</p>"#), "{html}");
    assert!(
        html.contains(r#"<p id="display-name">Anonymous User</p>"#),
        "{html}"
    );
    assert!(
        html.contains("members only") && !html.contains("please sign in"),
        "{html}"
    );
    assert!(html.contains(r#"<p id="idle">true</p>"#), "{html}");
    assert!(html.contains(r#"<p id="email-link">false</p>"#), "{html}");
    assert_eq!(emu.stats().token_requests, 0, "rendering made no request");
}

#[tokio::test]
async fn without_a_session_it_renders_signed_out() {
    let html = render(client("http://127.0.0.1:9"), None).await;
    assert!(
        html.contains(r#"<p id="authenticated">false</p>"#),
        "{html}"
    );
    assert!(
        !html.contains("You are now signed in anonymously"),
        "{html}"
    );
    assert!(
        html.contains("please sign in") && !html.contains("members only"),
        "{html}"
    );
    assert!(html.contains(r#"<p data-testid="user-id"></p>"#), "{html}");
}

/// The page's hydration data as nhost-ssr's `session_script` writes it (between the tags):
/// `{"session": {accessToken, accessTokenExpiresIn, user} | null}`.
fn page_json(session: Option<&Session>) -> String {
    serde_json::json!({
        "session": session.map(|s| serde_json::json!({
            "accessToken": s.access_token.expose(),
            "accessTokenExpiresIn": s.expires_in().as_secs(),
            "user": s.user,
        })),
    })
    .to_string()
}

/// The browser's client of a hydrated page, started from the page's data (natively the
/// endpoints need an absolute URL; nothing listens there — a request would change the state).
fn hydrated_client(page: &str) -> NhostClient {
    NhostClient::builder()
        .session_endpoints("http://127.0.0.1:9/_nhost")
        .server_rendered(Session::from_public_json(page).expect("readable"))
        .build()
        .expect("client")
}

/// Hydration: the browser's first render — a client in server-session mode started from the
/// page's session, no `initial_session` prop — is the server's HTML, signed in and signed out.
/// (Without `server_rendered` the browser's client starts `Loading`: `is_loading` true and the
/// guards empty, a different page.)
#[tokio::test]
async fn the_browsers_first_render_from_the_page_equals_the_servers() {
    let mut config = Config::default();
    config.anonymous_role = "public".into();
    let emu = Emulator::start(config).await.expect("emulator");
    let session = client(emu.url())
        .sign_in_anonymous(Default::default())
        .await
        .expect("session");

    let server = render(client(emu.url()), Some(session.clone())).await;
    let browser = render(hydrated_client(&page_json(Some(&session))), None).await;
    assert_eq!(browser, server);
    assert!(server.contains("members only"), "{server}");

    let server = render(client(emu.url()), None).await;
    let browser = render(hydrated_client(&page_json(None)), None).await;
    assert_eq!(browser, server);
    assert!(server.contains("please sign in"), "{server}");

    // Without the page's data the client would start `Loading`: not the server's page.
    let loading = NhostClient::builder()
        .session_endpoints("http://127.0.0.1:9/_nhost")
        .build()
        .expect("client");
    assert_ne!(render(loading, None).await, server);
    assert_eq!(emu.stats().token_requests, 0, "rendering made no request");
}
