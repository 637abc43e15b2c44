//! Hydration in a real browser (headless Chromium, via `wasm-bindgen-test-runner`): a page the
//! server rendered with a session — or signed out — is hydrated by a client in server-session
//! mode started from the page's `<script id="nhost-session">`: no mismatch (Yew panics on one
//! in an element; a text is compared here), the DOM unchanged, and no request at all.
//!
//! The "server" render runs here too, with Yew's `LocalServerRenderer` and a client holding the
//! session the way a server's does. Nothing here talks to an auth server. Natively this file is
//! empty.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use nhost_core::{MemoryStorage, NhostClient, Session};
use nhost_yew::prelude::*;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use yew::LocalServerRenderer;
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

const USER_ID: &str = "5f0c7c4e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

/// A JWT (unsigned: nothing here verifies it) with the Hasura claims of an anonymous `public`
/// user `USER_ID`.
const ACCESS_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJodHRwczovL2hhc3VyYS5pby9qd3QvY2xhaW1zIjp7IngtaGFzdXJhLXVzZXItaWQiOiI1ZjBjN2M0ZS0xYjJhLTRjM2QtOWU4Zi0wYTFiMmMzZDRlNWYiLCJ4LWhhc3VyYS1kZWZhdWx0LXJvbGUiOiJwdWJsaWMiLCJ4LWhhc3VyYS1hbGxvd2VkLXJvbGVzIjpbInB1YmxpYyJdLCJ4LWhhc3VyYS11c2VyLWlzLWFub255bW91cyI6InRydWUifSwic3ViIjoiNWYwYzdjNGUtMWIyYS00YzNkLTllOGYtMGExYjJjM2Q0ZTVmIn0.c2ln";

/// The JSON nhost-ssr's `session_script` writes for a signed-in page — `<`, `>` and `&` in the
/// user's strings escaped as it escapes them.
fn signed_in_page() -> String {
    format!(
        r#"{{"session":{{"accessToken":"{ACCESS_TOKEN}","accessTokenExpiresIn":900,"user":{{"id":"{USER_ID}","displayName":"Ann \u003cb\u003e \u0026 co","isAnonymous":true,"defaultRole":"public","roles":["public"],"metadata":null}}}}}}"#
    )
}

const SIGNED_OUT_PAGE: &str = r#"{"session":null}"#;

#[derive(Properties, PartialEq)]
struct AppProps {
    client: NhostClient,
}

#[component]
fn App(props: &AppProps) -> Html {
    html! {
        <NhostProvider client={props.client.clone()}>
            <Panel />
        </NhostProvider>
    }
}

/// Every derived hook, and the guards: elements that exist on one side only would be a mismatch.
#[component]
fn Panel() -> Html {
    let anon = use_anonymous_sign_in();
    let status = use_authentication_status();
    let user = use_user_data();
    let user_id = use_user_id();
    let is_anonymous = use_user_is_anonymous();
    let token = use_access_token();
    let claims = use_hasura_claims();
    let session = use_session();
    html! {
        <div>
            <button id="anon" onclick={anon.sign_in_anonymous.reform(|_| ())}>{ "Anonymous sign-in" }</button>
            if anon.is_success { <p>{ "You are now signed in anonymously" }</p> }
            <span data-testid="auth-loading">{ status.is_loading.to_string() }</span>
            <span data-testid="authenticated">{ status.is_authenticated.to_string() }</span>
            <span data-testid="display-name">{ user.map(|u| u.display_name).unwrap_or_default() }</span>
            <span data-testid="user-id">{ user_id.unwrap_or_default() }</span>
            <span data-testid="is-anonymous">{ is_anonymous.to_string() }</span>
            <span data-testid="has-token">{ token.is_some().to_string() }</span>
            <span data-testid="default-role">{ claims.map(|c| c.default_role).unwrap_or_default() }</span>
            <span data-testid="has-session">{ session.is_some().to_string() }</span>
            <SignedIn><p data-testid="members">{ "members only" }</p></SignedIn>
            <SignedOut><p data-testid="guests">{ "please sign in" }</p></SignedOut>
        </div>
    }
}

/// What the server renders: its own client, holding the request's session (direct mode, as
/// nhost-ssr's `NhostAuth` gives handlers), or none.
async fn server_render(page: &str) -> String {
    let mut server = NhostClient::builder()
        .auth_url("http://127.0.0.1:9")
        .storage(MemoryStorage::default())
        .auto_refresh(false);
    if let Some(session) = Session::from_public_json(page).expect("page JSON") {
        server = server.initial_session(session);
    }
    let client = server.build().expect("server client");
    LocalServerRenderer::<App>::with_props(AppProps { client })
        .render()
        .await
}

/// Counts every `fetch` the page makes while it lives.
struct Fetches;

impl Fetches {
    fn install() -> Fetches {
        js_sys::Function::new_no_args(
            "if (!window.__hydrationOriginalFetch) {
                window.__hydrationOriginalFetch = window.fetch;
                window.fetch = function (input, init) {
                    window.__hydrationFetches = (window.__hydrationFetches || 0) + 1;
                    return window.__hydrationOriginalFetch.call(this, input, init);
                };
            }
            window.__hydrationFetches = 0;",
        )
        .call0(&wasm_bindgen::JsValue::NULL)
        .expect("wrap fetch");
        Fetches
    }

    fn count(&self) -> u32 {
        js_sys::Function::new_no_args("return window.__hydrationFetches || 0;")
            .call0(&wasm_bindgen::JsValue::NULL)
            .ok()
            .and_then(|v| v.as_f64())
            .expect("a count") as u32
    }
}

impl Drop for Fetches {
    fn drop(&mut self) {
        let _ = js_sys::Function::new_no_args(
            "if (window.__hydrationOriginalFetch) {
                window.fetch = window.__hydrationOriginalFetch;
                delete window.__hydrationOriginalFetch;
            }",
        )
        .call0(&wasm_bindgen::JsValue::NULL);
    }
}

/// The page as a server sends it: the hydration script (as `session_script` writes it) and the
/// server's HTML in a fresh root. Both are removed on drop.
struct ServedPage {
    script: web_sys::Element,
    root: web_sys::Element,
}

impl ServedPage {
    fn new(page_json: &str, server_html: &str) -> ServedPage {
        let document = web_sys::window()
            .expect("a window")
            .document()
            .expect("a document");
        // A test that failed before could not clean up (wasm panics abort): one script only.
        while let Some(stale) = document.get_element_by_id(nhost_yew::hydration::SESSION_SCRIPT_ID)
        {
            stale.remove();
        }
        let script = document.create_element("script").expect("createElement");
        script
            .set_attribute("type", "application/json")
            .expect("type");
        script
            .set_attribute("id", nhost_yew::hydration::SESSION_SCRIPT_ID)
            .expect("id");
        script.set_text_content(Some(page_json));
        let body = document.body().expect("a body");
        body.append_child(&script).expect("appendChild");
        let root = document.create_element("div").expect("createElement");
        root.set_inner_html(server_html);
        body.append_child(&root).expect("appendChild");
        ServedPage { script, root }
    }

    fn text(&self, test_id: &str) -> String {
        self.root
            .query_selector(&format!("[data-testid=\"{test_id}\"]"))
            .expect("a valid selector")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }
}

impl Drop for ServedPage {
    fn drop(&mut self) {
        self.script.remove();
        self.root.remove();
    }
}

/// The HTML without comments: Yew's hydration markers (`<!--<[…]>-->`) are removed once
/// hydrated.
fn without_comments(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Serves the page, hydrates it with the browser's client built from the page's script (the
/// app's `main`), lets effects and any start-up work run, and checks the page did not change
/// and made no request. Returns the page for more checks.
async fn hydrate_and_check(page_json: &str) -> (ServedPage, yew::AppHandle<App>, NhostClient) {
    let server_html = server_render(page_json).await;
    let served = ServedPage::new(page_json, &server_html);
    let fetches = Fetches::install();

    // The app's `main`: read the page's session, build the client, hydrate.
    let rendered = nhost_yew::hydration::server_session();
    assert_eq!(
        rendered.as_ref().map(Option::is_some),
        Some(page_json != SIGNED_OUT_PAGE),
        "the page's script was read"
    );
    let client = nhost_yew::hydration::client("/_nhost").expect("browser client");
    assert_eq!(client.session_endpoints(), Some("/_nhost"));
    assert!(
        !matches!(client.auth_state(), nhost_core::AuthState::Loading),
        "started from the page, not Loading"
    );

    // The browser's first render, as a string, is the server's: text included (Yew checks the
    // elements while hydrating, not the texts).
    let first_render = LocalServerRenderer::<App>::with_props(AppProps {
        client: client.clone(),
    })
    .render()
    .await;
    assert_eq!(first_render, server_html, "the first render differs");

    let before = without_comments(&served.root.inner_html());
    let app = yew::Renderer::<App>::with_root_and_props(
        served.root.clone(),
        AppProps {
            client: client.clone(),
        },
    )
    .hydrate();
    // Hydration, the provider's effects (initialize, tab sync) and any re-render they cause.
    gloo_timers::future::sleep(Duration::from_millis(300)).await;
    let after = without_comments(&served.root.inner_html());
    assert_eq!(after, before, "hydration changed the page");
    assert_eq!(fetches.count(), 0, "requests made at start-up");
    drop(fetches);
    (served, app, client)
}

#[wasm_bindgen_test]
async fn a_signed_in_page_hydrates_without_a_mismatch_or_a_request() {
    let (page, app, client) = hydrate_and_check(&signed_in_page()).await;
    assert_eq!(page.text("user-id"), USER_ID);
    assert_eq!(page.text("authenticated"), "true");
    assert_eq!(page.text("auth-loading"), "false");
    assert_eq!(page.text("display-name"), "Ann <b> & co");
    assert_eq!(page.text("default-role"), "public");
    assert_eq!(page.text("is-anonymous"), "true");
    assert_eq!(page.text("members"), "members only");
    assert_eq!(page.text("guests"), "");
    let held = client.session().expect("signed in");
    assert!(held.refresh_token.is_empty() && held.refresh_token_id.is_empty());
    app.destroy();
}

#[wasm_bindgen_test]
async fn a_signed_out_page_hydrates_without_a_mismatch_or_a_request() {
    let (page, app, client) = hydrate_and_check(SIGNED_OUT_PAGE).await;
    assert_eq!(page.text("authenticated"), "false");
    assert_eq!(page.text("auth-loading"), "false");
    assert_eq!(page.text("user-id"), "");
    assert_eq!(page.text("guests"), "please sign in");
    assert_eq!(page.text("members"), "");
    assert_eq!(client.auth_state(), nhost_core::AuthState::SignedOut);
    app.destroy();
}

/// The check itself catches a client that does not start from the page: without the script it
/// starts `Loading`, and its first render is not the server's.
#[wasm_bindgen_test]
async fn without_the_pages_session_the_first_render_differs() {
    assert_eq!(nhost_yew::hydration::server_session(), None, "no script");
    let loading = nhost_yew::hydration::client("/_nhost").expect("browser client");
    assert_eq!(loading.auth_state(), nhost_core::AuthState::Loading);
    let browser = LocalServerRenderer::<App>::with_props(AppProps { client: loading })
        .render()
        .await;
    assert_ne!(browser, server_render(SIGNED_OUT_PAGE).await);
}

/// Stands in for the site: `GET /_nhost/session` answers `window.__siteSession` (and is
/// counted); any other request is counted and refused.
struct FakeSite;

impl FakeSite {
    fn install(session_json: &str) -> FakeSite {
        js_sys::Function::new_no_args(
            "if (!window.__siteOriginalFetch) {
                window.__siteOriginalFetch = window.fetch;
                window.fetch = function (input, init) {
                    const url = typeof input === 'string' ? input : input.url;
                    const method = (init && init.method) || (typeof input === 'string' ? 'GET' : input.method);
                    if (method === 'GET' && new URL(url, location.href).pathname === '/_nhost/session') {
                        window.__siteGets += 1;
                        return Promise.resolve(new Response(window.__siteSession,
                            { status: 200, headers: { 'Content-Type': 'application/json' } }));
                    }
                    window.__siteOthers += 1;
                    return Promise.reject(new TypeError('not the site'));
                };
            }
            window.__siteGets = 0;
            window.__siteOthers = 0;",
        )
        .call0(&wasm_bindgen::JsValue::NULL)
        .expect("fake site");
        let site = FakeSite;
        site.answer(session_json);
        site
    }

    /// What the site's cookie holds from now on.
    fn answer(&self, session_json: &str) {
        js_sys::Reflect::set(
            &web_sys::window().expect("a window"),
            &"__siteSession".into(),
            &session_json.into(),
        )
        .expect("set");
    }

    fn count(&self, what: &str) -> u32 {
        js_sys::Function::new_no_args(&format!("return window.{what};"))
            .call0(&wasm_bindgen::JsValue::NULL)
            .ok()
            .and_then(|v| v.as_f64())
            .expect("a count") as u32
    }
}

impl Drop for FakeSite {
    fn drop(&mut self) {
        let _ = js_sys::Function::new_no_args(
            "if (window.__siteOriginalFetch) {
                window.fetch = window.__siteOriginalFetch;
                delete window.__siteOriginalFetch;
            }",
        )
        .call0(&wasm_bindgen::JsValue::NULL);
    }
}

/// Polls every 20 ms for up to 5 s.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..250 {
        if cond() {
            return;
        }
        gloo_timers::future::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after 5 s waiting for {what}");
}

/// Tab sync in server-session mode: another tab's change ("changed" over `BroadcastChannel`, no
/// token in it) makes this tab ask the site (`GET /_nhost/session`) and follow its answer —
/// signed in, then signed out — with a bounded number of requests (the tabs that followed
/// announce it once more; the others then find the session they hold and stop).
#[wasm_bindgen_test]
async fn a_tab_follows_the_site_when_another_tab_changes_the_session() {
    let site = FakeSite::install(SIGNED_OUT_PAGE);
    let tab = |json: &str| {
        NhostClient::builder()
            .session_endpoints("/_nhost")
            .server_rendered(Session::from_public_json(json).expect("JSON"))
            .auto_refresh(false)
            .build()
            .expect("client")
    };
    let (changer, follower) = (tab(SIGNED_OUT_PAGE), tab(SIGNED_OUT_PAGE));
    let mount = |client: &NhostClient| {
        let page = ServedPage::new(SIGNED_OUT_PAGE, "");
        let app = yew::Renderer::<App>::with_root_and_props(
            page.root.clone(),
            AppProps {
                client: client.clone(),
            },
        )
        .render();
        (page, app)
    };
    let (_changer_page, changer_app) = mount(&changer);
    let (follower_page, follower_app) = mount(&follower);
    gloo_timers::future::sleep(Duration::from_millis(100)).await;
    assert_eq!(follower_page.text("authenticated"), "false");

    // The other tab signed in (through the site, which set its cookie): here, the state changes.
    site.answer(&signed_in_page());
    changer.adopt_session(
        Session::from_public_json(&signed_in_page())
            .expect("JSON")
            .expect("a session"),
    );
    wait_until("the follower to be signed in", || {
        follower_page.text("user-id") == USER_ID
    })
    .await;
    assert!(
        follower
            .session()
            .is_some_and(|s| s.refresh_token.is_empty())
    );
    gloo_timers::future::sleep(Duration::from_millis(200)).await;
    let gets = site.count("__siteGets");
    assert!(
        (1..=2).contains(&gets),
        "{gets} GET /session for one change"
    );

    // The other tab signed out: the site's cookie is gone.
    site.answer(SIGNED_OUT_PAGE);
    changer.forget_session();
    wait_until("the follower to be signed out", || {
        follower_page.text("authenticated") == "false" && follower_page.text("guests") != ""
    })
    .await;
    gloo_timers::future::sleep(Duration::from_millis(200)).await;
    assert!(site.count("__siteGets") <= gets + 2);
    assert_eq!(site.count("__siteOthers"), 0, "no other request");
    changer_app.destroy();
    follower_app.destroy();
}
