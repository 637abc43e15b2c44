//! End-to-end tests of the Yew example: the built app, served by this crate's own binary beside
//! its in-process auth emulator, driven in headless Chromium over WebDriver (ChromeDriver).
//!
//! Run by `cargo xtask test`, which builds the app for the browser (dev profile) and sets
//! `NHOST_E2E_DIST` (the folder with `example-yew-csr.js` and its `.wasm`) and `CHROMEDRIVER`.
//!
//! Every test has its own server (in-memory database), ChromeDriver and Chromium profile, so
//! the tests are independent of each other and of their order. The WebDriver client is a few
//! `reqwest` calls (W3C WebDriver, plus ChromeDriver's `goog/cdp/execute`).

#![cfg(not(target_arch = "wasm32"))]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long [`Session::wait_text`] and friends poll the page.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often they look.
const POLL: Duration = Duration::from_millis(50);

/// Chromium's flags: headless as root on a closed network (TOOLCHAIN.md), and no throttling of
/// background tabs (the two-tab test); `--user-data-dir` is added per session.
const CHROME_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
];

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The server and ChromeDriver of one test; both are stopped (and the browser profiles removed)
/// when this drops, also when the test panics.
struct Fixture {
    /// The app, e.g. `http://127.0.0.1:41234/`.
    url: String,
    /// ChromeDriver, e.g. `http://127.0.0.1:41235`.
    driver_url: String,
    driver_port: u16,
    server: Child,
    driver: Child,
    profiles: Vec<PathBuf>,
    http: reqwest::Client,
}

impl Fixture {
    async fn start() -> Fixture {
        let Some(dist) = std::env::var_os("NHOST_E2E_DIST").filter(|d| !d.is_empty()) else {
            panic!(
                "NHOST_E2E_DIST is not set: the end-to-end tests need the app built for the \
                 browser; run `cargo xtask test`, which builds it and sets NHOST_E2E_DIST"
            );
        };
        let chromedriver =
            std::env::var_os("CHROMEDRIVER").unwrap_or_else(|| "/usr/bin/chromedriver".into());

        let mut server = Command::new(env!("CARGO_BIN_EXE_example-yew-csr"))
            .arg("--dist")
            .arg(&dist)
            .env("PORT", "0")
            .env("DATABASE_URL", "sqlite::memory:")
            .env("AUTH_EMAIL_SIGNIN_EMAIL_VERIFIED_REQUIRED", "false")
            .env_remove("NHOST_AUTH_URL")
            .env_remove("AUTH_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start example-yew-csr");
        let mut stdout = BufReader::new(server.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        let read = stdout.read_line(&mut first);
        // Keep draining, so that the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                eprintln!("example-yew-csr: {line}");
            }
        });
        // "example-yew-csr on http://127.0.0.1:NNNNN (auth: …)"
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(|u| format!("{}/", u.trim_end_matches('/')));
        let driver_port = free_port();
        // Built now, so that the guard owns the server even if ChromeDriver fails to start.
        let mut fixture = Fixture {
            url: url.clone().unwrap_or_default(),
            driver_url: format!("http://127.0.0.1:{driver_port}"),
            driver_port,
            driver: Command::new("true").spawn().expect("cannot run `true`"),
            server,
            profiles: Vec::new(),
            http: reqwest::Client::new(),
        };
        if url.is_none() {
            panic!("example-yew-csr printed no URL as its first line: {read:?} {first:?}");
        }
        fixture.driver = Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.to_string_lossy()));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let ready = fixture
                .http
                .get(format!("{}/status", fixture.driver_url))
                .send()
                .await
                .ok()
                .map(|r| r.json::<Value>());
            if let Some(body) = ready
                && let Ok(body) = body.await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ChromeDriver did not become ready on port {driver_port} within {TIMEOUT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
        fixture
    }

    /// A new browser (fresh profile) on the app's page.
    async fn session(&mut self) -> Session {
        let profile = std::env::temp_dir().join(format!(
            "example-yew-csr-e2e-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&profile).expect("cannot create the browser profile");
        self.profiles.push(profile.clone());
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
                }
            }
        });
        let created = send(
            self.http.post(format!("{}/session", self.driver_url)),
            Some(&capabilities),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot create a WebDriver session: {e}"));
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {created}"));
        let session = Session {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.driver_url),
            url: self.url.clone(),
        };
        session.goto(&self.url).await;
        session
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // ChromeDriver's /shutdown quits its browsers, which a kill would orphan.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                stream,
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.driver_port
            );
            let _ = std::io::Read::read_to_end(&mut stream, &mut Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.driver.try_wait(), Ok(None)) {
            std::thread::sleep(POLL);
        }
        for child in [&mut self.driver, &mut self.server] {
            let _ = child.kill();
            let _ = child.wait();
        }
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port")
}

/// Sends a WebDriver command; its `value`, or the WebDriver error as text.
async fn send(request: reqwest::RequestBuilder, body: Option<&Value>) -> Result<Value, String> {
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body["value"].clone())
    } else {
        Err(format!(
            "{status}: {} ({})",
            body["value"]["error"], body["value"]["message"]
        ))
    }
}

/// One WebDriver session: one browser.
struct Session {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    base: String,
    /// The app.
    url: String,
}

impl Session {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    async fn try_cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let request = self.http.request(method, format!("{}{path}", self.base));
        send(request, body.as_ref()).await
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element matching `css` now, if any.
    async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .try_cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .ok()?;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// The text of the element matching `css` now, if any.
    async fn text(&self, css: &str) -> Option<String> {
        let element = self.find(css).await?;
        let text = self
            .try_cmd(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await
            .ok()?;
        text.as_str().map(str::to_owned)
    }

    /// Polls until the element matching `css` has a text for which `ok` holds; returns it.
    async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = None;
        loop {
            if let Some(text) = self.text(css).await {
                if ok(&text) {
                    return text;
                }
                last = Some(text);
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "`{css}` {what}: last seen {}",
                    last.map_or("no such element".to_owned(), |t| format!("{t:?}"))
                ))
                .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until the element matching `css` has exactly `want` as its text.
    async fn wait_for(&self, css: &str, want: &str) {
        self.wait_text(css, &format!("should read {want:?}"), |t| t == want)
            .await;
    }

    /// Polls until nothing matches `css`.
    async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while self.find(css).await.is_some() {
            if Instant::now() >= deadline {
                self.fail(&format!("`{css}` should be gone")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Panics with `why`, how long we waited and an excerpt of the page.
    async fn fail(&self, why: &str) -> ! {
        let page = self
            .try_cmd(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({
                    "script": "return document.body ? document.body.outerHTML : document.documentElement.outerHTML",
                    "args": [],
                })),
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| format!("(cannot read the page: {e})"));
        let excerpt: String = page.chars().take(3000).collect();
        panic!(
            "timed out after {TIMEOUT:?}: {why}\npage ({}):\n{excerpt}",
            self.url
        );
    }

    async fn click(&self, css: &str) {
        let element = self.wait_element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_element(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Polls until an element matches `css`; returns its reference.
    async fn wait_element(&self, css: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("`{css}` should be there")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks "Anonymous sign-in" and waits for the signed-in view; returns the user id.
    async fn sign_in_anonymously(&self) -> String {
        self.click("#sign-in").await;
        self.wait_for("#success", "You are now signed in anonymously")
            .await;
        self.wait_text("[data-testid=user-id]", "should be a UUID", is_uuid)
            .await
    }

    async fn window_handle(&self) -> String {
        let handle = self.cmd(reqwest::Method::GET, "/window", None).await;
        handle.as_str().expect("a window handle").to_owned()
    }

    async fn new_tab(&self) -> String {
        let created = self
            .cmd(
                reqwest::Method::POST,
                "/window/new",
                Some(json!({ "type": "tab" })),
            )
            .await;
        created["handle"]
            .as_str()
            .expect("a window handle")
            .to_owned()
    }

    /// Switches to the tab `handle` and brings it to the front: a background tab in headless
    /// Chromium may not run its `BroadcastChannel` handlers.
    async fn switch_to(&self, handle: &str) {
        self.cmd(
            reqwest::Method::POST,
            "/window",
            Some(json!({ "handle": handle })),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": "Page.bringToFront", "params": {} })),
        )
        .await;
    }

    async fn close(self) {
        let _ = self.try_cmd(reqwest::Method::DELETE, "", None).await;
    }
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

#[tokio::test]
async fn anonymous_sign_in() {
    let mut fixture = Fixture::start().await;
    let browser = fixture.session().await;
    browser.sign_in_anonymously().await;
    browser
        .wait_for("[data-testid=default-role]", "public")
        .await;
    browser.wait_for("[data-testid=is-anonymous]", "true").await;
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
    browser.close().await;
}

#[tokio::test]
async fn reload_keeps_the_session() {
    let mut fixture = Fixture::start().await;
    let browser = fixture.session().await;
    let id = browser.sign_in_anonymously().await;
    browser.goto(&fixture.url).await;
    // The session comes back from localStorage: signed in without clicking.
    browser.wait_for("[data-testid=user-id]", &id).await;
    browser.wait_for("[data-testid=is-anonymous]", "true").await;
    browser.close().await;
}

#[tokio::test]
async fn sign_out_reaches_the_other_tab() {
    let mut fixture = Fixture::start().await;
    let browser = fixture.session().await;
    let first = browser.window_handle().await;
    let id = browser.sign_in_anonymously().await;

    let second = browser.new_tab().await;
    browser.switch_to(&second).await;
    browser.goto(&fixture.url).await;
    browser.wait_for("[data-testid=user-id]", &id).await;

    browser.switch_to(&first).await;
    browser.wait_for("[data-testid=user-id]", &id).await;
    browser.click("#sign-out").await;
    browser.wait_gone("[data-testid=user-id]").await;

    // The BroadcastChannel sync: the other tab signs out too.
    browser.switch_to(&second).await;
    browser.wait_gone("[data-testid=user-id]").await;
    browser.wait_gone("#sign-out").await;
    browser.wait_for("#sign-in", "Anonymous sign-in").await;
    browser.close().await;
}

#[tokio::test]
async fn deanonymize_with_email_and_password() {
    let mut fixture = Fixture::start().await;
    let browser = fixture.session().await;
    let id = browser.sign_in_anonymously().await;
    browser.wait_for("[data-testid=is-anonymous]", "true").await;
    let email = format!("e2e-{}@example.com", uuid::Uuid::new_v4());
    browser
        .type_into("#deanonymize input[name=email]", &email)
        .await;
    browser
        .type_into("#deanonymize input[name=password]", "secret123")
        .await;
    browser.click("#deanonymize button[type=submit]").await;
    browser
        .wait_for("[data-testid=is-anonymous]", "false")
        .await;
    // The same user, now with an email and password (verification is off: still signed in).
    browser.wait_for("[data-testid=user-id]", &id).await;
    browser.wait_gone("#deanonymize").await;
    browser.close().await;
}
