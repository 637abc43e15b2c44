//! End-to-end tests of the Yew example: the built app, served by this crate's own binary beside
//! its in-process auth emulator, driven in headless Chromium over WebDriver (ChromeDriver) with
//! the workspace's `browser-harness`.
//!
//! Run by `cargo xtask test`, which builds the app for the browser (dev profile) and sets
//! `NHOST_E2E_DIST` (the folder with `example-yew-csr.js` and its `.wasm`) and `CHROMEDRIVER`.
//!
//! Every test has its own server (in-memory database), ChromeDriver and Chromium profile, so
//! the tests are independent of each other and of their order. The email-link tests of issue 11
//! run the auth server in the test ([`Verifying`]: verification required, its mailbox read with
//! `emulator.mailbox()`). The multi-tab tests of issue 15
//! run the auth server in the test instead ([`FarAway`]): an emulator with 4-second access
//! tokens behind a [`DelayProxy`] that makes it 300 ms away.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;
use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

use browser_harness::serde_json::json;
use browser_harness::{Browser, BrowserOptions, ChromeDriver, DelayProxy, ServerProcess, Tab};
use nhost_auth_emulator::{Config, Emulator};

/// The built app (`NHOST_E2E_DIST`); panics when it is not set, so that the tests never pass
/// without having run.
fn dist() -> OsString {
    match std::env::var_os("NHOST_E2E_DIST").filter(|d| !d.is_empty()) {
        Some(dist) => dist,
        None => panic!(
            "NHOST_E2E_DIST is not set: the end-to-end tests need the app built for the \
             browser; run `cargo xtask test`, which builds it and sets NHOST_E2E_DIST"
        ),
    }
}

/// The example's server on a free port, serving `dist`; the caller says where its auth server is.
fn server_command(dist: &OsString) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_example-yew-csr"));
    command
        .arg("--dist")
        .arg(dist)
        .env("PORT", "0")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("AUTH_EMAIL_SIGNIN_EMAIL_VERIFIED_REQUIRED", "false")
        .env_remove("AUTH_PORT");
    command
}

/// The server, ChromeDriver and browser of one test; each stops its process when this drops,
/// also when the test panics (the browser first: fields drop in declaration order).
struct Fixture {
    browser: Browser,
    _driver: ChromeDriver,
    server: ServerProcess,
}

impl Fixture {
    /// The example's server, and a new browser (fresh profile) on its page.
    async fn start() -> Fixture {
        let dist = dist();
        let mut command = server_command(&dist);
        command.env_remove("NHOST_AUTH_URL");
        // Prints "example-yew-csr on http://127.0.0.1:NNNNN (auth: …)".
        let server = ServerProcess::start(command);
        let driver = ChromeDriver::start().await;
        let browser = driver.browser().await;
        browser.goto(server.url()).await;
        Fixture {
            browser,
            _driver: driver,
            server,
        }
    }

    /// The app's page, e.g. `http://127.0.0.1:41234/`.
    fn url(&self) -> &str {
        self.server.url()
    }
}

/// Clicks "Anonymous sign-in" and waits for the signed-in view; returns the user id.
async fn sign_in_anonymously(browser: &Browser) -> String {
    browser.click("#sign-in").await;
    browser
        .wait_for_text("#success", "You are now signed in anonymously")
        .await;
    browser
        .wait_text("[data-testid=user-id]", "should be a UUID", is_uuid)
        .await
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

#[tokio::test]
async fn anonymous_sign_in() {
    let fixture = Fixture::start().await;
    let browser = &fixture.browser;
    sign_in_anonymously(browser).await;
    browser
        .wait_for_text("[data-testid=default-role]", "public")
        .await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "true")
        .await;
    browser
        .wait_text(
            "[data-testid=expires-in]",
            "should be a number of seconds",
            |t| {
                t.strip_suffix(" s")
                    .is_some_and(|n| n.parse::<u64>().is_ok())
            },
        )
        .await;
}

#[tokio::test]
async fn reload_keeps_the_session() {
    let fixture = Fixture::start().await;
    let browser = &fixture.browser;
    let id = sign_in_anonymously(browser).await;
    browser.goto(fixture.url()).await;
    // The session comes back from localStorage: signed in without clicking.
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "true")
        .await;
}

#[tokio::test]
async fn sign_out_reaches_the_other_tab() {
    let fixture = Fixture::start().await;
    let browser = &fixture.browser;
    let first = browser.tab().await;
    let id = sign_in_anonymously(browser).await;

    let second = browser.open_tab(fixture.url()).await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;

    browser.switch_to(&first).await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser.click("#sign-out").await;
    browser.wait_gone("[data-testid=user-id]").await;

    // The BroadcastChannel sync: the other tab signs out too.
    browser.switch_to(&second).await;
    browser.wait_gone("[data-testid=user-id]").await;
    browser.wait_gone("#sign-out").await;
    browser.wait_for_text("#sign-in", "Anonymous sign-in").await;
}

#[tokio::test]
async fn deanonymize_with_email_and_password() {
    let fixture = Fixture::start().await;
    let browser = &fixture.browser;
    let id = sign_in_anonymously(browser).await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "true")
        .await;
    let email = format!("e2e-{}@example.com", uuid::Uuid::new_v4());
    browser
        .type_into("#deanonymize input[name=email]", &email)
        .await;
    browser
        .type_into("#deanonymize input[name=password]", "secret123")
        .await;
    browser.click("#deanonymize button[type=submit]").await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "false")
        .await;
    // The same user, now with an email and password (verification is off: still signed in).
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser.wait_gone("#deanonymize").await;
}

// Issue 11: email links end to end. An anonymous user keeps their account with email
// verification required: the server revokes the anonymous session and emails a link, which
// leads back to the app with a one-time PKCE `code`; the provider exchanges it with the verifier
// this browser kept, and takes it out of the address bar.

/// The example's server pointed (`NHOST_AUTH_URL`) at an emulator in this test that requires
/// verified emails, and whose client URL is the app (so the test reads the link from
/// `emulator.mailbox()`, and the link leads back to the app). Fields drop in declaration order.
struct Verifying {
    browser: Browser,
    driver: ChromeDriver,
    server: ServerProcess,
    emulator: Emulator,
}

impl Verifying {
    async fn start() -> Verifying {
        let dist = dist();
        // The app's port is chosen first: the emulator must know where its links lead.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut config = Config::default();
        config.anonymous_role = "public".into();
        config.email_verification_required = true;
        config.bcrypt_cost = 4;
        config.client_url = format!("http://127.0.0.1:{port}");
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let mut command = server_command(&dist);
        command
            .env("NHOST_AUTH_URL", emulator.url())
            .env("PORT", port.to_string())
            .env("AUTH_EMAIL_SIGNIN_EMAIL_VERIFIED_REQUIRED", "true");
        let server = ServerProcess::start(command);
        let driver = ChromeDriver::start().await;
        let browser = driver.browser().await;
        keep_landing_address(&browser).await;
        browser.goto(server.url()).await;
        Verifying {
            browser,
            driver,
            server,
            emulator,
        }
    }

    /// The link of the last email sent to `email`.
    fn link_to(&self, email: &str) -> String {
        self.emulator
            .mailbox()
            .to(email)
            .pop()
            .unwrap_or_else(|| panic!("no email was sent to {email}"))
            .link
    }
}

/// Keeps, in every page the browser opens from now on, the address the page was opened with
/// (`sessionStorage["e2e-landing"]`), saved before any of the page's scripts runs: the app takes
/// the link's code out of the address bar, and the bad-link cases open that address again.
async fn keep_landing_address(browser: &Browser) {
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": "try { sessionStorage.setItem('e2e-landing', location.href) } catch (_) {}" }),
        )
        .await;
}

/// Signs in anonymously and deanonymizes with a new email; the server wants it verified.
/// Returns the user id and the email.
async fn deanonymize_needing_verification(browser: &Browser) -> (String, String) {
    let id = sign_in_anonymously(browser).await;
    let email = format!("e2e-{}@example.com", uuid::Uuid::new_v4());
    browser
        .type_into("#deanonymize input[name=email]", &email)
        .await;
    browser
        .type_into("#deanonymize input[name=password]", "secret123")
        .await;
    browser.click("#deanonymize button[type=submit]").await;
    browser
        .wait_for_text("#check-mailbox", "Check your mailbox")
        .await;
    // The server revoked the anonymous session: signed out until the link is followed.
    browser.wait_gone("[data-testid=user-id]").await;
    (id, email)
}

/// Asserts that the address bar holds no part of an email link.
async fn assert_clean_address(browser: &Browser) {
    let url = browser.current_url().await;
    assert!(
        !url.contains("code=") && !url.contains("refreshToken"),
        "the link stays in the address bar: {url}"
    );
}

#[tokio::test]
async fn verification_link_signs_the_same_user_in() {
    let fixture = Verifying::start().await;
    let browser = &fixture.browser;
    let (id, email) = deanonymize_needing_verification(browser).await;

    let link = fixture.link_to(&email);
    browser.goto(&link).await;
    browser
        .wait_for_text("#email-link", "Your email is verified: you are signed in.")
        .await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "false")
        .await;
    let landing = browser
        .session_storage("e2e-landing")
        .await
        .expect("the landing address was kept");
    assert!(
        landing.starts_with(fixture.server.url()) && landing.contains("code="),
        "the link leads back to the app with a PKCE code: {landing}"
    );
    assert!(!landing.contains("refreshToken"), "{landing}");
    assert_clean_address(browser).await;
    assert!(
        browser.find("#email-link-error").await.is_none(),
        "{}",
        browser.page_report().await
    );

    // A reload keeps the verified session and completes nothing.
    browser.reload().await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "false")
        .await;
    assert!(browser.find("#email-link").await.is_none());
}

#[tokio::test]
async fn bad_links_say_so_and_change_no_session() {
    let fixture = Verifying::start().await;
    let browser = &fixture.browser;
    let (id, email) = deanonymize_needing_verification(browser).await;
    let link = fixture.link_to(&email);
    browser.goto(&link).await;
    browser
        .wait_for_text("#email-link", "Your email is verified: you are signed in.")
        .await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    let landing = browser
        .session_storage("e2e-landing")
        .await
        .expect("the landing address was kept");

    // The same code again, in the same browser: used (and its verifier spent).
    browser.goto(&landing).await;
    browser
        .wait_text("#email-link-error", "an error about the link", |t| {
            t.starts_with("This email link did not work:")
        })
        .await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "false")
        .await;
    assert_clean_address(browser).await;

    // The email's link again: the server's own verdict (its ticket is used), as `error=`.
    browser.goto(&link).await;
    browser
        .wait_text(
            "#email-link-error",
            "the server's error about the link",
            |t| t.starts_with("This email link did not work:"),
        )
        .await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    assert_clean_address(browser).await;

    // The code in another browser (a fresh profile: no verifier there): not signed in.
    let other = fixture.driver.browser().await;
    other.goto(&landing).await;
    other
        .wait_text(
            "#email-link-error",
            "an error naming the other browser",
            |t| t.contains("another browser"),
        )
        .await;
    other.wait_for_text("#sign-in", "Anonymous sign-in").await;
    assert!(other.find("[data-testid=user-id]").await.is_none());
    assert_clean_address(&other).await;
    other.close().await;

    // And the first browser is still signed in as the verified user.
    browser.reload().await;
    browser.wait_for_text("[data-testid=user-id]", &id).await;
    browser
        .wait_for_text("[data-testid=is-anonymous]", "false")
        .await;
}

// Issue 15: no lost sessions in the browser. Several tabs of one browser (one profile: shared
// `localStorage`, one Web Lock) against an auth server 300 ms away with 4-second access tokens,
// so that every tab wants a refresh every two seconds and a `/token` takes long enough for the
// tabs' refreshes to overlap.

/// How many tabs the multi-tab tests open.
const TABS: usize = 4;

/// The delay the proxy adds in each direction: a 300 ms round trip.
const ONE_WAY: Duration = Duration::from_millis(150);

/// The access tokens' lifetime: the client refreshes within its last half (2 s).
const TOKEN_LIFETIME: Duration = Duration::from_secs(4);

/// How long the four tabs are kept, and how often each is looked at meanwhile.
const KEEP: Duration = Duration::from_secs(60);
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// The example's server pointed (`NHOST_AUTH_URL`) at an auth server far away: an emulator in
/// this process (4-second access tokens, anonymous role `public`) behind a [`DelayProxy`].
/// Fields drop in declaration order: the browser first, the emulator last.
struct FarAway {
    browser: Browser,
    _driver: ChromeDriver,
    server: ServerProcess,
    proxy: DelayProxy,
    emulator: Emulator,
}

impl FarAway {
    async fn start() -> FarAway {
        let dist = dist();
        let mut config = Config::default();
        config.anonymous_role = "public".into();
        config.access_token_expires_in = TOKEN_LIFETIME;
        config.bcrypt_cost = 4;
        // `Config::default()`: in-memory SQLite, a free port of 127.0.0.1.
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        // The page calls the proxy's address, `127.0.0.1:<port>`: an IP address, which the
        // emulator's Host check (DNS-rebinding guard) accepts, and the page's origin is echoed
        // by its CORS like for any origin.
        let proxy = DelayProxy::start(emulator.addr(), ONE_WAY).await;
        let mut command = server_command(&dist);
        command.env("NHOST_AUTH_URL", proxy.url());
        let server = ServerProcess::start(command);
        let driver = ChromeDriver::start().await;
        // Four tabs of a debug build starting at once on a shared machine: patient waits.
        let browser = driver
            .browser_with(BrowserOptions::default().wait(Duration::from_secs(45)))
            .await;
        browser.goto(server.url()).await;
        FarAway {
            browser,
            _driver: driver,
            server,
            proxy,
            emulator,
        }
    }

    fn url(&self) -> &str {
        self.server.url()
    }

    /// The round trip a page sees to the auth server: the fastest of three `GET /healthz`
    /// from the current tab, in milliseconds.
    async fn round_trip_ms(&self) -> f64 {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let ms = self
                .browser
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     const start = performance.now();
                     fetch(arguments[0] + '/healthz', { cache: 'no-store' })
                       .then(r => r.text())
                       .then(() => done(performance.now() - start), e => done(String(e)));",
                    vec![json!(self.proxy.url())],
                )
                .await;
            let ms = ms
                .as_f64()
                .unwrap_or_else(|| panic!("GET /healthz through the proxy failed: {ms}"));
            best = best.min(ms);
        }
        best
    }
}

/// Installs in the current tab a watcher that looks at the page every 100 ms and records when
/// it does not show the user `id` (signed out, restoring, or another user), and every change of
/// the stored session that another tab makes (`storage` events: a tab does not see its own
/// writes). The session is looked for under nhost-js's keys: `nhostSession` (the whole session,
/// JSON: what nhost-core writes) and the older `nhostRefreshToken` (what it wrote before issue
/// 15), so that the figures of both can be compared.
const WATCH: &str = "
    const id = arguments[0];
    if (!window.__e2e) {
      const w = window.__e2e = { looks: 0, wrong: 0, firstWrong: [], tokens: [], cleared: 0 };
      setInterval(() => {
        w.looks++;
        const el = document.querySelector('[data-testid=user-id]');
        const seen = el ? el.textContent : null;
        if (seen !== id) {
          w.wrong++;
          if (w.firstWrong.length < 3) w.firstWrong.push({ at: new Date().toISOString(), seen });
        }
      }, 100);
      addEventListener('storage', e => {
        let token;
        if (e.key === null) { w.cleared++; return; }
        if (e.key === 'nhostSession') {
          if (e.newValue === null) { w.cleared++; return; }
          try { token = JSON.parse(e.newValue).refreshToken; } catch (_) {}
        } else if (e.key === 'nhostRefreshToken') {
          if (e.newValue === null) { w.cleared++; return; }
          token = e.newValue;
        }
        if (token && !w.tokens.includes(token)) w.tokens.push(token);
      });
    }
    return true;";

/// What [`WATCH`] recorded in one tab.
#[derive(Debug, Default)]
struct Watched {
    /// In-page looks.
    looks: u64,
    /// Looks that did not show the user.
    wrong: u64,
    /// The first few of them (time, what was shown, as JSON), for the failure message.
    first_wrong: String,
    /// Refresh tokens other tabs stored (never printed).
    tokens: Vec<String>,
    /// Times another tab removed the stored session.
    cleared: u64,
}

async fn watched(browser: &Browser) -> Watched {
    let v = browser.execute("return window.__e2e || null", vec![]).await;
    assert!(
        !v.is_null(),
        "the watcher is gone from a tab (did it reload?)"
    );
    let count = |k: &str| v[k].as_u64().unwrap_or_default();
    Watched {
        looks: count("looks"),
        wrong: count("wrong"),
        first_wrong: v["firstWrong"].to_string(),
        tokens: v["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        cleared: count("cleared"),
    }
}

/// The user id the current tab shows now, if any.
async fn shown_user(browser: &Browser) -> Option<String> {
    browser.text("[data-testid=user-id]").await
}

/// Waits until the current tab shows the user `id`.
async fn wait_for_user(browser: &Browser, id: &str) {
    browser.wait_for_text("[data-testid=user-id]", id).await;
}

/// Waits until the current tab shows the user `id`, at most until `deadline`; `Err` with what it
/// showed instead (`None`: no user) when it did not.
async fn user_shown_by(
    browser: &Browser,
    id: &str,
    deadline: tokio::time::Instant,
) -> Result<(), Option<String>> {
    loop {
        let seen = shown_user(browser).await;
        if seen.as_deref() == Some(id) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Takes, from the current tab, the Web Lock under which the app's tabs refresh
/// (`nhost-rs:session`: a refresh holds it from before its `POST /token` until the answer is
/// stored) and keeps it until this tab's page goes away, which releases it.
///
/// The tests take it before they close, reload or navigate app tabs, so that no page goes away
/// with its `/token` in flight: the server has then rotated the token, and the only copy of the
/// new one dies with the page — the session is lost whatever the client does, since the
/// protocol has no reuse grace (`../shared/reference/PROTOCOL.md`). That is another failure than
/// the ones these tests are about; left to chance, it failed the restart test about one run in
/// three.
async fn hold_refresh_lock(browser: &Browser) {
    let held = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.locks
               .request('nhost-rs:session', () => { done(true); return new Promise(() => {}); })
               .catch(e => done(String(e)));",
            vec![],
        )
        .await;
    assert_eq!(held, json!(true), "the app's Web Lock could not be taken");
}

/// Fails the test when any tab has a note of trouble (the first three of each tab shown).
fn assert_no_trouble(trouble: &[Vec<String>]) {
    let report: Vec<String> = trouble
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| {
            let first: Vec<&str> = t.iter().take(3).map(String::as_str).collect();
            format!("tab {}: {} ({} notes)", i + 1, first.join("; "), t.len())
        })
        .collect();
    assert!(report.is_empty(), "sessions lost:\n{}", report.join("\n"));
}

/// Issue 15, first case: four tabs of one browser on a slow network (300 ms round trip to the
/// auth server, 4-second access tokens) for a minute. Against the app built from the commit
/// before the cross-tab lock (checked three times), every tab showed "signed out" within 4 to
/// 12 seconds, with 4 to 5 `/token` calls per rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tabs_on_a_slow_network_keep_one_user() {
    let far = FarAway::start().await;
    let browser = &far.browser;
    let id = sign_in_anonymously(browser).await;
    let mut tabs = vec![browser.tab().await];
    for _ in 1..TABS {
        tabs.push(browser.open_tab(far.url()).await);
        wait_for_user(browser, &id).await;
    }
    for tab in &tabs {
        browser.switch_to(tab).await;
        wait_for_user(browser, &id).await;
    }
    let round_trip = far.round_trip_ms().await;
    assert!(
        round_trip >= 2.0 * ONE_WAY.as_secs_f64() * 1000.0,
        "the proxy should make a round trip of at least {:?}, took {round_trip:.0} ms",
        ONE_WAY * 2
    );

    // From here on, every `/token` call and every stored rotation is counted, and what went
    // wrong is noted per tab.
    let mut trouble: Vec<Vec<String>> = vec![Vec::new(); TABS];
    let before = far.emulator.stats();
    for tab in &tabs {
        browser.switch_to(tab).await;
        browser.execute(WATCH, vec![json!(id)]).await;
    }
    let start = Instant::now();
    let mut looks = 0;
    while start.elapsed() < KEEP {
        let round = tokio::time::Instant::now();
        for (i, tab) in tabs.iter().enumerate() {
            browser.switch_to(tab).await;
            let seen = shown_user(browser).await;
            looks += 1;
            if seen.as_deref() != Some(id.as_str()) {
                trouble[i].push(format!(
                    "showed {seen:?} at {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
            }
        }
        tokio::time::sleep_until(round + LOOK_EVERY).await;
    }
    let seconds = start.elapsed().as_secs_f64();

    let mut rotations = HashSet::new();
    let (mut in_page_looks, mut in_page_wrong) = (0, 0);
    for (i, tab) in tabs.iter().enumerate() {
        browser.switch_to(tab).await;
        let w = watched(browser).await;
        in_page_looks += w.looks;
        in_page_wrong += w.wrong;
        if w.wrong > 0 {
            trouble[i].push(format!(
                "did not show the user in {} of {} in-page looks, first: {}",
                w.wrong, w.looks, w.first_wrong
            ));
        }
        if w.cleared > 0 {
            trouble[i].push(format!(
                "saw the stored session removed {} times",
                w.cleared
            ));
        }
        rotations.extend(w.tokens);
    }
    let token_calls = far.emulator.stats().token_requests - before.token_requests;
    let rotations = rotations.len() as u64;

    // Every tab reloaded — between two refreshes (see `hold_refresh_lock`): the user comes back
    // from storage in each.
    browser.switch_to(&tabs[0]).await;
    hold_refresh_lock(browser).await;
    for tab in tabs.iter().skip(1).chain(&tabs[..1]) {
        browser.switch_to(tab).await;
        browser.reload().await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (i, tab) in tabs.iter().enumerate() {
        browser.switch_to(tab).await;
        if let Err(seen) = user_shown_by(browser, &id, deadline).await {
            trouble[i].push(format!("showed {seen:?} after the reload"));
        }
    }
    let stats = far.emulator.stats();

    let lost = trouble.iter().filter(|t| !t.is_empty()).count();
    eprintln!(
        "four tabs on a slow network: {TABS} tabs, {seconds:.0} s, round trip {round_trip:.0} ms \
         ({} ms each way), access tokens of {} s, {rotations} rotations, {token_calls} /token \
         calls ({:.2} per rotation), sessions lost in {lost} of {TABS} tabs ({looks} looks by \
         WebDriver, {in_page_looks} in the pages of which {in_page_wrong} without the user, \
         then a reload of every tab), {} anonymous sign-in(s)",
        ONE_WAY.as_millis(),
        TOKEN_LIFETIME.as_secs(),
        token_calls as f64 / rotations.max(1) as f64,
        stats.anonymous_sign_ins,
    );
    assert_no_trouble(&trouble);
    assert_eq!(stats.anonymous_sign_ins, 1, "one user, signed in once");
    // Refreshes happen within the token's last half: at least one per lifetime, or the tokens
    // would have expired (and the watchers would have missed the rotations).
    let least = KEEP.as_secs() / TOKEN_LIFETIME.as_secs();
    assert!(
        rotations >= least,
        "expected at least {least} rotations in {seconds:.0} s, saw {rotations}"
    );
    // One `/token` per rotation, give or take one in flight at either end of the window.
    assert!(
        token_calls * 2 <= rotations * 3 + 4,
        "{token_calls} /token calls for {rotations} rotations: tabs sent tokens another tab \
         had already rotated"
    );
}

/// A script statement that sets `at` to the stored access token's expiry (Unix seconds), or
/// `null`: from `nhostSession`, or from the older `nhostRefreshTokenExpiresAt` (an ISO date) that
/// the app wrote before issue 15 — so that this test can run against that build too.
const STORED_EXPIRY: &str = "
    const session = JSON.parse(localStorage.getItem('nhostSession'));
    const older = localStorage.getItem('nhostRefreshTokenExpiresAt');
    const at = session ? session.accessTokenExpiresAt : older ? Date.parse(older) / 1000 : null;";

/// Issue 15, second case: a browser restoring four tabs of the app the next morning — the
/// stored access token has expired, and every tab starts at the same moment, 300 ms from the
/// auth server. Against the app built from the commit before the cross-tab lock (checked
/// twice), every tab lost the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tabs_restarting_with_an_expired_token_keep_the_user() {
    let far = FarAway::start().await;
    let browser = &far.browser;
    let first = browser.tab().await;
    let id = sign_in_anonymously(browser).await;
    let mut others = Vec::new();
    for _ in 1..TABS {
        others.push(browser.open_tab(far.url()).await);
        wait_for_user(browser, &id).await;
    }

    // Leave the app everywhere, between two refreshes (see `hold_refresh_lock`): close three
    // tabs, and take the first to a page of the same origin without the app (the bundle's
    // JavaScript, shown as text), from which the store can still be read.
    browser.switch_to(&first).await;
    hold_refresh_lock(browser).await;
    for tab in &others {
        browser.switch_to(tab).await;
        browser.close_tab().await;
    }
    browser.switch_to(&first).await;
    let away = format!("{}example-yew-csr.js", far.url());
    browser.goto(&away).await;
    // A token stored when the app was left has at most its lifetime left.
    tokio::time::sleep(TOKEN_LIFETIME + Duration::from_secs(2)).await;
    let expired_for = browser
        .execute(
            &format!("{STORED_EXPIRY} return at === null ? null : Date.now() / 1000 - at;"),
            vec![],
        )
        .await
        .as_f64()
        .expect("the session is still stored while no tab runs the app");
    assert!(
        expired_for > 0.0,
        "the stored access token should have expired, it has {:.1} s left",
        -expired_for
    );

    // The browser restores its four tabs at once.
    let before = far.emulator.stats();
    let restart = Instant::now();
    browser
        .execute(
            "for (let i = 0; i < arguments[1]; i++) window.open(arguments[0], '_blank');",
            vec![json!(far.url()), json!(TABS)],
        )
        .await;
    let tabs: Vec<Tab> = browser
        .wait_until("the restored tabs", || async {
            let tabs: Vec<Tab> = browser
                .tabs()
                .await
                .into_iter()
                .filter(|t| *t != first)
                .collect();
            (tabs.len() == TABS).then_some(tabs)
        })
        .await;
    // The tabs show the stored user at once and refresh its expired token in the background:
    // count the `/token` calls until the refreshed session is stored (the next rotation is due
    // only some 1.5 s later).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let fresh = format!("{STORED_EXPIRY} return at !== null && at > Date.now() / 1000;");
    let mut refreshed = false;
    while !refreshed && tokio::time::Instant::now() < deadline {
        refreshed = browser.execute(&fresh, vec![]).await == json!(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token_calls = far.emulator.stats().token_requests - before.token_requests;
    let refreshed_after = restart.elapsed().as_secs_f64();
    let mut trouble: Vec<Vec<String>> = vec![Vec::new(); TABS];
    for (i, tab) in tabs.iter().enumerate() {
        browser.switch_to(tab).await;
        if let Err(seen) = user_shown_by(browser, &id, deadline).await {
            trouble[i].push(format!("showed {seen:?} after the restart"));
        }
    }
    let restored_after = restart.elapsed().as_secs_f64();

    // And they keep it through the next rotations.
    for tab in &tabs {
        browser.switch_to(tab).await;
        browser.execute(WATCH, vec![json!(id)]).await;
    }
    tokio::time::sleep(TOKEN_LIFETIME * 2).await;
    for (i, tab) in tabs.iter().enumerate() {
        browser.switch_to(tab).await;
        let w = watched(browser).await;
        if w.wrong > 0 || w.cleared > 0 || shown_user(browser).await.as_deref() != Some(id.as_str())
        {
            trouble[i].push(format!(
                "{} of {} in-page looks without the user (first: {}), {} removals",
                w.wrong, w.looks, w.first_wrong, w.cleared
            ));
        }
    }
    let stats = far.emulator.stats();
    let refresh_note = if refreshed {
        format!("the session refreshed and stored after {refreshed_after:.1} s")
    } else {
        format!("no refreshed session stored within {refreshed_after:.1} s")
    };
    eprintln!(
        "four tabs restarting with an expired token: {TABS} tabs opened at once, the access \
         token expired {expired_for:.1} s before, {} ms each way, {refresh_note} with \
         {token_calls} /token call(s), the tabs looked at after {restored_after:.1} s, sessions \
         lost in {} of {TABS} tabs, {} anonymous sign-in(s)",
        ONE_WAY.as_millis(),
        trouble.iter().filter(|t| !t.is_empty()).count(),
        stats.anonymous_sign_ins
    );
    assert_no_trouble(&trouble);
    assert!(refreshed, "{refresh_note}");
    assert_eq!(stats.anonymous_sign_ins, 1, "no new user");
    // One tab refreshes under the Web Lock; the others find its session in the store. A second
    // call is tolerated: the next rotation may have begun before the store was looked at.
    assert!(
        (1..=2).contains(&token_calls),
        "{token_calls} /token calls to refresh one expired session for {TABS} tabs"
    );
}
