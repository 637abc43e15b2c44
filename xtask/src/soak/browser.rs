//! The simulated browsers of a soak, and the load balancer in front of the site's instances.
//!
//! A browser keeps one cookie jar (the `nhostSession` cookie, updated by every response in the
//! order the responses arrive, as a browser does), signs in anonymously once, reads its user id
//! from the page, then fires bursts of parallel `GET`s — the page, prefetches of it, assets — at
//! random intervals. Every page it gets is checked: signed in as the user it started with, or
//! "You are signed out." while a fault is on (the layer's documented behaviour: an expired
//! access token that cannot be refreshed renders signed out, cookie kept). Anything else is
//! recorded as a failure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, ORIGIN, SET_COOKIE};

use super::Rng;

/// The session cookie's name on a plain-HTTP loopback site (`SecureCookie::PlainHttpDevelopment`).
const COOKIE_NAME: &str = "nhostSession";
/// How many failure descriptions are kept for the report.
const KEPT_FAILURES: usize = 20;
/// How long an instance that refused a connection is left out (nginx's `fail_timeout`).
const FAIL_TIMEOUT: Duration = Duration::from_secs(2);

/// Round-robin over the instances, leaving out for [`FAIL_TIMEOUT`] one that failed — what a
/// load balancer with passive health checks does. A `GET` that fails on one instance (refused,
/// reset, closed before the answer) is sent to the next, as nginx's `proxy_next_upstream error`
/// does for idempotent requests.
pub(super) struct Balancer {
    ports: Vec<u16>,
    failed_at: Mutex<Vec<Option<Instant>>>,
    next: AtomicU64,
}

impl Balancer {
    pub(super) fn new(ports: Vec<u16>) -> Balancer {
        let failed_at = Mutex::new(vec![None; ports.len()]);
        Balancer {
            ports,
            failed_at,
            next: AtomicU64::new(0),
        }
    }

    /// The next instance in turn that has not failed lately (any instance if all have).
    fn pick(&self) -> (usize, u16) {
        let n = self.ports.len();
        let start = usize::try_from(self.next.fetch_add(1, Ordering::Relaxed)).unwrap_or(0) % n;
        let failed = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        let healthy = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| failed[i].is_none_or(|at| at.elapsed() > FAIL_TIMEOUT));
        let i = healthy.unwrap_or(start);
        (i, self.ports[i])
    }

    fn mark_failed(&self, index: usize) {
        let mut failed = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        failed[index] = Some(Instant::now());
    }
}

/// When faults were on, as seen from the browsers: a page rendered signed out inside one of
/// these windows (or within its grace period after) is the documented behaviour during an
/// outage, not a lost session.
#[derive(Default)]
pub(super) struct FaultWindows {
    windows: Mutex<Vec<(Instant, Option<Instant>)>>,
}

impl FaultWindows {
    pub(super) fn open(&self, at: Instant) {
        self.lock().push((at, None));
    }

    pub(super) fn close(&self, at: Instant) {
        if let Some(last) = self.lock().last_mut() {
            last.1 = Some(at);
        }
    }

    /// Whether a request sent at `sent` and answered at `done` overlapped a window or its grace.
    fn covers(&self, sent: Instant, done: Instant, grace: Duration) -> bool {
        self.lock()
            .iter()
            .any(|&(start, end)| done >= start && end.is_none_or(|end| sent <= end + grace))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, Option<Instant>)>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counters shared by every browser.
#[derive(Default)]
pub(super) struct Tally {
    /// `GET`s answered (or given up on), the final check excluded.
    pub(super) requests: AtomicU64,
    /// Anonymous sign-ins that got a session.
    pub(super) sign_ins: AtomicU64,
    /// Sends that failed on one instance and were sent again to another.
    pub(super) retried: AtomicU64,
    pub(super) status_2xx: AtomicU64,
    pub(super) status_404: AtomicU64,
    pub(super) status_5xx: AtomicU64,
    /// Any other status (another 4xx, a 3xx to a `GET`).
    pub(super) status_other: AtomicU64,
    /// Requests that got no answer from any instance (or timed out).
    pub(super) transport_errors: AtomicU64,
    /// Pages rendered signed out while a fault was on (cookie kept): what visitors see then.
    pub(super) signed_out_during_fault: AtomicU64,
    /// Pages rendered signed out with no fault on: a lost session.
    pub(super) signed_out_unexpectedly: AtomicU64,
    /// Pages showing a user id other than the browser's own.
    pub(super) wrong_user: AtomicU64,
    /// Responses that cleared the session cookie (nothing in a soak signs out).
    pub(super) cookies_cleared: AtomicU64,
    /// Latency of every `GET` that got an answer, in microseconds (retries included).
    latencies: Mutex<Vec<u32>>,
    /// The first few failures, described.
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() < KEPT_FAILURES {
            failures.push(what);
        }
    }

    /// The failures kept for the report.
    pub(super) fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every latency so far, sorted.
    pub(super) fn sorted_latencies(&self) -> Vec<u32> {
        let mut all = self
            .latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        all.sort_unstable();
        all
    }
}

/// What the browsers share: the HTTP client, the balancer, the counters, the fault windows.
pub(super) struct World {
    pub(super) client: reqwest::Client,
    pub(super) balancer: Balancer,
    pub(super) tally: Tally,
    pub(super) faults: FaultWindows,
    /// How long after a fault ends a signed-out page is still put down to it.
    pub(super) grace: Duration,
    /// Set when the browsers should stop after their current burst.
    pub(super) stop: AtomicBool,
    /// Longest pause between two bursts of one browser.
    pub(super) max_pause: Duration,
    /// When the soak started, for the times in failure messages.
    pub(super) started: Instant,
}

/// One simulated browser.
pub(super) struct Browser {
    /// Its number, for messages.
    pub(super) index: usize,
    /// The `nhostSession` cookie's value, if it has one.
    cookie: Mutex<Option<String>>,
    /// The user id it signed in as.
    pub(super) user_id: String,
    /// Whether any response cleared its cookie or showed it signed out unexpectedly or as
    /// another user.
    pub(super) lost: AtomicBool,
}

/// One answered `GET`.
struct Answer {
    status: StatusCode,
    body: String,
    sent: Instant,
    done: Instant,
}

/// What a page says about its visitor.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PageSays {
    SignedIn(String),
    SignedOut,
    Neither,
}

/// Reads the page rendered by the SSR example: `data-testid="user-id">…<`, or the signed-out text.
pub(super) fn read_page(body: &str) -> PageSays {
    const USER_ID: &str = "data-testid=\"user-id\">";
    if let Some(start) = body.find(USER_ID) {
        let rest = &body[start + USER_ID.len()..];
        let id = rest.split('<').next().unwrap_or_default();
        return PageSays::SignedIn(id.to_owned());
    }
    if body.contains("You are signed out.") {
        PageSays::SignedOut
    } else {
        PageSays::Neither
    }
}

/// The `nhostSession` cookie a response sets: `Some(Some(value))`, `Some(None)` when it clears
/// it (empty value or `Max-Age=0`), `None` when it leaves it alone.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<Option<String>> {
    let mut found = None;
    for header in headers.get_all(SET_COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        let mut parts = text.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        if name != COOKIE_NAME {
            continue;
        }
        let cleared = value.is_empty() || parts.any(|attr| attr.eq_ignore_ascii_case("max-age=0"));
        found = Some((!cleared).then(|| value.to_owned()));
    }
    found
}

impl Browser {
    /// Signs in anonymously (`POST /auth/sign-in/anonymous` from the site's own origin, as the
    /// page's form does), then reads its user id from `GET /`. Retries for a while: sign-in
    /// happens before any fault, but a busy machine may be slow to accept.
    pub(super) async fn sign_in(world: &World, index: usize) -> Result<Browser, String> {
        let mut last_error = String::new();
        for _ in 0..20 {
            match Self::try_sign_in(world, index).await {
                Ok(browser) => {
                    world.tally.sign_ins.fetch_add(1, Ordering::Relaxed);
                    return Ok(browser);
                }
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!("browser {index} could not sign in: {last_error}"))
    }

    async fn try_sign_in(world: &World, index: usize) -> Result<Browser, String> {
        let (_, port) = world.balancer.pick();
        let url = format!("http://127.0.0.1:{port}/auth/sign-in/anonymous");
        let response = world
            .client
            .post(&url)
            .header(ORIGIN, format!("http://127.0.0.1:{port}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status();
        let Some(Some(cookie)) = session_cookie(response.headers()) else {
            return Err(format!("POST {url}: {status} without a session cookie"));
        };
        let browser = Browser {
            index,
            cookie: Mutex::new(Some(cookie)),
            user_id: String::new(),
            lost: AtomicBool::new(false),
        };
        let answer = browser.get(world, "/").await?;
        match read_page(&answer.body) {
            PageSays::SignedIn(id) if !id.is_empty() => Ok(Browser {
                user_id: id,
                ..browser
            }),
            other => Err(format!(
                "GET / after signing in: {} {other:?}",
                answer.status
            )),
        }
    }

    fn cookie(&self) -> Option<String> {
        self.cookie
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One `GET`, sent again to the next instance when one fails before answering. Applies the
    /// answer's `Set-Cookie` to the jar.
    async fn get(&self, world: &World, path: &str) -> Result<Answer, String> {
        let sent = Instant::now();
        let cookie = self.cookie();
        let mut last_error = String::new();
        for attempt in 0..4 {
            if attempt > 0 {
                world.tally.retried.fetch_add(1, Ordering::Relaxed);
            }
            let (instance, port) = world.balancer.pick();
            let url = format!("http://127.0.0.1:{port}{path}");
            let mut request = world.client.get(&url);
            if let Some(value) = &cookie {
                request = request.header(COOKIE, format!("{COOKIE_NAME}={value}"));
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if e.is_timeout() => return Err(format!("GET {url}: {e}")),
                Err(e) => {
                    world.balancer.mark_failed(instance);
                    last_error = format!("GET {url}: {e}");
                    continue;
                }
            };
            let status = response.status();
            let set_cookie = session_cookie(response.headers());
            let body = match response.text().await {
                Ok(body) => body,
                Err(e) if e.is_timeout() => return Err(format!("GET {url}: {e}")),
                Err(e) => {
                    // The instance died while answering: the body never came, so neither
                    // did the cookie (a proxy would not pass the headers on alone).
                    world.balancer.mark_failed(instance);
                    last_error = format!("GET {url} (body): {e}");
                    continue;
                }
            };
            if let Some(new) = set_cookie {
                if new.is_none() {
                    world.tally.cookies_cleared.fetch_add(1, Ordering::Relaxed);
                    self.lost.store(true, Ordering::Relaxed);
                    world.tally.fail(format!(
                        "browser {} (user {}): GET {path} on instance {instance} at {:.1} s cleared the session cookie ({status})",
                        self.index,
                        self.user_id,
                        world.started.elapsed().as_secs_f64()
                    ));
                }
                *self.cookie.lock().unwrap_or_else(|e| e.into_inner()) = new;
            }
            return Ok(Answer {
                status,
                body,
                sent,
                done: Instant::now(),
            });
        }
        Err(last_error)
    }

    /// Fires bursts until told to stop.
    pub(super) async fn browse(&self, world: &World, mut rng: Rng) {
        let max_pause = u64::try_from(world.max_pause.as_millis()).unwrap_or(u64::MAX);
        while !world.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(rng.below(max_pause + 1))).await;
            if world.stop.load(Ordering::Relaxed) {
                break;
            }
            let burst = 1 + rng.below(20);
            let paths: Vec<String> = (0..burst)
                .map(|i| match (i, rng.below(3)) {
                    (0, _) => "/".to_owned(),
                    (_, 0) => format!("/?prefetch={}", rng.below(1000)),
                    (_, 1) => "/".to_owned(),
                    _ => format!("/assets/chunk-{}.js", rng.below(1000)),
                })
                .collect();
            let requests = paths.iter().map(|path| self.visit(world, path));
            futures_util::future::join_all(requests).await;
        }
    }

    /// One `GET` of the burst, checked and counted.
    async fn visit(&self, world: &World, path: &str) {
        let tally = &world.tally;
        let result = self.get(world, path).await;
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let answer = match result {
            Ok(answer) => answer,
            Err(e) => {
                tally.transport_errors.fetch_add(1, Ordering::Relaxed);
                tally.fail(format!("browser {}: {e}", self.index));
                return;
            }
        };
        let micros = answer.done.duration_since(answer.sent).as_micros();
        tally
            .latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
        let status = answer.status;
        let asset_missing = status == StatusCode::NOT_FOUND && path.starts_with("/assets/");
        let counter = if status.is_success() {
            &tally.status_2xx
        } else if asset_missing {
            &tally.status_404
        } else if status.is_server_error() {
            &tally.status_5xx
        } else {
            &tally.status_other
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !status.is_success() && !asset_missing {
            tally.fail(format!(
                "browser {}: GET {path} at {:.1} s: {status}",
                self.index,
                world.started.elapsed().as_secs_f64()
            ));
        }
        if !status.is_success() || path.starts_with("/assets/") {
            return;
        }
        match read_page(&answer.body) {
            PageSays::SignedIn(id) if id == self.user_id => {}
            PageSays::SignedIn(id) => {
                tally.wrong_user.fetch_add(1, Ordering::Relaxed);
                self.lost.store(true, Ordering::Relaxed);
                tally.fail(format!(
                    "browser {} (user {}): GET {path} showed user {id}",
                    self.index, self.user_id
                ));
            }
            PageSays::SignedOut if world.faults.covers(answer.sent, answer.done, world.grace) => {
                tally
                    .signed_out_during_fault
                    .fetch_add(1, Ordering::Relaxed);
            }
            PageSays::SignedOut => {
                tally
                    .signed_out_unexpectedly
                    .fetch_add(1, Ordering::Relaxed);
                self.lost.store(true, Ordering::Relaxed);
                tally.fail(format!(
                    "browser {} (user {}): GET {path} at {:.1} s rendered signed out with no fault on (cookie {})",
                    self.index,
                    self.user_id,
                    world.started.elapsed().as_secs_f64(),
                    if self.cookie().is_some() { "kept" } else { "gone" }
                ));
            }
            PageSays::Neither => {
                tally.status_other.fetch_add(1, Ordering::Relaxed);
                tally.fail(format!(
                    "browser {}: GET {path}: a page that is neither signed in nor signed out",
                    self.index
                ));
            }
        }
    }

    /// After the soak: one `GET /`, which must show the user it started with.
    pub(super) async fn still_signed_in(&self, world: &World) -> Result<(), String> {
        let answer = self.get(world, "/").await?;
        match read_page(&answer.body) {
            PageSays::SignedIn(id) if id == self.user_id => Ok(()),
            other => Err(format!(
                "browser {} (user {}): final GET / answered {} {other:?} (cookie {})",
                self.index,
                self.user_id,
                answer.status,
                if self.cookie().is_some() {
                    "kept"
                } else {
                    "gone"
                }
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn pages_are_read() {
        assert_eq!(
            read_page(r#"<dd data-testid="user-id">abc-1</dd>"#),
            PageSays::SignedIn("abc-1".into())
        );
        assert_eq!(
            read_page(r#"<p data-testid="status">You are signed out.</p>"#),
            PageSays::SignedOut
        );
        assert_eq!(read_page("<html></html>"), PageSays::Neither);
    }

    #[test]
    fn the_session_cookie_is_set_cleared_or_left_alone() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_cookie(&headers), None);
        headers.append(SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        assert_eq!(session_cookie(&headers), None);
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("nhostSession=sealed; HttpOnly; Path=/; Max-Age=2592000"),
        );
        assert_eq!(session_cookie(&headers), Some(Some("sealed".into())));
        let mut cleared = HeaderMap::new();
        cleared.append(
            SET_COOKIE,
            HeaderValue::from_static("nhostSession=x; Path=/; Max-Age=0"),
        );
        assert_eq!(session_cookie(&cleared), Some(None));
        let mut empty = HeaderMap::new();
        empty.append(
            SET_COOKIE,
            HeaderValue::from_static("nhostSession=; Path=/"),
        );
        assert_eq!(session_cookie(&empty), Some(None));
    }
}
