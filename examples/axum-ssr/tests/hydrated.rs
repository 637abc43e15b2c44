//! End-to-end tests of the full-stack site: this crate's binary serving the browser bundle
//! (`--dist`), driven in headless Chromium over WebDriver with the workspace's
//! `browser-harness` — with JavaScript (hydrated: the hooks act, no navigation) and without (the
//! forms post).
//!
//! Run by `cargo xtask test`, which builds the bundle (dev profile) and sets
//! `NHOST_E2E_AXUM_SSR_DIST` (the folder with `example-axum-ssr.js` and its `.wasm`) and
//! `CHROMEDRIVER`.
//!
//! The wiring of every test: browser → recording [`DelayProxy`] → the site (a child process) →
//! recording [`DelayProxy`] → an emulator in this process. The first proxy keeps every byte the
//! browser received; the second every byte between the site and its auth server — the refresh
//! tokens the site was given (to look for them on the browser's side) and its `POST /token`
//! calls (to count rotations). Both proxies add no delay.

#![cfg(not(target_arch = "wasm32"))]

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::process::Command;
use std::time::{Duration, Instant};

use browser_harness::serde_json::{Value, json};
use browser_harness::{Browser, BrowserOptions, ChromeDriver, DelayProxy, ServerProcess, Tab};
use nhost_auth_emulator::{Config, Emulator};

/// The bundle (`NHOST_E2E_AXUM_SSR_DIST`); panics when it is not set, so that the tests never
/// pass without having run.
fn dist() -> OsString {
    match std::env::var_os("NHOST_E2E_AXUM_SSR_DIST").filter(|d| !d.is_empty()) {
        Some(dist) => dist,
        None => panic!(
            "NHOST_E2E_AXUM_SSR_DIST is not set: these tests need the site's browser bundle; \
             run `cargo xtask test`, which builds it and sets NHOST_E2E_AXUM_SSR_DIST"
        ),
    }
}

/// One test's site, proxies, emulator and browser. Fields drop in declaration order: the
/// browser first, the emulator last.
struct Site {
    browser: Browser,
    _driver: ChromeDriver,
    /// Between the browser and the site: what the browser received.
    front: DelayProxy,
    _server: ServerProcess,
    /// Between the site and the emulator: what the site sent and was given.
    auth: DelayProxy,
    emulator: Emulator,
}

impl Site {
    /// Access tokens of `token_lifetime` seconds; the browser as `options` say, on the page.
    async fn start(options: BrowserOptions, token_lifetime: u64) -> Site {
        Site::start_with(options, token_lifetime, false).await
    }

    /// [`Site::start`], with the auth server requiring verified emails or not.
    async fn start_with(options: BrowserOptions, token_lifetime: u64, verify_emails: bool) -> Site {
        // The browser's address of the site first: email links must be allowed to lead there.
        let front_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the front proxy");
        let front_port = front_listener.local_addr().expect("an address").port();
        let mut config = Config::default();
        config.anonymous_role = "public".into();
        config.access_token_expires_in = Duration::from_secs(token_lifetime);
        config.bcrypt_cost = 4;
        config.email_verification_required = verify_emails;
        config.client_url = format!("http://127.0.0.1:{front_port}");
        // `Config::default()`: in-memory SQLite, a free port of 127.0.0.1.
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let auth = DelayProxy::start_recording(emulator.addr(), Duration::ZERO).await;

        let mut command = Command::new(env!("CARGO_BIN_EXE_example-axum-ssr"));
        command
            .arg("--dist")
            .arg(dist())
            .env("PORT", "0")
            .env("NHOST_AUTH_URL", auth.url())
            .env_remove("NHOST_SUBDOMAIN")
            .env_remove("NHOST_REGION")
            .env_remove("REDIS_URL")
            // A fresh cookie key per run: no file needed.
            .env("NHOST_SSR_COOKIE_KEY", "ab".repeat(64));
        // Prints "example-axum-ssr: http://localhost:NNNNN/".
        let server = ServerProcess::start(command);
        let front = DelayProxy::start_recording_on(
            front_listener,
            socket_addr(server.url()),
            Duration::ZERO,
        );

        let driver = ChromeDriver::start().await;
        let browser = driver
            .browser_with(options.wait(Duration::from_secs(30)))
            .await;
        browser.goto(&format!("{}/", front.url())).await;
        Site {
            browser,
            _driver: driver,
            front,
            _server: server,
            auth,
            emulator,
        }
    }

    /// The site as the browser sees it, e.g. `http://127.0.0.1:41234/`.
    fn url(&self) -> String {
        format!("{}/", self.front.url())
    }

    /// The refresh tokens (and their ids) the auth server gave the site: every
    /// `"refreshToken"`/`"refreshTokenId"` string value in its answers.
    fn issued_refresh_tokens(&self) -> Vec<String> {
        let answers = String::from_utf8_lossy(&self.auth.from_upstream()).into_owned();
        let mut found = Vec::new();
        for key in ["\"refreshToken\":\"", "\"refreshTokenId\":\""] {
            for (at, _) in answers.match_indices(key) {
                let rest = &answers[at + key.len()..];
                if let Some(end) = rest.find('"') {
                    found.push(rest[..end].to_owned());
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    /// The link of the newest email the auth server sent to `email`.
    fn last_link(&self, email: &str) -> String {
        self.emulator
            .mailbox()
            .to(email)
            .pop()
            .unwrap_or_else(|| panic!("no email was sent to {email}"))
            .link
    }

    /// `POST /token` calls the site made to the auth server so far.
    fn token_calls(&self) -> usize {
        String::from_utf8_lossy(&self.auth.to_upstream())
            .matches("POST /token ")
            .count()
    }

    /// The promise of the full-stack mode: no refresh token, nor its id, in anything the
    /// browser received (pages, JSON answers, headers — the sealed cookie is opaque) or can read
    /// (`document.cookie`, `localStorage`, `sessionStorage`). Needs at least one issued token,
    /// so that it cannot pass by finding none.
    async fn assert_no_refresh_token_reached_the_browser(&self) {
        let secrets = self.issued_refresh_tokens();
        assert!(
            !secrets.is_empty(),
            "the site was never given a refresh token: nothing to look for"
        );
        let received = String::from_utf8_lossy(&self.front.from_upstream()).into_owned();
        let readable = self
            .browser
            .execute(
                "const all = s => JSON.stringify(Object.entries(s));
                 return document.cookie + '\\n' + all(localStorage) + '\\n' + all(sessionStorage);",
                vec![],
            )
            .await;
        let readable = readable.as_str().unwrap_or_default().to_owned();
        for (i, secret) in secrets.iter().enumerate() {
            // Never print a token: its index says enough.
            assert!(
                !received.contains(secret.as_str()),
                "issued refresh token #{i} was in a response the browser received"
            );
            assert!(
                !readable.contains(secret.as_str()),
                "issued refresh token #{i} is readable by the page's JavaScript"
            );
        }
        assert!(
            !readable.contains("refreshToken"),
            "the page's storage or cookies name a refresh token"
        );
    }
}

/// `http://localhost:41234/` → `127.0.0.1:41234`.
fn socket_addr(url: &str) -> SocketAddr {
    let host_port = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(SocketAddr::is_ipv4))
        .unwrap_or_else(|| panic!("the site printed an unusable URL: {url}"))
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

/// Waits until the bundle has hydrated the page (`<html data-hydrated="true">`).
async fn wait_hydrated(browser: &Browser) {
    browser.wait_element("html[data-hydrated=true]").await;
}

/// Sets a value on `window` that a navigation would lose.
async fn mark_window(browser: &Browser) {
    browser
        .execute("window.__noNavigation = 'still here'; return true;", vec![])
        .await;
}

async fn assert_no_navigation(browser: &Browser, during: &str) {
    let mark = browser
        .execute("return window.__noNavigation || null;", vec![])
        .await;
    assert_eq!(mark, json!("still here"), "{during} navigated");
}

/// The HTML the server renders for this browser now (`fetch('/')` with its cookie).
async fn server_html(browser: &Browser) -> String {
    let html = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/', { credentials: 'same-origin', cache: 'no-store' })
               .then(r => r.text()).then(done, e => done('fetch failed: ' + e));",
            vec![],
        )
        .await;
    html.as_str().unwrap_or_default().to_owned()
}

async fn shown_user(browser: &Browser) -> String {
    browser
        .wait_text("[data-testid=user-id]", "should be a UUID", is_uuid)
        .await
}

/// Waits for the page's error message, checks it says `what`, and that the page still shows
/// `user_id`: a refused link changed no session.
async fn assert_refused(browser: &Browser, user_id: &str, what: &str) {
    let message = browser
        .wait_text("#error", "an error message", |t| !t.is_empty())
        .await;
    assert!(message.contains(what), "{message}");
    assert_eq!(
        shown_user(browser).await,
        user_id,
        "the session did not change"
    );
}

/// Fills and sends the deanonymize form; waits until the page shows a registered user.
async fn deanonymize(browser: &Browser, email: &str) {
    browser
        .type_into("#deanonymize input[name=email]", email)
        .await;
    browser
        .type_into("#deanonymize input[name=password]", "correct-horse-battery")
        .await;
    browser.click("#deanonymize button[type=submit]").await;
    browser
        .wait_for_text("#notice", "You are now a registered user.")
        .await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "false")
        .await;
}

#[tokio::test]
async fn hydrated_page_signs_in_deanonymizes_and_signs_out_without_navigation() {
    let site = Site::start(BrowserOptions::default(), 900).await;
    let browser = &site.browser;
    wait_hydrated(browser).await;
    browser
        .wait_for_text("[data-testid=status]", "You are signed out.")
        .await;

    // Sign in through the hook: no navigation, the user shown in place.
    mark_window(browser).await;
    browser.click("#sign-in").await;
    let user_id = shown_user(browser).await;
    assert_no_navigation(browser, "signing in").await;
    assert_eq!(
        browser.text("[data-testid=is-anonymous]").await.as_deref(),
        Some("true")
    );

    // The server now renders that user: a reload shows it in the HTML, before any script.
    assert!(
        server_html(browser).await.contains(&user_id),
        "the server-rendered page does not show the signed-in user"
    );
    browser.reload().await;
    assert_eq!(shown_user(browser).await, user_id);
    wait_hydrated(browser).await;
    assert_eq!(
        shown_user(browser).await,
        user_id,
        "hydration changed the user"
    );

    // Deanonymize through the hook.
    mark_window(browser).await;
    let email = format!("e2e-{}@example.com", &user_id[..8]);
    deanonymize(browser, &email).await;
    assert_eq!(
        shown_user(browser).await,
        user_id,
        "the same user, registered"
    );
    assert_no_navigation(browser, "deanonymizing").await;

    // Sign out through the hook; the server agrees.
    browser.click("#sign-out").await;
    browser
        .wait_for_text("[data-testid=status]", "You are signed out.")
        .await;
    assert_no_navigation(browser, "signing out").await;
    let html = server_html(browser).await;
    assert!(
        html.contains("You are signed out."),
        "the server still renders a session"
    );
    assert!(!html.contains(&user_id));

    site.assert_no_refresh_token_reached_the_browser().await;
}

#[tokio::test]
async fn without_javascript_the_forms_do_the_same() {
    let site = Site::start(BrowserOptions::default().javascript(false), 900).await;
    let browser = &site.browser;
    browser
        .wait_for_text("[data-testid=status]", "You are signed out.")
        .await;

    browser.click("#sign-in").await;
    let user_id = shown_user(browser).await;
    assert_eq!(browser.current_url().await, site.url(), "back on the page");

    deanonymize(browser, "nojs@example.com").await;
    assert_eq!(shown_user(browser).await, user_id);

    browser.click("#sign-out").await;
    browser
        .wait_for_text("[data-testid=status]", "You are signed out.")
        .await;
    // The page never ran the bundle.
    let hydrated = browser
        .execute(
            "return document.documentElement.getAttribute('data-hydrated');",
            vec![],
        )
        .await;
    assert_eq!(
        hydrated,
        Value::Null,
        "JavaScript is off, yet the page hydrated"
    );

    site.assert_no_refresh_token_reached_the_browser().await;
}

/// Watches the current tab every 100 ms: counts the looks that do not show user `id`.
const WATCH: &str = "
    const id = arguments[0];
    if (!window.__e2e) {
      const w = window.__e2e = { looks: 0, wrong: 0, seen: [] };
      setInterval(() => {
        w.looks++;
        const el = document.querySelector('[data-testid=user-id]');
        const seen = el ? el.textContent : null;
        if (seen !== id) {
          w.wrong++;
          if (w.seen.length < 3) w.seen.push(seen);
        }
      }, 100);
    }
    return true;";

async fn watch(browser: &Browser, tab: &Tab, id: &str) {
    browser.switch_to(tab).await;
    browser.execute(WATCH, vec![json!(id)]).await;
}

/// `(looks, wrong looks, the first few wrong values)` of a tab's watcher.
async fn watched(browser: &Browser, tab: &Tab) -> (u64, u64, String) {
    browser.switch_to(tab).await;
    let w = browser
        .execute("return window.__e2e || null;", vec![])
        .await;
    assert!(!w.is_null(), "a tab's watcher is gone (did it navigate?)");
    (
        w["looks"].as_u64().unwrap_or_default(),
        w["wrong"].as_u64().unwrap_or_default(),
        w["seen"].to_string(),
    )
}

/// The figure: with 5-second access tokens, three hydrated tabs open for 30 s, plus
/// server page loads in between, make about one `POST /token` per rotation — the margin is
/// `min(300 s, TTL/2)`, so a rotation every ~2.5 s — not one per tab; no tab ever shows
/// anything but the user, and the server renders that user throughout.
#[tokio::test]
async fn three_tabs_and_the_server_rotate_once_per_expiry() {
    const TTL: u64 = 5;
    const RUN: Duration = Duration::from_secs(30);
    let site = Site::start(BrowserOptions::default(), TTL).await;
    let browser = &site.browser;
    wait_hydrated(browser).await;
    browser.click("#sign-in").await;
    let user_id = shown_user(browser).await;

    let first = browser.tab().await;
    let mut tabs = vec![first];
    for _ in 0..2 {
        tabs.push(browser.open_tab(&site.url()).await);
        wait_hydrated(browser).await;
        assert_eq!(
            shown_user(browser).await,
            user_id,
            "a new tab shows another user"
        );
    }
    for tab in &tabs {
        watch(browser, tab, &user_id).await;
    }

    let before = site.token_calls();
    let start = Instant::now();
    let mut page_loads = 0;
    while start.elapsed() < RUN {
        // A page load through the server between the tabs' own refreshes.
        let tab = &tabs[page_loads % tabs.len()];
        browser.switch_to(tab).await;
        let html = server_html(browser).await;
        assert!(
            html.contains(&user_id),
            "page load {page_loads}: the server did not render the user"
        );
        page_loads += 1;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    let elapsed = start.elapsed();
    let calls = site.token_calls() - before;

    for (i, tab) in tabs.iter().enumerate() {
        let (looks, wrong, seen) = watched(browser, tab).await;
        assert!(
            looks > 100,
            "tab {i}: the watcher barely ran ({looks} looks)"
        );
        assert_eq!(
            wrong, 0,
            "tab {i} did not show the user {wrong} times: {seen}"
        );
        assert_eq!(shown_user(browser).await, user_id, "tab {i}");
    }
    // One rotation per TTL/2 (the refresh margin), each a single `POST /token` whoever asked;
    // the tabs refreshing independently would make three times as many.
    let rotations = elapsed.as_secs_f64() / (TTL as f64 / 2.0);
    eprintln!(
        "three tabs + {page_loads} server page loads over {:.1} s with {TTL}-s tokens: \
         {calls} POST /token (≈ {rotations:.1} rotations)",
        elapsed.as_secs_f64()
    );
    assert!(
        calls >= 1,
        "no rotation at all in {elapsed:?}: the test measured nothing"
    );
    assert!(
        (calls as f64) <= rotations * 1.5 + 2.0,
        "{calls} POST /token for ≈ {rotations:.1} rotations: more than one per rotation"
    );
    site.assert_no_refresh_token_reached_the_browser().await;
}

/// Issue 11, on the server and without JavaScript: with email verification required, an
/// anonymous user deanonymizes through the form, follows the emailed link — which leads to
/// nhost-ssr's callback, completing it with the PKCE verifier kept in a sealed cookie — and is
/// signed in as the same user, registered, with neither `code` nor `refreshToken` in the address
/// bar. Bad links say so on the page and change no session.
#[tokio::test]
async fn email_link_completes_on_the_server_without_javascript() {
    let site = Site::start_with(BrowserOptions::default().javascript(false), 900, true).await;
    let browser = &site.browser;
    browser.click("#sign-in").await;
    let user_id = shown_user(browser).await;

    let email = format!("link-{}@example.com", &user_id[..8]);
    browser
        .type_into("#deanonymize input[name=email]", &email)
        .await;
    browser
        .type_into("#deanonymize input[name=password]", "correct-horse-battery")
        .await;
    browser.click("#deanonymize button[type=submit]").await;
    browser
        .wait_for_text(
            "#notice",
            "Check your mailbox: follow the link we sent to finish signing up.",
        )
        .await;
    browser
        .wait_for_text("[data-testid=status]", "You are signed out.")
        .await;

    // Follow the link: auth server → the site's callback → the page.
    let link = site.last_link(&email);
    browser.goto(&link).await;
    browser
        .wait_for_text("#notice", "Your email is verified: you are signed in.")
        .await;
    assert_eq!(shown_user(browser).await, user_id, "the same user");
    assert_eq!(
        browser.text("[data-testid=is-anonymous]").await.as_deref(),
        Some("false")
    );
    let address = browser.current_url().await;
    assert!(
        !address.contains("code=") && !address.contains("refreshToken"),
        "the address bar keeps the link's secret: {address}"
    );

    // The same link again: its ticket is used up. A clear message; still signed in.
    browser.goto(&link).await;
    assert_refused(browser, &user_id, "status 400").await;

    // A link asked for elsewhere (another browser's PKCE challenge): refused, nothing changes.
    let http = reqwest::Client::new();
    http.post(format!("{}/signin/passwordless/email", site.emulator.url()))
        .json(&json!({
            "email": email,
            // S256 of some other browser's verifier.
            "codeChallenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "options": { "redirectTo": format!("{}/_nhost/callback", site.front.url()) },
        }))
        .send()
        .await
        .expect("sent")
        .error_for_status()
        .expect("a magic link");
    let foreign = site.last_link(&email);
    browser.goto(&foreign).await;
    assert_refused(browser, &user_id, "another browser").await;
    let address = browser.current_url().await;
    assert!(!address.contains("code="), "{address}");

    // Signed out, the magic-link form: its link (PKCE, verifier in the sealed cookie) signs the
    // same user in again.
    browser.click("#sign-out").await;
    browser
        .wait_for_text("[data-testid=status]", "You are signed out.")
        .await;
    browser
        .type_into("#magic-link input[name=email]", &email)
        .await;
    browser.click("#magic-link button[type=submit]").await;
    browser
        .wait_for_text(
            "#notice",
            "Check your mailbox: follow the link we sent to finish signing up.",
        )
        .await;
    let magic = site.last_link(&email);
    browser.goto(&magic).await;
    browser
        .wait_for_text("#notice", "Your email is verified: you are signed in.")
        .await;
    assert_eq!(shown_user(browser).await, user_id, "the same user");

    site.assert_no_refresh_token_reached_the_browser().await;
}
