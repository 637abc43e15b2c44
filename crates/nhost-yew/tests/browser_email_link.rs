//! Email links completed by the provider on start-up (issue 11), in a real browser (headless
//! Chromium, via `wasm-bindgen-test-runner`), against the `nhost-auth-emulator` of
//! `NHOST_TEST_AUTH_URL` (read at compile time; `cargo xtask test` starts it and sets it).
//!
//! Each test puts a landing address in the page's address bar (`history.replaceState`), mounts
//! an app on a client of its own, and checks what `use_email_link` shows, the session, and that
//! the link's parameters — only they — are gone from the address. A real PKCE `code` needs the
//! email from the emulator's mailbox, which a page of another origin cannot read (by design):
//! the whole flow with a real code runs in the Yew example's WebDriver test
//! (`examples/yew-csr/tests/e2e.rs`); here a `refreshToken` link is the one that works, and a
//! `code` that the server refuses is the one that fails.
//! Natively this file is empty.
// The crate docs come first: a false `#![cfg]` drops every attribute after it, and natively
// `missing_docs` would then flag the empty crate.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use nhost_core::{CODE_VERIFIER_KEY, MemoryStorage, NhostClient, Session, SessionStorage};
use nhost_yew::prelude::*;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use yew::prelude::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The emulator with anonymous users enabled (role "public", no email verification).
fn auth_url() -> &'static str {
    option_env!("NHOST_TEST_AUTH_URL").expect(
        "NHOST_TEST_AUTH_URL is not set at compile time: run `cargo xtask test`, which starts the emulators",
    )
}

/// A client of its own, keeping its session (and PKCE verifier) in `storage`.
fn client_with(storage: MemoryStorage) -> NhostClient {
    NhostClient::builder()
        .auth_url(auth_url())
        .storage(storage)
        .build()
        .expect("a valid auth URL")
}

/// A new anonymous user's session, signed in by a client of its own (not the app's).
async fn someone_else() -> Session {
    client_with(MemoryStorage::default())
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous sign-in")
}

/// The app's client, already signed in anonymously; returns it and its user id.
async fn signed_in_client(storage: MemoryStorage) -> (NhostClient, String) {
    let client = client_with(storage);
    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous sign-in");
    let id = session.user_id().expect("a user").to_owned();
    (client, id)
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

/// What `use_email_link` returns, and the user, as `data-testid` elements.
#[component]
fn Panel() -> Html {
    let link = use_email_link();
    let user_id = use_user_id();
    html! {
        <div>
            <span data-testid="link-loading">{ link.is_loading.to_string() }</span>
            <span data-testid="link-success">{ link.is_success.to_string() }</span>
            <span data-testid="link-is-error">{ link.is_error.to_string() }</span>
            <span data-testid="link-error">{ link.error.as_ref().map(|e| format!("{}:{}", e.status, e.error)).unwrap_or_default() }</span>
            <span data-testid="link-message">{ link.error.as_ref().map(|e| e.message.clone()).unwrap_or_default() }</span>
            <span data-testid="link-type">{ link.link_type.clone().unwrap_or_default() }</span>
            <span data-testid="user-id">{ user_id.unwrap_or_default() }</span>
        </div>
    }
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// The page's address, put back when dropped (the tests of this file share one page).
struct Address {
    original: String,
}

impl Address {
    /// Replaces the address's query and fragment with `query_and_fragment` (`?…#…`), the path
    /// kept.
    fn landing(query_and_fragment: &str) -> Address {
        let location = window().location();
        let original = location.href().expect("location.href");
        let path = location.pathname().expect("location.pathname");
        window()
            .history()
            .expect("history")
            .replace_state_with_url(
                &wasm_bindgen::JsValue::NULL,
                "",
                Some(&format!("{path}{query_and_fragment}")),
            )
            .expect("replaceState");
        Address { original }
    }

    /// The query and fragment now, e.g. `?keep=1#section`.
    fn now() -> String {
        let location = window().location();
        format!(
            "{}{}",
            location.search().expect("search"),
            location.hash().expect("hash")
        )
    }
}

impl Drop for Address {
    fn drop(&mut self) {
        let _ = window().history().map(|h| {
            h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&self.original))
        });
    }
}

/// The app, mounted into a fresh `<div>` of the page.
struct Mounted {
    root: web_sys::Element,
    app: Option<yew::AppHandle<App>>,
}

impl Mounted {
    fn new(client: NhostClient) -> Mounted {
        let document = window().document().expect("a document");
        let root = document.create_element("div").expect("createElement");
        document
            .body()
            .expect("a body")
            .append_child(&root)
            .expect("appendChild");
        let app =
            yew::Renderer::<App>::with_root_and_props(root.clone(), AppProps { client }).render();
        Mounted {
            root,
            app: Some(app),
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

    async fn wait_for_outcome(&self) {
        self.wait_until("the email link's outcome", |m| {
            m.text("link-loading") == "false"
                && (m.text("link-success") == "true" || m.text("link-is-error") == "true")
        })
        .await;
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        self.root.remove();
    }
}

/// A link that works signs the app in; only the link's parameters leave the address.
#[wasm_bindgen_test]
async fn a_link_signs_in_and_leaves_the_rest_of_the_address() {
    let linked = someone_else().await;
    let token = linked.refresh_token.expose().to_owned();
    let _address = Address::landing(&format!(
        "?keep=1&refreshToken={token}&type=signinPasswordless#section"
    ));
    let client = client_with(MemoryStorage::default());
    let app = Mounted::new(client.clone());
    app.wait_for_outcome().await;
    assert_eq!(
        app.text("link-success"),
        "true",
        "{}",
        app.text("link-error")
    );
    assert_eq!(app.text("link-type"), "signinPasswordless");
    assert_eq!(app.text("user-id"), linked.user_id().unwrap_or_default());
    assert_eq!(
        client
            .session()
            .and_then(|s| s.user_id().map(str::to_owned)),
        linked.user_id().map(str::to_owned)
    );
    assert_eq!(Address::now(), "?keep=1#section");
}

/// A session held when a working link arrives is replaced by the link's (as nhost-js does).
#[wasm_bindgen_test]
async fn a_link_replaces_the_session_held() {
    let (client, held) = signed_in_client(MemoryStorage::default()).await;
    let linked = someone_else().await;
    let _address = Address::landing(&format!(
        "?refreshToken={}&type=signinPasswordless",
        linked.refresh_token.expose()
    ));
    let app = Mounted::new(client.clone());
    app.wait_for_outcome().await;
    assert_eq!(
        app.text("link-success"),
        "true",
        "{}",
        app.text("link-error")
    );
    let now = client
        .session()
        .and_then(|s| s.user_id().map(str::to_owned));
    assert_eq!(now.as_deref(), linked.user_id());
    assert_ne!(now.as_deref(), Some(held.as_str()));
    app.wait_until("the linked user to show", |m| {
        m.text("user-id") == linked.user_id().unwrap_or_default()
    })
    .await;
    assert_eq!(Address::now(), "");
}

/// A code the server refuses (used, expired, another verifier's): the error shows, the session
/// held stays, and the code leaves the address all the same.
#[wasm_bindgen_test]
async fn a_refused_code_shows_the_error_and_keeps_the_session() {
    let storage = MemoryStorage::default();
    // A verifier of the protocol's shape, as if this browser had asked for a link.
    storage.set(
        CODE_VERIFIER_KEY,
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    );
    let (client, held) = signed_in_client(storage).await;
    let before = client.session().expect("signed in").refresh_token;
    let _address = Address::landing("?code=not-a-code-the-server-gave&type=emailVerify");
    let app = Mounted::new(client.clone());
    app.wait_for_outcome().await;
    assert_eq!(app.text("link-is-error"), "true");
    assert!(
        app.text("link-error").starts_with("400:"),
        "{}",
        app.text("link-error")
    );
    assert_eq!(app.text("link-type"), "emailVerify");
    assert_eq!(app.text("user-id"), held);
    assert_eq!(
        client.session().map(|s| s.refresh_token),
        Some(before),
        "the session held is untouched"
    );
    assert_eq!(Address::now(), "");
}

/// A code without this browser's verifier (the link was opened in another browser).
#[wasm_bindgen_test]
async fn a_code_from_another_browser_says_so() {
    let _address = Address::landing("?code=whatever&type=emailVerify");
    let client = client_with(MemoryStorage::default());
    let app = Mounted::new(client.clone());
    app.wait_for_outcome().await;
    assert_eq!(
        app.text("link-error"),
        format!("{}:invalid-request", nhost_core::STATUS_VALIDATION)
    );
    assert!(
        app.text("link-message").contains("another browser"),
        "{}",
        app.text("link-message")
    );
    assert!(!client.is_authenticated());
    assert_eq!(Address::now(), "");
}

/// The server's error redirect: its error through the hook, no session change.
#[wasm_bindgen_test]
async fn an_error_link_shows_the_error_and_changes_no_session() {
    let (client, held) = signed_in_client(MemoryStorage::default()).await;
    let before = client.session().expect("signed in").refresh_token;
    let _address = Address::landing(
        "?type=emailVerify&error=invalid-ticket&errorDescription=Invalid+ticket&keep=2",
    );
    let app = Mounted::new(client.clone());
    app.wait_for_outcome().await;
    assert_eq!(app.text("link-is-error"), "true");
    assert_eq!(app.text("link-success"), "false");
    assert!(
        app.text("link-error").ends_with(":invalid-ticket"),
        "{}",
        app.text("link-error")
    );
    assert_eq!(app.text("link-message"), "Invalid ticket");
    assert_eq!(app.text("user-id"), held);
    assert_eq!(client.session().map(|s| s.refresh_token), Some(before));
    assert_eq!(Address::now(), "?keep=2");
}

/// No link: the hook stays idle and the address is left alone.
#[wasm_bindgen_test]
async fn without_a_link_nothing_happens() {
    let _address = Address::landing("?type=mine&page=2");
    let app = Mounted::new(client_with(MemoryStorage::default()));
    gloo_timers::future::sleep(Duration::from_millis(200)).await;
    for id in ["link-loading", "link-success", "link-is-error"] {
        assert_eq!(app.text(id), "false", "{id}");
    }
    assert_eq!(app.text("link-type"), "");
    assert_eq!(Address::now(), "?type=mine&page=2");
}

/// Server-session mode: the site's callback route completes links; the provider leaves them.
#[wasm_bindgen_test]
async fn server_session_mode_leaves_links_to_the_site() {
    let _address = Address::landing("?code=abc&type=emailVerify");
    let client = NhostClient::builder()
        .session_endpoints("http://127.0.0.1:9/_nhost")
        .retry_backoff(Vec::new())
        .build()
        .expect("valid endpoints");
    let app = Mounted::new(client);
    gloo_timers::future::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.text("link-loading"), "false");
    assert_eq!(app.text("link-is-error"), "false");
    assert_eq!(Address::now(), "?code=abc&type=emailVerify");
}
