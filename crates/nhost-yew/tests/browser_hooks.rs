//! The hooks in a real browser (headless Chromium, via `wasm-bindgen-test-runner`): a small app
//! mounted with Yew's client-side renderer, driven by clicks, against an `nhost-auth-emulator`.
//!
//! The emulators' URLs are read at compile time (`NHOST_TEST_AUTH_URL`,
//! `NHOST_TEST_AUTH_URL_ANONYMOUS_DISABLED`); `cargo xtask test` starts them and sets both.
//! Natively this file is empty.
// The crate docs come first: a false `#![cfg]` drops every attribute after it, and natively
// `missing_docs` would then flag the empty crate.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use nhost_core::{DeanonymizeMethod, MemoryStorage, NhostClient, SignOutScope};
use nhost_yew::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

const PASSWORD: &str = "secret123";

/// The emulator with anonymous users enabled (role "public", no email verification).
fn auth_url() -> &'static str {
    option_env!("NHOST_TEST_AUTH_URL").expect(
        "NHOST_TEST_AUTH_URL is not set at compile time: run `cargo xtask test`, which starts the emulators",
    )
}

/// The emulator with anonymous users disabled.
fn auth_url_anonymous_disabled() -> &'static str {
    option_env!("NHOST_TEST_AUTH_URL_ANONYMOUS_DISABLED").expect(
        "NHOST_TEST_AUTH_URL_ANONYMOUS_DISABLED is not set at compile time: run `cargo xtask test`, which starts the emulators",
    )
}

/// A client of its own per test, keeping its session in memory (not the page's `localStorage`).
fn client(url: &str) -> NhostClient {
    NhostClient::builder()
        .auth_url(url)
        .storage(MemoryStorage::default())
        .build()
        .expect("a valid auth URL")
}

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

/// Every hook under test, rendered as `data-testid` elements, with a button per action.
#[component]
fn Panel() -> Html {
    let anon = use_anonymous_sign_in();
    let deanon = use_deanonymize();
    let out = use_sign_out();
    let status = use_authentication_status();
    let user_id = use_user_id();
    let is_anonymous = use_user_is_anonymous();
    let claims = use_hasura_claims();

    let deanonymize = {
        let email = user_id
            .as_ref()
            .map(|id| format!("u-{id}@example.com"))
            .unwrap_or_else(|| "u-nobody@example.com".to_owned());
        deanon.deanonymize.reform(move |_| {
            (
                DeanonymizeMethod::EmailPassword {
                    email: email.clone(),
                    password: PASSWORD.to_owned(),
                },
                None,
            )
        })
    };
    let error = |e: &Option<nhost_core::AuthError>| {
        e.as_ref()
            .map(|e| format!("{}:{}", e.status, e.error))
            .unwrap_or_default()
    };
    html! {
        <div>
            <button id="anon" onclick={anon.sign_in_anonymous.reform(|_| ())}>{ "Anonymous sign-in" }</button>
            <button id="deanon" onclick={deanonymize}>{ "Deanonymize" }</button>
            <button id="signout" onclick={out.sign_out.reform(|_| SignOutScope::ThisDevice)}>{ "Sign out" }</button>
            <span data-testid="anon-loading">{ anon.is_loading.to_string() }</span>
            <span data-testid="anon-success">{ anon.is_success.to_string() }</span>
            <span data-testid="anon-is-error">{ anon.is_error.to_string() }</span>
            <span data-testid="anon-error">{ error(&anon.error) }</span>
            if anon.is_success { <div data-testid="anon-message">{ "You are now signed in anonymously" }</div> }
            <span data-testid="deanon-success">{ deanon.is_success.to_string() }</span>
            <span data-testid="deanon-verify">{ deanon.needs_email_verification.to_string() }</span>
            <span data-testid="deanon-error">{ error(&deanon.error) }</span>
            <span data-testid="signout-success">{ out.is_success.to_string() }</span>
            <span data-testid="signout-error">{ error(&out.error) }</span>
            <span data-testid="auth-loading">{ status.is_loading.to_string() }</span>
            <span data-testid="authenticated">{ status.is_authenticated.to_string() }</span>
            <span data-testid="user-id">{ user_id.unwrap_or_default() }</span>
            <span data-testid="is-anonymous">{ is_anonymous.to_string() }</span>
            <span data-testid="default-role">{ claims.map(|c| c.default_role).unwrap_or_default() }</span>
        </div>
    }
}

/// The app, mounted into a fresh `<div>` of the page.
struct Mounted {
    root: web_sys::Element,
    app: Option<yew::AppHandle<App>>,
    client: NhostClient,
}

impl Mounted {
    /// Mounts the app with its own client and waits for the provider to settle (no stored
    /// session to restore: signed out).
    async fn new(url: &str) -> Mounted {
        let mounted = Mounted::with_client(client(url));
        mounted
            .wait_until("the provider to settle signed out", |m| {
                m.text("auth-loading") == "false" && m.text("authenticated") == "false"
            })
            .await;
        mounted
    }

    /// Mounts the app with `client`, without waiting.
    fn with_client(client: NhostClient) -> Mounted {
        let root = new_root();
        let app = yew::Renderer::<App>::with_root_and_props(
            root.clone(),
            AppProps {
                client: client.clone(),
            },
        )
        .render();
        Mounted {
            root,
            app: Some(app),
            client,
        }
    }

    /// The text of the `data-testid` element, `""` if there is none.
    fn text(&self, test_id: &str) -> String {
        self.root
            .query_selector(&format!("[data-testid=\"{test_id}\"]"))
            .expect("a valid selector")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }

    fn button(&self, id: &str) -> web_sys::HtmlElement {
        self.root
            .query_selector(&format!("#{id}"))
            .expect("a valid selector")
            .unwrap_or_else(|| panic!("no #{id} button in {}", self.root.inner_html()))
            .dyn_into()
            .expect("an HTML element")
    }

    fn click(&self, id: &str) {
        self.button(id).click();
    }

    /// Polls the DOM every 20 ms for up to 5 s; panics with the rendered HTML on timeout.
    async fn wait_until(&self, what: &str, cond: impl Fn(&Mounted) -> bool) {
        for _ in 0..250 {
            if cond(self) {
                return;
            }
            gloo_timers::future::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "timed out after 5 s waiting for {what}; rendered: {}",
            self.root.inner_html()
        );
    }

    /// Signs in anonymously through the hook and returns the rendered user id.
    async fn sign_in_anonymously(&self) -> String {
        self.click("anon");
        self.wait_until("the anonymous sign-in to succeed", |m| {
            m.text("anon-success") == "true" && !m.text("user-id").is_empty()
        })
        .await;
        self.text("user-id")
    }

    fn session_user_id(&self) -> Option<String> {
        self.client
            .session()
            .and_then(|s| s.user_id().map(str::to_owned))
    }
}

/// A fresh `<div>` appended to the page's body, to mount an app into.
fn new_root() -> web_sys::Element {
    let document = web_sys::window()
        .expect("a browser window")
        .document()
        .expect("a document");
    let root = document.create_element("div").expect("createElement");
    document
        .body()
        .expect("a body")
        .append_child(&root)
        .expect("appendChild");
    root
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        self.root.remove();
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Counts the page's `POST …/signin/anonymous` requests (the client's requests go through
/// `window.fetch`). The emulator's own `/_emulator/stats` is not readable from another origin —
/// by design — so the page counts what it sends.
struct SignInCalls;

impl SignInCalls {
    fn install() -> SignInCalls {
        js_sys::Function::new_no_args(
            "if (!window.__hooksOriginalFetch) {
                window.__hooksOriginalFetch = window.fetch;
                window.fetch = function (input, init) {
                    const url = typeof input === 'string' ? input : input.url;
                    if (new URL(url, location.href).pathname.endsWith('/signin/anonymous')) {
                        window.__hooksSignIns = (window.__hooksSignIns || 0) + 1;
                    }
                    return window.__hooksOriginalFetch.call(this, input, init);
                };
            }
            window.__hooksSignIns = 0;",
        )
        .call0(&wasm_bindgen::JsValue::NULL)
        .expect("wrap fetch");
        SignInCalls
    }

    fn count(&self) -> u32 {
        js_sys::Function::new_no_args("return window.__hooksSignIns || 0;")
            .call0(&wasm_bindgen::JsValue::NULL)
            .ok()
            .and_then(|v| v.as_f64())
            .expect("a count") as u32
    }
}

impl Drop for SignInCalls {
    fn drop(&mut self) {
        let _ = js_sys::Function::new_no_args(
            "if (window.__hooksOriginalFetch) {
                window.fetch = window.__hooksOriginalFetch;
                delete window.__hooksOriginalFetch;
            }",
        )
        .call0(&wasm_bindgen::JsValue::NULL);
    }
}

#[wasm_bindgen_test]
async fn anonymous_sign_in_signs_in_an_anonymous_public_user() {
    let app = Mounted::new(auth_url()).await;
    assert_eq!(app.text("anon-loading"), "false");
    assert_eq!(app.text("anon-success"), "false");
    assert_eq!(app.text("user-id"), "");

    app.click("anon");
    // Loading first (or already done, if the server was quicker than the render).
    app.wait_until("the sign-in to be loading or done", |m| {
        m.text("anon-loading") == "true" || m.text("anon-success") == "true"
    })
    .await;
    app.wait_until("the anonymous sign-in to succeed", |m| {
        m.text("anon-message") == "You are now signed in anonymously"
    })
    .await;

    let user_id = app.text("user-id");
    assert!(is_uuid(&user_id), "user id {user_id:?} is not a UUID");
    assert_eq!(app.text("anon-loading"), "false");
    assert_eq!(app.text("anon-is-error"), "false");
    assert_eq!(app.text("anon-error"), "");
    assert_eq!(app.text("authenticated"), "true");
    assert_eq!(app.text("is-anonymous"), "true");
    assert_eq!(app.text("default-role"), "public");
    assert_eq!(app.session_user_id().as_deref(), Some(user_id.as_str()));
}

#[wasm_bindgen_test]
async fn a_second_click_while_loading_creates_no_second_user() {
    let app = Mounted::new(auth_url()).await;
    let calls = SignInCalls::install();

    let button = app.button("anon");
    button.click();
    button.click();
    app.wait_until("the anonymous sign-in to succeed", |m| {
        m.text("anon-success") == "true" && !m.text("user-id").is_empty()
    })
    .await;
    // Give a stray second request time to land (and to overwrite the session).
    gloo_timers::future::sleep(Duration::from_millis(300)).await;

    let user_id = app.text("user-id");
    assert!(is_uuid(&user_id), "user id {user_id:?} is not a UUID");
    assert_eq!(app.session_user_id().as_deref(), Some(user_id.as_str()));
    assert_eq!(app.text("anon-is-error"), "false");
    assert_eq!(app.text("anon-error"), "");
    assert_eq!(
        calls.count(),
        1,
        "two clicks made {} anonymous sign-in requests",
        calls.count()
    );
}

#[wasm_bindgen_test]
async fn anonymous_sign_in_against_a_disabled_endpoint_renders_the_error() {
    let app = Mounted::new(auth_url_anonymous_disabled()).await;
    app.click("anon");
    app.wait_until("the anonymous sign-in to fail", |m| {
        m.text("anon-is-error") == "true"
    })
    .await;
    assert_eq!(app.text("anon-error"), "409:disabled-endpoint");
    assert_eq!(app.text("anon-loading"), "false");
    assert_eq!(app.text("anon-success"), "false");
    assert_eq!(app.text("authenticated"), "false");
    assert_eq!(app.text("user-id"), "");
    assert_eq!(app.session_user_id(), None);
}

#[wasm_bindgen_test]
async fn deanonymize_with_email_password_keeps_the_user_id() {
    let app = Mounted::new(auth_url()).await;
    let user_id = app.sign_in_anonymously().await;
    assert_eq!(app.text("is-anonymous"), "true");

    app.click("deanon");
    app.wait_until("the user to be no longer anonymous", |m| {
        m.text("is-anonymous") == "false" || !m.text("deanon-error").is_empty()
    })
    .await;
    assert_eq!(app.text("deanon-error"), "");
    assert_eq!(app.text("is-anonymous"), "false");
    app.wait_until("the deanonymization to succeed", |m| {
        m.text("deanon-success") == "true"
    })
    .await;
    assert_eq!(app.text("deanon-verify"), "false");
    assert_eq!(app.text("authenticated"), "true");
    assert_eq!(app.text("user-id"), user_id);
    assert_eq!(app.session_user_id().as_deref(), Some(user_id.as_str()));
}

#[wasm_bindgen_test]
async fn sign_out_signs_out() {
    let app = Mounted::new(auth_url()).await;
    app.sign_in_anonymously().await;
    assert_eq!(app.text("authenticated"), "true");

    app.click("signout");
    app.wait_until("the user to be signed out", |m| {
        m.text("authenticated") == "false"
    })
    .await;
    assert_eq!(app.text("user-id"), "");
    assert_eq!(app.text("is-anonymous"), "false");
    assert_eq!(app.text("default-role"), "");
    app.wait_until("the sign-out to succeed", |m| {
        m.text("signout-success") == "true"
    })
    .await;
    assert_eq!(app.text("signout-error"), "");
    assert_eq!(app.session_user_id(), None);
}

/// `is_success` is the outcome of *this* sign-in: a session the provider restored (or another
/// tab signed in) shows no "You are now signed in anonymously" without a click.
#[wasm_bindgen_test]
async fn a_restored_session_is_not_a_sign_in_success() {
    let session = client(auth_url())
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous sign-in");
    let restored = NhostClient::builder()
        .auth_url(auth_url())
        .storage(MemoryStorage::default())
        .initial_session(session.handed_over())
        .build()
        .expect("a valid auth URL");
    let app = Mounted::with_client(restored);
    app.wait_until("the restored session to show", |m| {
        m.text("authenticated") == "true" && !m.text("user-id").is_empty()
    })
    .await;
    assert_eq!(app.text("user-id"), session.user_id().unwrap_or_default());
    assert_eq!(app.text("anon-success"), "false");
    assert_eq!(app.text("anon-message"), "");
    assert_eq!(app.text("anon-loading"), "false");
}

thread_local! {
    /// How often [`UserIdProbe`] rendered.
    static USER_ID_RENDERS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Renders the user id and counts its renders.
#[component]
fn UserIdProbe() -> Html {
    let id = use_user_id();
    USER_ID_RENDERS.with(|n| n.set(n.get() + 1));
    html! { <span data-testid="probe-user-id">{ id.unwrap_or_default() }</span> }
}

/// Renders whether an access token is held and how many distinct ones it has rendered.
#[component]
fn TokenProbe() -> Html {
    let token = use_access_token();
    let seen = use_mut_ref(Vec::<nhost_core::AccessToken>::new);
    if let Some(t) = &token
        && !seen.borrow().contains(t)
    {
        seen.borrow_mut().push(t.clone());
    }
    html! { <span data-testid="probe-tokens">{ seen.borrow().len() }</span> }
}

#[component]
fn ProbeApp(props: &AppProps) -> Html {
    html! {
        <NhostProvider client={props.client.clone()}>
            <UserIdProbe />
            <TokenProbe />
        </NhostProvider>
    }
}

/// A hook re-renders its component only when the value it returns changes: a refresh (a new
/// access token, the same user) re-renders `use_access_token`'s component, not
/// `use_user_id`'s; a sign-out re-renders both.
#[wasm_bindgen_test]
async fn a_hook_rerenders_only_when_its_value_changes() {
    let client = client(auth_url());
    let root = new_root();
    let app = yew::Renderer::<ProbeApp>::with_root_and_props(
        root.clone(),
        AppProps {
            client: client.clone(),
        },
    )
    .render();
    let text = |id: &str| {
        root.query_selector(&format!("[data-testid=\"{id}\"]"))
            .expect("a valid selector")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    };
    async fn until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..250 {
            if cond() {
                return;
            }
            gloo_timers::future::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out after 5 s waiting for {what}");
    }

    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous sign-in");
    let user_id = session.user_id().unwrap_or_default().to_owned();
    until("the user id to render", || text("probe-user-id") == user_id).await;
    until("the first token to render", || text("probe-tokens") == "1").await;
    // Let any render already scheduled happen before counting.
    gloo_timers::future::sleep(Duration::from_millis(100)).await;
    let renders = USER_ID_RENDERS.with(|n| n.get());

    // A token is signed over whole seconds (`iat`, `exp`): one refreshed within the same second
    // can be byte for byte the one before. Wait past the second, so the refresh changes it.
    gloo_timers::future::sleep(Duration::from_millis(1_100)).await;
    client.refresh_session().await.expect("refresh");
    until("the new token to render", || text("probe-tokens") == "2").await;
    gloo_timers::future::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        USER_ID_RENDERS.with(|n| n.get()),
        renders,
        "a refresh changed no user id, yet use_user_id's component re-rendered"
    );
    assert_eq!(text("probe-user-id"), user_id);

    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("sign out");
    until("the signed-out user id to render", || {
        text("probe-user-id").is_empty()
    })
    .await;
    assert!(USER_ID_RENDERS.with(|n| n.get()) > renders);

    app.destroy();
    root.remove();
}
