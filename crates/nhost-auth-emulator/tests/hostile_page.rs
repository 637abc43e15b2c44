//! Issue 16, item 1, in a real browser: a page on another site, in headless Chromium, can neither
//! read the development mailbox (every magic link) nor reset, empty or disable anything — not
//! cross-origin (CORS reads, forms, no-cors requests, beacons, `<img>`/`<script>`/`<iframe>`),
//! and not same-origin after DNS rebinding. `tests/security.rs` checks the same rules request by
//! request over plain HTTP; this checks that they hold against everything a page can do.
//!
//! The set-up: the emulator in-process with a real victim (a user with a session, and a magic
//! link for them in the mailbox); a hostile site (a small axum server) whose one page ([`PAGE`])
//! tries every attack on load and reports what it could see; Chromium, with `evil.test` and
//! `rebind.test` resolving to 127.0.0.1 (`--host-resolver-rules`). The browser reaches the
//! emulator through a [`Forwarder`] that records each request and the status it got, so the test
//! also knows that every attempt *arrived* and that the refusal was the emulator's, not the
//! browser's. Then, from Rust and with the emulator's own `Host`: the mailbox still holds the
//! magic link, the link still signs the victim in, and the victim's session still refreshes.
//!
//! DNS rebinding is simulated at the transport level: the page is loaded from
//! `http://rebind.test:P/` through a forwarder on port P that serves the hostile site; then the
//! forwarder's target is switched to the emulator (as DNS would be, to 127.0.0.1), and the page,
//! still on the same origin, asks `/_emulator/mailbox` and posts a JSON reset — requests that
//! pass every CORS and `Origin` rule (and Chromium sends no Fetch Metadata to a plain-http name
//! like this one). Only the `Host` check stops them; the same page against an emulator told to
//! answer `rebind.test` (`AUTH_EMULATOR_ALLOWED_HOSTS`) reads the ticket and resets everything,
//! which the test checks too, so it cannot pass vacuously.
//!
//! Every page is served from 127.0.0.1, so Chromium's own Local Network Access rules (a public
//! page asking loopback) play no part: whatever stops the page is the emulator.
//!
//! Checked once, on a copy of the crate (Chromium 156): with the emulator-route guard removed and
//! `/_emulator` given CORS again (the code before the fix), the first test fails — a plain
//! `fetch` reads the ticket; with only the guard removed it fails too (the emulator answers the
//! page with 200, and the form post resets); with the `Host` check removed, the second test fails
//! — the rebound page reads the ticket — while the first still passes, as it should: its page
//! names the emulator by IP address.
//!
//! Needs Chromium and ChromeDriver (`apt-get install chromium chromium-driver`, or `CHROMEDRIVER`
//! / `CHROMIUM`); without them it fails with that message, it never skips.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CONNECTION;
use axum::response::{Html, Response};
use axum::routing::get;
use browser_harness::fantoccini::Locator;
use browser_harness::{Browser, BrowserOptions, ChromeDriver};
use nhost_auth_emulator::{Config, Emulator};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const VICTIM: &str = "victim@example.com";
const PASSWORD: &str = "correct-horse-battery";

/// What the hostile site answers at `/whoami`; the page knows DNS has been rebound when another
/// server answers.
const WHOAMI: &str = "hostile site";

/// The attempts that are simple requests: the browser sends them without asking, so each must
/// reach the emulator and be refused there.
const SIMPLE_WRITES: &[&str] = &[
    "form-reset-urlencoded",
    "form-reset-text",
    "form-reset-multipart",
    "form-disable",
    "no-cors-reset-text",
    "no-cors-reset-json",
    "beacon-reset-text",
];

/// The attempts a browser sends cross-origin only after a preflight: the preflight must reach the
/// emulator and be refused, and the request itself must never be sent.
const PREFLIGHTED_WRITES: &[&str] = &[
    "fetch-reset-json",
    "fetch-reset-header",
    "fetch-disable-json",
    "fetch-delete-mailbox",
];

/// The attempts to read: each sends a GET that must reach the emulator and be refused.
const READS: &[&str] = &[
    "fetch-mailbox",
    "fetch-mailbox-credentials",
    "fetch-mailbox-to",
    "no-cors-mailbox",
    "fetch-stats",
    "xhr-mailbox",
    "img-mailbox",
    "script-mailbox",
    "iframe-mailbox",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_site_cannot_read_the_mailbox_nor_reset() {
    let started = Instant::now();
    let victim = Victim::start(&[]).await;
    let tap = Forwarder::start(victim.emulator.addr()).await;
    let site = HostileSite::start().await;
    let driver = ChromeDriver::start().await;
    let browser = driver.browser_with(browser_options()).await;

    // A public site (cross-site: `Sec-Fetch-Site: cross-site`), and another local server on
    // the same address (same-site: a different port of 127.0.0.1).
    for page_origin in [
        format!("http://evil.test:{}", site.port()),
        format!("http://127.0.0.1:{}", site.port()),
    ] {
        let url = format!(
            "{page_origin}/?emulator=http://127.0.0.1:{}&user={}",
            tap.port(),
            victim.user_id
        );
        browser.goto(&url).await;
        let report = finished_report(&browser).await;
        let frames = frame_texts(&browser).await;
        tap.wait_for_beacons(&report).await;
        let exchanges = tap.exchanges();
        print_report(&page_origin, &report, &frames, &exchanges);
        assert_eq!(report.fatal, None, "the page's script failed");

        // What the page saw: nothing of any answer, and the ticket nowhere.
        for attempt in report.attempts.iter().filter(|a| a.kind != "control") {
            assert!(
                !attempt.read_something(),
                "{page_origin}: {} read a response of the emulator: {attempt:?}",
                attempt.name
            );
        }
        let page = page_contents(&browser).await;
        for (what, text) in [
            (
                "the page's report",
                serde_json::to_string(&report.raw).unwrap_or_default(),
            ),
            ("the page", page),
            ("the frames", format!("{frames:?}")),
        ] {
            assert!(
                !text.contains(&victim.ticket) && !text.contains("signinPasswordless"),
                "{page_origin}: {what} holds mailbox content: {text}"
            );
        }
        // The control: the page can read what the emulator lets it read.
        let control = report.attempt("fetch-version");
        assert!(
            control.status == Some(200)
                && control
                    .body
                    .as_deref()
                    .is_some_and(|b| b.contains("version")),
            "{page_origin}: the page cannot read even a CORS-granted route of the emulator, so \
             this test proves nothing: {control:?}"
        );
        // What the wire saw: every attempt reached the emulator (a preflighted one, its
        // preflight only) and the emulator refused it — the browser did not do the refusing.
        // Only the browser talks through the tap, and it was cleared before this page.
        let of_page: Vec<&Exchange> = exchanges.iter().collect();
        assert_emulator_refused_all(&page_origin, &of_page);
        for id in READS {
            assert_arrived_and_refused(&page_origin, &of_page, id, "GET");
        }
        for id in SIMPLE_WRITES {
            assert_arrived_and_refused(&page_origin, &of_page, id, "POST");
        }
        for id in PREFLIGHTED_WRITES {
            assert_arrived_and_refused(&page_origin, &of_page, id, "OPTIONS");
            let sent: Vec<_> = for_attempt(&of_page, id)
                .filter(|e| e.method != "OPTIONS")
                .collect();
            assert!(
                sent.is_empty(),
                "{page_origin}: `{id}` was sent although its preflight was refused: {sent:?}"
            );
        }
        // What the browser shows in the frames, which the page could not read.
        for (id, text) in &frames {
            if id.starts_with("form-") || id.starts_with("iframe-") {
                assert!(
                    text.contains("Blocked request"),
                    "{page_origin}: frame `{id}` should show the emulator's refusal, shows {text:?}"
                );
            }
        }
        assert!(
            !tap.sent_to_browser(&victim.ticket),
            "{page_origin}: the emulator sent the ticket to the browser"
        );
        tap.clear();
    }
    victim.assert_untouched().await;
    println!("took {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_page_cannot_read_the_mailbox_nor_reset() {
    let started = Instant::now();
    let victim = Victim::start(&[]).await;
    // The control: an emulator that answers `rebind.test`, as if the Host check were gone.
    let control = Victim::start(&["rebind.test"]).await;
    let site = HostileSite::start().await;
    let driver = ChromeDriver::start().await;
    let browser = driver.browser_with(browser_options()).await;

    let (report, exchanges) = rebinding_attack(&browser, &site, &victim).await;
    assert_eq!(
        report.rebound,
        Some(true),
        "the page never saw the rebinding"
    );
    for attempt in &report.attempts {
        assert!(
            attempt.status.is_none_or(|s| s == 0 || s == 403),
            "{}: the emulator answered a rebound page: {attempt:?}",
            attempt.name
        );
        assert!(
            !attempt
                .body
                .as_deref()
                .is_some_and(|b| b.contains(&victim.ticket) || b.contains("signinPasswordless")),
            "{} read mailbox content: {attempt:?}",
            attempt.name
        );
    }
    let mailbox = report.attempt("fetch-mailbox");
    assert!(
        mailbox
            .body
            .as_deref()
            .is_some_and(|b| b.contains("is not this server's")),
        "the Host check should refuse the mailbox: {mailbox:?}"
    );
    let to_emulator: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| e.target == victim.emulator.addr())
        .collect();
    assert_emulator_refused_all("http://rebind.test", &to_emulator);
    // Same-origin requests pass every CORS and `Origin` rule, and Chromium sends no Fetch
    // Metadata to a plain-http name like this one: the JSON reset arrives, and only the Host
    // check stops it.
    assert_arrived_and_refused("http://rebind.test", &to_emulator, "fetch-mailbox", "GET");
    assert_arrived_and_refused(
        "http://rebind.test",
        &to_emulator,
        "fetch-reset-json",
        "POST",
    );
    for exchange in &to_emulator {
        assert!(
            exchange
                .header("host")
                .is_some_and(|h| h.starts_with("rebind.test:")),
            "the browser should address the emulator as rebind.test: {exchange:?}"
        );
    }
    let page = page_contents(&browser).await;
    assert!(
        !page.contains(&victim.ticket),
        "the page holds the ticket: {page}"
    );
    victim.assert_untouched().await;

    // The same page against the control reads the magic link and resets: what the Host check
    // stops is a real attack, and this test would see it succeed.
    let (report, _) = rebinding_attack(&browser, &site, &control).await;
    assert_eq!(
        report.rebound,
        Some(true),
        "the control page never saw the rebinding"
    );
    let mailbox = report.attempt("fetch-mailbox");
    assert!(
        mailbox.status == Some(200)
            && mailbox
                .body
                .as_deref()
                .is_some_and(|b| b.contains(&control.ticket)),
        "without the Host check, the rebound page reads the magic link: {mailbox:?}"
    );
    let reset = report.attempt("fetch-reset-json");
    assert_eq!(
        reset.status,
        Some(200),
        "without the Host check, the rebound page resets: {reset:?}"
    );
    control.assert_reset().await;
    println!("took {:.1?}", started.elapsed());
}

/// Loads the hostile page from `http://rebind.test:P/` through a forwarder that serves the
/// hostile site, waits until the page polls for the rebinding, switches the forwarder to
/// `victim`'s emulator and waits for the page's report.
async fn rebinding_attack(
    browser: &Browser,
    site: &HostileSite,
    victim: &Victim,
) -> (Report, Vec<Exchange>) {
    let rebind = Forwarder::start(site.addr).await;
    let origin = format!("http://rebind.test:{}", rebind.port());
    browser
        .goto(&format!("{origin}/?rebind&user={}", victim.user_id))
        .await;
    browser
        .wait_for_text("#status", "waiting for the rebinding")
        .await;
    rebind.point_at(victim.emulator.addr());
    let report = finished_report(browser).await;
    let frames = frame_texts(browser).await;
    rebind.wait_for_beacons(&report).await;
    let exchanges = rebind.exchanges();
    print_report(&origin, &report, &frames, &exchanges);
    assert_eq!(report.fatal, None, "the page's script failed");
    (report, exchanges)
}

/// Every request to an emulator-only route got a status, and it was 403.
fn assert_emulator_refused_all(origin: &str, exchanges: &[&Exchange]) {
    for exchange in exchanges
        .iter()
        .filter(|e| e.path.starts_with("/_emulator"))
    {
        assert_eq!(
            exchange.status,
            Some(403),
            "{origin}: the emulator did not refuse {exchange:?}"
        );
    }
}

/// At least one `method` request of attempt `id` reached the emulator, and it was refused.
fn assert_arrived_and_refused(origin: &str, exchanges: &[&Exchange], id: &str, method: &str) {
    let arrived: Vec<_> = for_attempt(exchanges, id)
        .filter(|e| e.method == method)
        .collect();
    assert!(
        !arrived.is_empty(),
        "{origin}: no {method} of `{id}` reached the emulator, so its refusal was not the \
         emulator's: {exchanges:#?}"
    );
    for exchange in arrived {
        assert_eq!(
            exchange.status,
            Some(403),
            "{origin}: `{id}` was not refused: {exchange:?}"
        );
    }
}

fn for_attempt<'a>(
    exchanges: &'a [&'a Exchange],
    id: &'a str,
) -> impl Iterator<Item = &'a Exchange> + 'a {
    exchanges
        .iter()
        .copied()
        .filter(move |e| e.attempt() == Some(id))
}

/// Chromium with the hostile names on loopback, and the long waits of a page that tries twenty
/// things.
fn browser_options() -> BrowserOptions {
    BrowserOptions::default()
        .arg("--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1")
        // A proxy from the environment would see these names instead of the resolver.
        .arg("--no-proxy-server")
        .wait(Duration::from_secs(60))
}

/// Waits until the page says it is done; its report.
async fn finished_report(browser: &Browser) -> Report {
    browser.wait_for_text("#done", "done").await;
    let raw = browser.execute("return window.report", Vec::new()).await;
    let mut report: Report = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("the page's report does not parse ({e}): {raw}"));
    report.raw = raw;
    report
}

/// The visible text of every frame of the page, by frame id, as the browser shows it (the page
/// itself cannot read the cross-origin ones).
async fn frame_texts(browser: &Browser) -> BTreeMap<String, String> {
    let client = browser.client();
    let read = async {
        let mut texts = BTreeMap::new();
        let frames = client
            .find_all(Locator::Css("iframe"))
            .await
            .expect("the page's frames");
        for frame in frames {
            let id = frame.attr("id").await.ok().flatten().unwrap_or_default();
            frame.enter_frame().await.expect("enter a frame");
            let text = client
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    Vec::new(),
                )
                .await
                .expect("a frame's text");
            client.enter_parent_frame().await.expect("leave a frame");
            texts.insert(id, text.as_str().unwrap_or_default().to_owned());
        }
        texts
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("reading the frames took over a minute")
}

/// The page's HTML and visible text, for "the ticket is nowhere the page could see".
async fn page_contents(browser: &Browser) -> String {
    let text = browser
        .execute(
            "return document.documentElement.outerHTML + document.body.innerText",
            Vec::new(),
        )
        .await;
    text.as_str().unwrap_or_default().to_owned()
}

fn print_report(
    origin: &str,
    report: &Report,
    frames: &BTreeMap<String, String>,
    exchanges: &[Exchange],
) {
    println!("\n== the page on {origin}");
    for attempt in &report.attempts {
        println!("{:<54} page saw: {}", attempt.name, attempt.seen());
        if let Some(text) = frames.get(&attempt.id) {
            println!("{:<54} its frame shows: {}", "", excerpt(text, 110));
        }
        for e in exchanges
            .iter()
            .filter(|e| e.attempt() == Some(attempt.id.as_str()))
        {
            println!(
                "{:<54} wire: {} {} (Origin {}, Sec-Fetch-Site {}, Content-Type {}) → {}",
                "",
                e.method,
                e.path.split('?').next().unwrap_or_default(),
                e.header("origin").unwrap_or("-"),
                e.header("sec-fetch-site").unwrap_or("-"),
                e.header("content-type").unwrap_or("-"),
                e.status.map_or("no answer".into(), |s| s.to_string()),
            );
        }
    }
}

fn excerpt(text: &str, max: usize) -> String {
    let flat = text.replace('\n', " ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// What the page reports (`window.report`).
#[derive(Debug, Deserialize)]
struct Report {
    attempts: Vec<Attempt>,
    /// `true` once another server than the hostile site answered (rebinding pages only).
    rebound: Option<bool>,
    /// An exception that ended the script.
    fatal: Option<String>,
    #[serde(skip)]
    raw: Value,
}

impl Report {
    fn attempt(&self, id: &str) -> &Attempt {
        self.attempts
            .iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("the page made no attempt `{id}`"))
    }
}

/// One thing the page tried, and what it could see of the answer.
#[derive(Debug, Deserialize)]
struct Attempt {
    id: String,
    name: String,
    /// `read`, `write` or `control`.
    kind: String,
    /// A fetch's `response.type` (`cors`, `basic`, `opaque`).
    #[serde(rename = "type")]
    response_type: Option<String>,
    /// The status the page could see (0 for an opaque response).
    status: Option<u16>,
    /// The body the page could read.
    body: Option<String>,
    /// An `<img>` or `<script>` that loaded.
    loaded: Option<bool>,
    /// A beacon the browser queued.
    queued: Option<bool>,
    /// Why the page could not see anything: the exception or the error event.
    error: Option<String>,
}

impl Attempt {
    /// Whether the page saw anything of the emulator's answer: a status or a body.
    fn read_something(&self) -> bool {
        self.status.is_some_and(|s| s != 0) || self.body.as_deref().is_some_and(|b| !b.is_empty())
    }

    fn seen(&self) -> String {
        if let Some(error) = &self.error {
            return format!("nothing ({error})");
        }
        if let Some(queued) = self.queued {
            return format!("nothing (sendBeacon returned {queued})");
        }
        if let Some(loaded) = self.loaded {
            return format!("nothing (loaded: {loaded})");
        }
        let body = self.body.as_deref().unwrap_or_default();
        format!(
            "{} {}, {} body bytes{}",
            self.response_type.as_deref().unwrap_or("response"),
            self.status.unwrap_or_default(),
            body.len(),
            if body.is_empty() {
                String::new()
            } else {
                format!(": {}", excerpt(body, 80))
            }
        )
    }
}

/// The emulator with a victim: a user with a session, and a magic link for them in the mailbox.
struct Victim {
    emulator: Emulator,
    http: reqwest::Client,
    user_id: String,
    refresh_token: String,
    ticket: String,
}

impl Victim {
    /// Starts an emulator that also answers the host names `allowed_hosts`, and makes a victim.
    async fn start(allowed_hosts: &[&str]) -> Victim {
        let mut config = Config::default();
        config.bcrypt_cost = 4;
        config.email_verification_required = false;
        config.allowed_hosts = allowed_hosts.iter().map(|h| (*h).to_owned()).collect();
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let url = emulator.url().to_owned();
        let signed_up = post(
            &http,
            &format!("{url}/signup/email-password"),
            json!({ "email": VICTIM, "password": PASSWORD }),
        )
        .await;
        assert_eq!(signed_up.0, 200, "sign-up: {}", signed_up.1);
        let session = &signed_up.1["session"];
        let user_id = session["user"]["id"]
            .as_str()
            .expect("a user id")
            .to_owned();
        let refresh_token = session["refreshToken"]
            .as_str()
            .expect("a refresh token")
            .to_owned();
        let requested = post(
            &http,
            &format!("{url}/signin/passwordless/email"),
            json!({ "email": VICTIM }),
        )
        .await;
        assert_eq!(requested.0, 200, "magic link: {}", requested.1);
        let ticket = emulator
            .mailbox()
            .to(VICTIM)
            .last()
            .expect("the magic link in the mailbox")
            .ticket
            .clone();
        Victim {
            emulator,
            http,
            user_id,
            refresh_token,
            ticket,
        }
    }

    /// The emulator's mailbox as a developer's tool asks for it: the emulator's own `Host`, no
    /// `Origin`.
    async fn mailbox(&self) -> Vec<Value> {
        let url = format!("http://{}/_emulator/mailbox", self.emulator.addr());
        let response = self.http.get(&url).send().await.expect("GET the mailbox");
        assert_eq!(response.status(), 200, "GET {url}");
        response.json().await.expect("the mailbox as JSON")
    }

    /// Nothing happened to the victim: the magic link is in the mailbox and still signs them
    /// in, and their session still refreshes (the user is neither deleted nor disabled).
    async fn assert_untouched(&self) {
        let mailbox = self.mailbox().await;
        let email = mailbox
            .iter()
            .find(|e| e["ticket"] == self.ticket.as_str())
            .unwrap_or_else(|| panic!("the magic link is gone from the mailbox: {mailbox:?}"));
        let link = email["link"].as_str().expect("the email's link");
        let verified = self
            .http
            .get(link)
            .send()
            .await
            .expect("GET the magic link");
        let location = verified
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            verified.status() == 302 && location.contains("refreshToken="),
            "the magic link still signs the victim in: {} → {location}",
            verified.status()
        );
        let refreshed = self.refresh().await;
        assert_eq!(
            refreshed.0, 200,
            "the victim's session still refreshes: {}",
            refreshed.1
        );
        assert_eq!(refreshed.1["user"]["id"], self.user_id.as_str());
    }

    /// Everything was reset: the mailbox is empty and the victim's session is gone.
    async fn assert_reset(&self) {
        assert_eq!(
            self.mailbox().await,
            Vec::<Value>::new(),
            "the mailbox was emptied"
        );
        let refreshed = self.refresh().await;
        assert_eq!(refreshed.0, 401, "the victim was deleted: {}", refreshed.1);
    }

    async fn refresh(&self) -> (u16, Value) {
        post(
            &self.http,
            &format!("{}/token", self.emulator.url()),
            json!({ "refreshToken": self.refresh_token }),
        )
        .await
    }
}

/// `POST url` with a JSON body; the status and the JSON answer (`null` when there is none).
async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The hostile site: [`PAGE`] at `/`, [`WHOAMI`] at `/whoami`. Every answer closes its
/// connection, so that each request of the page opens a new one — which goes wherever "DNS"
/// points at that moment.
struct HostileSite {
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl HostileSite {
    async fn start() -> HostileSite {
        let app = Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/whoami", get(|| async { WHOAMI }))
            .layer(axum::middleware::map_response(
                |mut response: Response| async move {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                    response
                },
            ));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the hostile site");
        let addr = listener.local_addr().expect("its address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HostileSite { addr, server }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for HostileSite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A TCP forwarder on 127.0.0.1 that records what passes through it. Each connection goes to
/// the target of the moment its first bytes arrive, so [`Forwarder::point_at`] is DNS
/// rebinding at the transport level: the browser still talks to the same `host:port`, and
/// another server answers. Between the browser and the emulator, it shows which requests
/// arrived and what the emulator answered.
struct Forwarder {
    port: u16,
    target: Arc<Mutex<SocketAddr>>,
    wires: Arc<Mutex<Vec<Arc<Mutex<Wire>>>>>,
    accept: JoinHandle<()>,
}

/// The bytes of one forwarded connection, each way.
#[derive(Debug)]
struct Wire {
    target: SocketAddr,
    to_server: Vec<u8>,
    to_browser: Vec<u8>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the forwarder");
        let port = listener.local_addr().expect("its address").port();
        let target = Arc::new(Mutex::new(target));
        let wires = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let target = Arc::clone(&target);
            let wires = Arc::clone(&wires);
            async move {
                while let Ok((browser, _)) = listener.accept().await {
                    tokio::spawn(forward(browser, Arc::clone(&target), Arc::clone(&wires)));
                }
            }
        });
        Forwarder {
            port,
            target,
            wires,
            accept,
        }
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Sends the connections that start from now on to `target`.
    fn point_at(&self, target: SocketAddr) {
        *lock(&self.target) = target;
    }

    /// Forgets what was recorded.
    fn clear(&self) {
        lock(&self.wires).clear();
    }

    /// Every request recorded so far, with the status it got.
    fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.wires)
            .iter()
            .flat_map(|wire| {
                let wire = lock(wire);
                let responses = messages(&wire.to_browser);
                messages(&wire.to_server)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (start, headers))| {
                        let mut words = start.split(' ');
                        let method = words.next().unwrap_or_default().to_owned();
                        let path = words.next().unwrap_or_default().to_owned();
                        let status = responses
                            .get(i)
                            .and_then(|(line, _)| line.split(' ').nth(1)?.parse().ok());
                        Exchange {
                            target: wire.target,
                            method,
                            path,
                            headers,
                            status,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether `needle` went from a server to the browser.
    fn sent_to_browser(&self, needle: &str) -> bool {
        lock(&self.wires)
            .iter()
            .any(|wire| String::from_utf8_lossy(&lock(wire).to_browser).contains(needle))
    }

    /// Waits (up to 10 s) until every beacon the page queued has gone through: a browser sends
    /// them in the background, after the page thinks it is done.
    async fn wait_for_beacons(&self, report: &Report) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for attempt in report.attempts.iter().filter(|a| a.queued == Some(true)) {
            while !self
                .exchanges()
                .iter()
                .any(|e| e.attempt() == Some(attempt.id.as_str()) && e.status.is_some())
            {
                assert!(
                    Instant::now() < deadline,
                    "the queued beacon `{}` never arrived",
                    attempt.id
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Forwards one connection to the target of the moment its first bytes arrive.
async fn forward(
    browser: TcpStream,
    target: Arc<Mutex<SocketAddr>>,
    wires: Arc<Mutex<Vec<Arc<Mutex<Wire>>>>>,
) {
    let (mut from_browser, to_browser) = browser.into_split();
    let mut first = vec![0; 16 * 1024];
    let n = match from_browser.read(&mut first).await {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    let target = *lock(&target);
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let wire = Arc::new(Mutex::new(Wire {
        target,
        to_server: first[..n].to_vec(),
        to_browser: Vec::new(),
    }));
    lock(&wires).push(Arc::clone(&wire));
    let (from_server, mut to_server) = server.into_split();
    if to_server.write_all(&first[..n]).await.is_err() {
        return;
    }
    tokio::join!(
        pump(from_browser, to_server, Arc::clone(&wire), |w| &mut w
            .to_server),
        pump(from_server, to_browser, wire, |w| &mut w.to_browser),
    );
}

/// Copies `from` to `to` until either ends, recording the bytes in the `record` side of `wire`.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    wire: Arc<Mutex<Wire>>,
    record: fn(&mut Wire) -> &mut Vec<u8>,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        record(&mut lock(&wire)).extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// One request that went through a [`Forwarder`], and the status of its answer.
#[derive(Debug)]
struct Exchange {
    target: SocketAddr,
    method: String,
    /// The request target: path and query.
    path: String,
    /// Lowercase names.
    headers: BTreeMap<String, String>,
    status: Option<u16>,
}

impl Exchange {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The page's attempt that sent it: the `attempt` query parameter every URL of the page
    /// carries.
    fn attempt(&self) -> Option<&str> {
        let (_, query) = self.path.split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("attempt="))
    }
}

/// The HTTP/1.1 messages of one direction of a connection: start line and headers (names
/// lowercase), the bodies skipped by `Content-Length` or chunked framing. Enough for what a
/// browser and these servers send; not a general parser (no bodies of `HEAD` answers, for one).
fn messages(mut bytes: &[u8]) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    while let Some(end) = find(bytes, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        bytes = &bytes[end + 4..];
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        if headers
            .get("transfer-encoding")
            .is_some_and(|te| te.contains("chunked"))
        {
            bytes = skip_chunked(bytes);
        } else {
            let length = headers
                .get("content-length")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(0);
            bytes = &bytes[length.min(bytes.len())..];
        }
        out.push((start, headers));
    }
    out
}

/// What follows a chunked body (without trailers).
fn skip_chunked(mut bytes: &[u8]) -> &[u8] {
    loop {
        let Some(end) = find(bytes, b"\r\n") else {
            return &[];
        };
        let size_line = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let size = size_line
            .split(';')
            .next()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        bytes = &bytes[end + 2..];
        // The chunk and its CRLF; the last chunk (size 0) has only the final CRLF.
        bytes = &bytes[(size + 2).min(bytes.len())..];
        if size == 0 {
            return bytes;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A poisoned lock only means another task panicked; the data is still what it recorded.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hostile page. On load it tries every way a page has to read the mailbox or change the
/// emulator's state, and reports in `window.report` what it could see; `#done` says "done" at
/// the end. Query: `emulator=<origin>` (the emulator's, for a cross-origin attack), or `rebind`
/// (the emulator is this page's own origin once DNS has been rebound: the page polls `/whoami`
/// until another server answers); `user=<id>` (the victim's id, which a real attacker would not
/// even know). Every URL it asks carries `attempt=<id>`, so the test can match what arrived.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>A page on another site</title>
<h1>A page on another site</h1>
<p id="status">starting</p>
<p id="done"></p>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const EMULATOR = params.get("emulator") || "";
const USER = params.get("user") || "";
const report = { attempts: [], rebound: null, fatal: null };
window.report = report;

const show = (text) => { document.getElementById("status").textContent = text; };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const url = (path, id) => EMULATOR + path + (path.includes("?") ? "&" : "?") + "attempt=" + id;

function withTimeout(promise, ms) {
  return Promise.race([
    promise,
    sleep(ms).then(() => { throw new Error("nothing happened within " + ms + " ms"); }),
  ]);
}

// Runs one attempt and records what the page could see of it.
async function attempt(id, kind, name, how) {
  const entry = { id, kind, name };
  try {
    Object.assign(entry, await withTimeout(how(id), 10000));
  } catch (e) {
    entry.error = String(e);
  }
  report.attempts.push(entry);
}

async function viaFetch(path, id, init = {}) {
  const response = await fetch(url(path, id), { cache: "no-store", ...init });
  // An opaque (no-cors) response has status 0 and an empty body: nothing to see.
  return { type: response.type, status: response.status, body: await response.text() };
}

function viaXhr(path, id) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", url(path, id));
    xhr.withCredentials = true;
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => resolve({ error: "XMLHttpRequest error event, status " + xhr.status });
    xhr.send();
  });
}

function viaElement(tag, path, id) {
  return new Promise((resolve) => {
    const element = document.createElement(tag);
    element.onload = () => resolve({ loaded: true });
    element.onerror = () => resolve({ error: "<" + tag + "> error event" });
    element.src = url(path, id);
    document.body.append(element);
  });
}

// What this page can read of a frame: nothing, when the frame is another origin's.
function readFrame(frame) {
  try {
    const doc = frame.contentDocument || frame.contentWindow.document;
    if (!doc) return { error: "contentDocument is null" };
    return { body: doc.body ? doc.body.innerText : "" };
  } catch (e) {
    return { error: String(e) };
  }
}

function newFrame(id) {
  const frame = document.createElement("iframe");
  frame.id = id;
  frame.name = id;
  document.body.append(frame);
  return frame;
}

const loadOf = (frame) =>
  new Promise((resolve) => frame.addEventListener("load", resolve, { once: true }));

async function viaFrame(path, id) {
  const frame = newFrame(id);
  const loaded = loadOf(frame);
  frame.src = url(path, id);
  await loaded;
  return readFrame(frame);
}

// A cross-site form post into a hidden frame: the oldest trick, no script access needed.
async function viaForm(path, id, enctype, fields) {
  const frame = newFrame(id);
  const form = document.createElement("form");
  form.method = "post";
  form.action = url(path, id);
  form.enctype = enctype;
  form.target = id;
  for (const [name, value] of fields) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  const loaded = loadOf(frame);
  form.submit();
  await loaded;
  return readFrame(frame);
}

async function waitForRebinding() {
  show("waiting for the rebinding");
  for (let i = 0; i < 600; i++) {
    try {
      const response = await fetch("/whoami?attempt=poll", { cache: "no-store" });
      if ((await response.text()) !== "hostile site") return true;
    } catch (e) {
      // A connection cut while "DNS" changes: look again.
    }
    await sleep(100);
  }
  return false;
}

async function attack() {
  const mailbox = "/_emulator/mailbox";
  const reset = "/_emulator/reset";
  const disable = "/_emulator/users/" + USER + "/disable";
  const json = { "Content-Type": "application/json" };

  // Reading the mailbox: every way a page can ask.
  await attempt("fetch-mailbox", "read", "fetch GET mailbox", (id) => viaFetch(mailbox, id));
  await attempt("fetch-mailbox-credentials", "read", "fetch GET mailbox, credentials: include",
    (id) => viaFetch(mailbox, id, { credentials: "include" }));
  await attempt("fetch-mailbox-to", "read", "fetch GET mailbox?to=victim",
    (id) => viaFetch(mailbox + "?to=victim%40example.com", id));
  await attempt("no-cors-mailbox", "read", "fetch GET mailbox, mode: no-cors",
    (id) => viaFetch(mailbox, id, { mode: "no-cors" }));
  await attempt("fetch-stats", "read", "fetch GET stats", (id) => viaFetch("/_emulator/stats", id));
  await attempt("xhr-mailbox", "read", "XMLHttpRequest GET mailbox, withCredentials",
    (id) => viaXhr(mailbox, id));
  await attempt("img-mailbox", "read", "<img src=mailbox>", (id) => viaElement("img", mailbox, id));
  await attempt("script-mailbox", "read", "<script src=mailbox>",
    (id) => viaElement("script", mailbox, id));
  await attempt("iframe-mailbox", "read", "<iframe src=mailbox>, then its document",
    (id) => viaFrame(mailbox, id));
  // The control: a protocol route, which grants CORS, is readable from here.
  await attempt("fetch-version", "control", "fetch GET /version (control: CORS granted)",
    (id) => viaFetch("/version", id));

  // Changing state: simple requests first (sent without asking), then preflighted ones.
  await attempt("form-reset-urlencoded", "write", "<form> POST reset, urlencoded",
    (id) => viaForm(reset, id, "application/x-www-form-urlencoded", [["a", "b"]]));
  await attempt("form-reset-text", "write", "<form> POST reset, text/plain, JSON-looking",
    (id) => viaForm(reset, id, "text/plain", [['{"a":"', '"}']]));
  await attempt("form-reset-multipart", "write", "<form> POST reset, multipart",
    (id) => viaForm(reset, id, "multipart/form-data", [["a", "b"]]));
  await attempt("form-disable", "write", "<form> POST disable the victim, urlencoded",
    (id) => viaForm(disable, id, "application/x-www-form-urlencoded", [["a", "b"]]));
  await attempt("no-cors-reset-text", "write", "fetch POST reset, mode: no-cors, text/plain",
    (id) => viaFetch(reset, id, { method: "POST", mode: "no-cors", body: "{}" }));
  await attempt("no-cors-reset-json", "write", "fetch POST reset, no-cors, asks for JSON",
    (id) => viaFetch(reset, id, { method: "POST", mode: "no-cors", headers: json, body: "{}" }));
  await attempt("beacon-reset-text", "write", "sendBeacon POST reset, text/plain",
    async (id) => ({ queued: navigator.sendBeacon(url(reset, id), "{}") }));
  await attempt("beacon-reset-json", "write", "sendBeacon POST reset, application/json Blob",
    async (id) => ({
      queued: navigator.sendBeacon(url(reset, id), new Blob(["{}"], { type: "application/json" })),
    }));
  await attempt("fetch-reset-json", "write", "fetch POST reset, Content-Type: application/json",
    (id) => viaFetch(reset, id, { method: "POST", headers: json, body: "{}" }));
  await attempt("fetch-reset-header", "write", "fetch POST reset, X-Nhost-Emulator: 1",
    (id) => viaFetch(reset, id, { method: "POST", headers: { "X-Nhost-Emulator": "1" } }));
  await attempt("fetch-disable-json", "write", "fetch POST disable the victim, JSON",
    (id) => viaFetch(disable, id, { method: "POST", headers: json, body: "{}" }));
  await attempt("fetch-delete-mailbox", "write", "fetch DELETE mailbox",
    (id) => viaFetch(mailbox, id, { method: "DELETE" }));
}

async function main() {
  if (params.has("rebind")) report.rebound = await waitForRebinding();
  show("attacking");
  await attack();
  show("finished");
}

main()
  .catch((e) => { report.fatal = String(e); })
  .finally(() => { document.getElementById("done").textContent = "done"; });
</script>
</html>
"#;
