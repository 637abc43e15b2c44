//! One headless Chromium (one WebDriver session) and what a test does with it.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::driver::{ChromeDriver, http_request};

/// Chromium's flags: headless as root on a closed network (TOOLCHAIN.md), and no throttling of
/// background tabs, whose timers and `BroadcastChannel` handlers would otherwise stall (tests
/// that span tabs). `--user-data-dir` is added per browser.
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

/// Debian's Chromium (package `chromium`); ChromeDriver looks for Chrome itself when absent.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long a `wait_*` polls by default.
const WAIT: Duration = Duration::from_secs(10);

/// How often a `wait_*` looks again.
const POLL: Duration = Duration::from_millis(50);

/// The longest one WebDriver command may take before the test panics. ChromeDriver's own page
/// load and script timeouts ([`PAGE_LOAD`]) are shorter, so that its error comes first.
const COMMAND: Duration = Duration::from_secs(45);

/// ChromeDriver's page-load and script timeouts for the session.
const PAGE_LOAD: Duration = Duration::from_secs(30);

/// Starting Chromium on a busy machine can take a while; longer than this is a hang.
const SESSION_START: Duration = Duration::from_secs(60);

/// How a [`Browser`] starts. `BrowserOptions::default()`: JavaScript on, waits of 10 seconds.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    javascript: bool,
    wait: Duration,
    args: Vec<String>,
}

impl Default for BrowserOptions {
    fn default() -> BrowserOptions {
        BrowserOptions {
            javascript: true,
            wait: WAIT,
            args: Vec::new(),
        }
    }
}

impl BrowserOptions {
    /// With `false`, pages run no JavaScript (Chromium's preference
    /// `webkit.webprefs.javascript_enabled`, for every tab of this browser). The harness's own
    /// scripts ([`Browser::execute`], finding elements) still run: WebDriver runs them through
    /// the DevTools protocol, which the preference does not cover.
    pub fn javascript(mut self, enabled: bool) -> BrowserOptions {
        self.javascript = enabled;
        self
    }

    /// How long the `wait_*` methods poll before they fail the test (default 10 seconds).
    pub fn wait(mut self, timeout: Duration) -> BrowserOptions {
        self.wait = timeout;
        self
    }

    /// One more Chromium command-line flag, e.g. `--lang=de`.
    pub fn arg(mut self, flag: impl Into<String>) -> BrowserOptions {
        self.args.push(flag.into());
        self
    }
}

/// A browser tab (a WebDriver window handle) of a [`Browser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tab(WindowHandle);

/// One headless Chromium with a fresh profile, driven over WebDriver.
///
/// Every method panics with a message naming what it did when the browser fails or does not
/// answer within 45 seconds; the `wait_*` methods panic after their timeout with the page's URL,
/// text and HTML. When it drops (also during a panic), the session is ended, which quits
/// Chromium, and the profile directory is removed.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    session_id: String,
    driver_port: u16,
    profile: PathBuf,
    wait: Duration,
}

impl Browser {
    /// Starts Chromium through `driver`; the new tab shows `about:blank`.
    pub(crate) async fn open(driver: &ChromeDriver, options: BrowserOptions) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "browser-harness-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&profile).unwrap_or_else(|e| {
            panic!(
                "cannot create the browser profile {}: {e}",
                profile.display()
            )
        });
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.extend(options.args.iter().cloned());
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut chrome_options = json!({ "args": args });
        if let Some(binary) = chromium() {
            chrome_options["binary"] = json!(binary);
        }
        if !options.javascript {
            chrome_options["prefs"] =
                json!({ "webkit": { "webprefs": { "javascript_enabled": false } } });
        }
        let millis = u64::try_from(PAGE_LOAD.as_millis()).unwrap_or(u64::MAX);
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        capabilities.insert(
            "timeouts".into(),
            json!({ "pageLoad": millis, "script": millis, "implicit": 0 }),
        );

        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let driver_url = driver.url();
        let connect = builder.connect(&driver_url);
        let client = match tokio::time::timeout(SESSION_START, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                let _ = std::fs::remove_dir_all(&profile);
                panic!(
                    "cannot start Chromium through ChromeDriver: {e}; install it \
                     (`apt-get install chromium chromium-driver`) or set CHROMIUM to its path"
                )
            }
            Err(_) => {
                let _ = std::fs::remove_dir_all(&profile);
                panic!("Chromium did not start within {SESSION_START:?}")
            }
        };
        let session_id = match client.session_id().await {
            Ok(Some(id)) => id,
            other => panic!("a new WebDriver session without an id: {other:?}"),
        };
        Browser {
            client,
            session_id,
            driver_port: driver.port(),
            profile,
            wait: options.wait,
        }
    }

    /// The fantoccini client, for what this harness does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one WebDriver command; panics naming `what` when it fails or hangs.
    async fn step<T>(&self, what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
        self.try_step(command)
            .await
            .unwrap_or_else(|e| panic!("WebDriver: {what}: {e}"))
    }

    /// Runs one WebDriver command with the [`COMMAND`] timeout; its error as text.
    async fn try_step<T>(
        &self,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(COMMAND, command).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {COMMAND:?}")),
        }
    }

    // Navigation.

    /// Loads `url` in the current tab and waits for the page load.
    pub async fn goto(&self, url: &str) {
        self.step(&format!("go to {url}"), self.client.goto(url))
            .await;
    }

    /// Reloads the current page.
    pub async fn reload(&self) {
        self.step("reload", self.client.refresh()).await;
    }

    /// The current tab's URL.
    pub async fn current_url(&self) -> String {
        self.step("current URL", self.client.current_url())
            .await
            .into()
    }

    // Elements.

    /// The first element matching the CSS selector `css` now (`#id` for an id), if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        self.try_step(self.client.find(Locator::Css(css)))
            .await
            .ok()
    }

    /// The text of the first element matching `css` now, as rendered (WebDriver's element
    /// text: visible text only), if there is such an element.
    pub async fn text(&self, css: &str) -> Option<String> {
        let element = self.find(css).await?;
        self.try_step(element.text()).await.ok()
    }

    /// Waits until an element matches `css`; returns it.
    pub async fn wait_element(&self, css: &str) -> Element {
        self.poll(|| async {
            self.find(css)
                .await
                .ok_or_else(|| format!("`{css}` should be there"))
        })
        .await
    }

    /// Waits until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        self.poll(|| async {
            match self.find(css).await {
                None => Ok(()),
                Some(_) => Err(format!("`{css}` should be gone")),
            }
        })
        .await;
    }

    /// Waits until the element matching `css` has a text for which `ok` holds; returns that
    /// text. `what` says what was expected, for the failure message (e.g. "should be a UUID").
    pub async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.poll(|| async {
            match self.text(css).await {
                Some(text) if ok(&text) => Ok(text),
                Some(text) => Err(format!("`{css}` {what}: last seen {text:?}")),
                None => Err(format!("`{css}` {what}: no such element")),
            }
        })
        .await
    }

    /// Waits until the element matching `css` reads exactly `want`.
    pub async fn wait_for_text(&self, css: &str, want: &str) {
        self.wait_text(css, &format!("should read {want:?}"), |t| t == want)
            .await;
    }

    /// Waits for the element matching `css`, then clicks it.
    pub async fn click(&self, css: &str) {
        let element = self.wait_element(css).await;
        self.step(&format!("click `{css}`"), element.click()).await;
    }

    /// Waits for the element matching `css`, then types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_element(css).await;
        self.step(&format!("type into `{css}`"), element.send_keys(text))
            .await;
    }

    // Waiting for anything.

    /// Calls `check` until it returns `Some`, and returns that; `what` names the awaited state
    /// for the failure message.
    ///
    /// ```no_run
    /// # async fn f(browser: browser_harness::Browser) {
    /// let tabs = browser
    ///     .wait_until("two tabs", || async {
    ///         let tabs = browser.tabs().await;
    ///         (tabs.len() == 2).then_some(tabs)
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn wait_until<T, Fut>(&self, what: &str, mut check: impl FnMut() -> Fut) -> T
    where
        Fut: Future<Output = Option<T>>,
    {
        self.poll(|| {
            let attempt = check();
            async move { attempt.await.ok_or_else(|| what.to_owned()) }
        })
        .await
    }

    /// Runs `script` (a function body, as for [`Browser::execute`]) until it returns a truthy
    /// value, and returns that value.
    pub async fn wait_script(&self, what: &str, script: &str) -> Value {
        self.poll(|| async {
            let value = self
                .try_step(self.client.execute(script, Vec::new()))
                .await?;
            if truthy(&value) {
                Ok(value)
            } else {
                Err(format!("{what}: the script returned {value}"))
            }
        })
        .await
    }

    /// Calls `check` every [`POLL`] until it returns `Ok`; after the wait timeout, fails the
    /// test with the last `Err` (what was seen) and the page.
    async fn poll<T, Fut>(&self, mut check: impl FnMut() -> Fut) -> T
    where
        Fut: Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + self.wait;
        loop {
            // Each check is a few WebDriver commands; one that hangs counts as a failed look.
            let outcome = tokio::time::timeout(COMMAND, check())
                .await
                .unwrap_or_else(|_| Err(format!("a check did not finish within {COMMAND:?}")));
            match outcome {
                Ok(value) => return value,
                Err(seen) if Instant::now() >= deadline => self.fail(&seen).await,
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Panics with `why`, the wait timeout and [`Browser::page_report`].
    async fn fail(&self, why: &str) -> ! {
        let page = self.page_report().await;
        panic!("timed out after {:?}: {why}\n{page}", self.wait)
    }

    /// The current tab's URL, visible text and HTML (each cut short), for failure messages.
    pub async fn page_report(&self) -> String {
        let url = self
            .try_step(self.client.current_url())
            .await
            .map_or_else(|e| format!("(unknown: {e})"), String::from);
        let text = self
            .try_step(self.client.execute(
                "return document.body ? document.body.innerText : ''",
                Vec::new(),
            ))
            .await
            .map_or_else(|e| format!("(cannot read: {e})"), as_text);
        let html = self
            .try_step(self.client.source())
            .await
            .unwrap_or_else(|e| format!("(cannot read: {e})"));
        format!(
            "page: {url}\ntext:\n{}\nhtml:\n{}",
            excerpt(&text, 2000),
            excerpt(&html, 4000)
        )
    }

    // Scripts.

    /// Runs `script` in the page as the body of a function (WebDriver's Execute Script: `return`
    /// gives the result, `arguments` holds `args`) and returns its JSON result.
    ///
    /// ```no_run
    /// # async fn f(browser: browser_harness::Browser) {
    /// let sum = browser.execute("return arguments[0] + 1", vec![41.into()]).await;
    /// assert_eq!(sum, 42);
    /// # }
    /// ```
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.step(
            &format!("execute script {}", excerpt(script, 200)),
            self.client.execute(script, args),
        )
        .await
    }

    /// Runs `script` as an asynchronous function body (WebDriver's Execute Async Script): the
    /// last of `arguments` is a callback, and its argument is the result. Fails after 30 seconds
    /// without a call.
    ///
    /// ```no_run
    /// # async fn f(browser: browser_harness::Browser) {
    /// let status = browser
    ///     .execute_async(
    ///         "const done = arguments[arguments.length - 1];
    ///          fetch('/').then(r => done(r.status), e => done(String(e)));",
    ///         vec![],
    ///     )
    ///     .await;
    /// # }
    /// ```
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.step(
            &format!("execute async script {}", excerpt(script, 200)),
            self.client.execute_async(script, args),
        )
        .await
    }

    /// The page's `document.cookie` (the cookies its scripts can see: not the `HttpOnly` ones).
    pub async fn document_cookie(&self) -> String {
        as_text(self.execute("return document.cookie", Vec::new()).await)
    }

    /// The page's `localStorage.getItem(key)`.
    pub async fn local_storage(&self, key: &str) -> Option<String> {
        self.execute(
            "return localStorage.getItem(arguments[0])",
            vec![json!(key)],
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// The page's `sessionStorage.getItem(key)`.
    pub async fn session_storage(&self, key: &str) -> Option<String> {
        self.execute(
            "return sessionStorage.getItem(arguments[0])",
            vec![json!(key)],
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Sends a Chrome DevTools Protocol command to the current tab (ChromeDriver's
    /// `goog/cdp/execute`), e.g. `Network.emulateNetworkConditions`; returns its result.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        let cdp = CdpCommand {
            command: command.to_owned(),
            params,
        };
        self.step(&format!("CDP {command}"), self.client.issue_cmd(cdp))
            .await
    }

    // Tabs.

    /// The current tab.
    pub async fn tab(&self) -> Tab {
        Tab(self.step("current window", self.client.window()).await)
    }

    /// Every open tab.
    pub async fn tabs(&self) -> Vec<Tab> {
        let handles = self.step("window handles", self.client.windows()).await;
        handles.into_iter().map(Tab).collect()
    }

    /// Opens a new tab (`about:blank`) and returns it; the current tab stays current, see
    /// [`Browser::switch_to`] and [`Browser::open_tab`].
    pub async fn new_tab(&self) -> Tab {
        let created = self.step("new tab", self.client.new_window(true)).await;
        Tab(created.handle)
    }

    /// Opens a new tab, makes it current and front, and loads `url` in it.
    pub async fn open_tab(&self, url: &str) -> Tab {
        let tab = self.new_tab().await;
        self.switch_to(&tab).await;
        self.goto(url).await;
        tab
    }

    /// Makes `tab` the current tab and brings it to the front (DevTools `Page.bringToFront`):
    /// headless Chromium may not run a background tab's `BroadcastChannel` handlers until then.
    pub async fn switch_to(&self, tab: &Tab) {
        self.step(
            "switch to window",
            self.client.switch_to_window(tab.0.clone()),
        )
        .await;
        self.cdp("Page.bringToFront", json!({})).await;
    }

    /// Closes the current tab; switch to another one before the next command.
    pub async fn close_tab(&self) {
        self.step("close window", self.client.close_window()).await;
    }

    /// Ends the session, which quits Chromium. Dropping the browser does the same; this is the
    /// polite way, which reports a failure.
    pub async fn close(self) {
        self.step("end session", self.client.clone().close()).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking, because the async runtime may be gone (a panic unwinding through the test).
        // A session already ended by `close` just answers 404. ChromeDriver answers when
        // Chromium has exited, so the profile is no longer being written.
        let path = format!("/session/{}", self.session_id);
        let _ = http_request(self.driver_port, "DELETE", &path, Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// ChromeDriver's `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct CdpCommand {
    command: String,
    params: Value,
}

impl WebDriverCompatibleCommand for CdpCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// `$CHROMIUM` if set, else Debian's Chromium if installed.
fn chromium() -> Option<String> {
    match std::env::var("CHROMIUM") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => std::path::Path::new(DEFAULT_CHROMIUM)
            .exists()
            .then(|| DEFAULT_CHROMIUM.to_owned()),
    }
}

/// JavaScript's truthiness of a script's result.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A string result as is; anything else as JSON.
fn as_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The first `max` characters of `text`, with a note when there were more.
fn excerpt(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}… (cut)")
    } else {
        head
    }
}
