//! `cargo bench -p nhost-ssr --bench ssr`: what the layer costs, and what a refresh storm costs.
//!
//! 1. Overhead with a fresh token: requests/s of one handler behind `NhostSessionLayer` ÷
//!    requests/s of the same handler without it, both on loopback, in pairs of rounds of one run
//!    (the machines are shared and noisy: the median of the pairs' ratios is what counts); then
//!    the same pairs in process (no sockets), as time per request.
//! 2. The session endpoint: `GET /_nhost/session` (`session_routes()` behind the layer, a fresh
//!    cookie, so no call to the auth server) ÷ a plain handler answering the same JSON bytes,
//!    captured once from the endpoint, without the layer; and, for the layer's share, those
//!    bytes behind the layer or not. In process it is also split into where the time goes (the
//!    layer, axum's `nest`, the endpoint; `PublicSession` → JSON alone).
//! 3. The refresh storm: `N` parallel requests carrying one expired cookie; `/token` calls at
//!    the emulator per storm (target 1) and the latency percentiles of the storm's requests.
//!
//! One argument filters what runs: the cases whose name contains it (`hello`, `Yew`,
//! `session`), and the storms when `storm` contains it —
//! `cargo bench -p nhost-ssr --bench ssr -- session` runs only the session endpoint's part.
//!
//! Options (environment): `BENCH_SECONDS` per round (default 2), `BENCH_ROUNDS` (pairs, 8),
//! `BENCH_CONCURRENCY` (64), `BENCH_CHUNKS` (in-process chunks, 10), `BENCH_STORM` requests per
//! storm (200), `BENCH_STORMS` (5).
#![allow(missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::routing::get;
use nhost_auth_emulator::{Config, Emulator};
use nhost_ssr::NhostSessionLayer;
use nhost_ssr::nhost_core::NhostClient;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The cheapest page: any cost of the layer shows in full.
async fn hello() -> axum::response::Html<&'static str> {
    axum::response::Html("<!doctype html><p>hello</p>")
}

#[yew::component]
fn Page() -> yew::Html {
    let rows = (1..=20).map(|i| yew::html! { <li key={i}>{ format!("item {i}") }</li> });
    yew::html! {
        <main><h1>{ "A server-rendered page" }</h1><ul>{ for rows }</ul>
        <form method="post" action="/auth/sign-out"><button>{ "Sign out" }</button></form></main>
    }
}

/// One comparison: the same path requested from the handler alone and behind the layer.
struct Case {
    name: &'static str,
    path: &'static str,
    plain: Router,
    layered: Router,
}

/// Where the session endpoints answer `GET`.
const SESSION_PATH: &str = "/_nhost/session";

/// Each comparison measured. `session_json` is the body `GET /_nhost/session` answered with the
/// bench's cookie (see [`capture_session_json`]): the plain side of the endpoint's pair answers
/// exactly those bytes.
fn cases(layer: &NhostSessionLayer, session_json: &Bytes) -> Vec<Case> {
    vec![
        Case {
            name: "hello (static string)",
            path: "/",
            plain: Router::new().route("/", get(hello)),
            layered: Router::new().route("/", get(hello)).layer(layer.clone()),
        },
        Case {
            name: "Yew ServerRenderer page",
            path: "/",
            plain: Router::new().route("/", get(yew_page)),
            layered: Router::new().route("/", get(yew_page)).layer(layer.clone()),
        },
        Case {
            name: "GET /_nhost/session",
            path: SESSION_PATH,
            plain: Router::new().route(SESSION_PATH, get(same_json(session_json))),
            layered: Router::new()
                .merge(nhost_ssr::session_routes())
                .layer(layer.clone()),
        },
        // The layer's share of the pair above: the same bytes on both sides, no endpoint.
        Case {
            name: "the session JSON bytes, behind the layer or not",
            path: SESSION_PATH,
            plain: Router::new().route(SESSION_PATH, get(same_json(session_json))),
            layered: Router::new()
                .route(SESSION_PATH, get(same_json(session_json)))
                .layer(layer.clone()),
        },
    ]
}

/// A handler answering `body` as `application/json`, as the session endpoint does — without
/// the layer, the cookie, the `PublicSession` or serde.
fn same_json(
    body: &Bytes,
) -> impl Fn() -> std::future::Ready<([(HeaderName, HeaderValue); 1], Bytes)> + Clone + Send + 'static
{
    let body = body.clone();
    move || {
        std::future::ready((
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body.clone(),
        ))
    }
}

/// The body `GET /_nhost/session` answers for `cookie`, once.
async fn capture_session_json(layer: &NhostSessionLayer, cookie: &str) -> Bytes {
    use tower::ServiceExt as _;
    let app = Router::new()
        .merge(nhost_ssr::session_routes())
        .layer(layer.clone());
    let response = app
        .oneshot(get_request(SESSION_PATH, cookie))
        .await
        .expect("infallible");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    assert!(
        body.starts_with(br#"{"session":{"accessToken":"#),
        "a fresh cookie's session: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

fn get_request(path: &str, cookie: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .expect("request")
}

/// Whether the argument given to the bench (if any) selects `name`.
fn selected(filter: Option<&str>, name: &str) -> bool {
    filter.is_none_or(|f| name.to_lowercase().contains(&f.to_lowercase()))
}

/// A small page rendered by Yew's `ServerRenderer`, what an SSR handler does.
async fn yew_page() -> axum::response::Html<String> {
    axum::response::Html(yew::ServerRenderer::<Page>::new().render().await)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr.to_string()
}

/// One keep-alive HTTP/1.1 connection sending the same prepared GET.
struct Conn {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    request: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str, path: &str, cookie: &str) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\r\n")
            .into_bytes();
        Conn {
            stream: tokio::io::BufReader::new(stream),
            request,
        }
    }

    /// Sends the GET; returns the status and the `Set-Cookie` value, if any.
    async fn get(&mut self) -> (u16, Option<String>) {
        self.stream
            .get_mut()
            .write_all(&self.request)
            .await
            .expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("read");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        let mut set_cookie = None;
        loop {
            line.clear();
            assert!(
                self.stream.read_line(&mut line).await.expect("read") > 0,
                "closed"
            );
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("set-cookie") {
                    set_cookie = Some(value.trim().to_owned());
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("body");
        (status, set_cookie)
    }
}

/// Requests per second over `seconds` with `concurrency` connections.
async fn throughput(addr: &str, path: &str, cookie: &str, seconds: u64, concurrency: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, path, cookie) = (addr.to_owned(), path.to_owned(), cookie.to_owned());
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr, &path, &cookie).await;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let (status, set) = conn.get().await;
                    assert_eq!(status, 200);
                    assert!(set.is_none(), "a fresh cookie is never rewritten");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("worker");
    }
    total as f64 / seconds as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let seconds = env_or("BENCH_SECONDS", 2);
    let rounds = env_or("BENCH_ROUNDS", 8);
    let concurrency = env_or("BENCH_CONCURRENCY", 64);
    let storm_size = env_or("BENCH_STORM", 200);
    let storms = env_or("BENCH_STORMS", 5);

    let mut config = Config::default();
    config.anonymous_role = "public".into();
    config.rate_limits.enabled = false;
    let emulator = Emulator::start(config).await.expect("emulator");
    let layer = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(nhost_ssr::key_from_bytes(&[5u8; 64]).expect("key"))
        .build()
        .expect("layer");
    let client = NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .build()
        .expect("client");
    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("sign in");
    let fresh = format!(
        "{}={}",
        layer.cookie_name(),
        layer.seal(&session).expect("seal")
    );

    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let filter = filter.as_deref();
    let session_json = capture_session_json(&layer, &fresh).await;
    let cases: Vec<Case> = cases(&layer, &session_json)
        .into_iter()
        .filter(|case| selected(filter, case.name))
        .collect();

    println!(
        "# nhost-ssr benchmarks ({seconds} s rounds, {concurrency} connections, fresh cookie)"
    );
    println!(
        "| handler | without the layer (median) | with the layer (median) | ratio: median of {rounds} pairs |"
    );
    println!("|---|---|---|---|");
    for case in &cases {
        let name = case.name;
        let path = case.path;
        let (plain, layered) = (
            serve(case.plain.clone()).await,
            serve(case.layered.clone()).await,
        );
        // Warm-up, then pairs of rounds in alternating order, so drift hits both sides equally;
        // the median of the pairs' ratios is the result.
        throughput(&plain, path, &fresh, 1, concurrency).await;
        throughput(&layered, path, &fresh, 1, concurrency).await;
        let (mut without, mut with, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = throughput(&plain, path, &fresh, seconds, concurrency).await;
                (
                    a,
                    throughput(&layered, path, &fresh, seconds, concurrency).await,
                )
            } else {
                let b = throughput(&layered, path, &fresh, seconds, concurrency).await;
                (
                    throughput(&plain, path, &fresh, seconds, concurrency).await,
                    b,
                )
            };
            without.push(a);
            with.push(b);
            ratios.push(b / a);
        }
        println!(
            "| {name} | {:.0} req/s | {:.0} req/s | {:.3} (pairs: {}) |",
            median(&mut without),
            median(&mut with),
            median(&mut ratios),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    in_process(&cases, &fresh).await;
    if selected(filter, "session") {
        session_cost(&layer, &session, &session_json, &fresh).await;
    }
    if !selected(filter, "refresh storms") {
        return;
    }
    let layered = serve(Router::new().route("/", get(hello)).layer(layer.clone())).await;

    println!("\n# refresh storms: {storm_size} parallel requests with one expired cookie");
    for storm in 1..=storms {
        let mut expired = new_session(&emulator).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        expired.access_token_expires_at = now.saturating_sub(60);
        let cookie = format!(
            "{}={}",
            layer.cookie_name(),
            layer.seal(&expired).expect("seal")
        );
        // Connections open first, so the storm is only the requests.
        let mut conns = Vec::new();
        for _ in 0..storm_size {
            conns.push(Conn::open(&layered, "/", &cookie).await);
        }
        let before = emulator.stats().token_requests;
        let start = tokio::sync::Barrier::new(storm_size as usize);
        let start = std::sync::Arc::new(start);
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    let t = Instant::now();
                    let (status, set) = conn.get().await;
                    (t.elapsed(), status, set)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut cookies = std::collections::HashSet::new();
        let mut ok = 0;
        for t in tasks {
            let (d, status, set) = t.await.expect("request");
            latencies.push(d);
            ok += usize::from(status == 200);
            cookies.insert(set);
        }
        latencies.sort();
        let calls = emulator.stats().token_requests - before;
        println!(
            "storm {storm}: /token calls {calls}, HTTP 200 {ok}/{storm_size}, distinct new cookies {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            cookies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
        );
    }
}

/// A new anonymous user's session (each storm gets its own).
async fn new_session(emulator: &Emulator) -> nhost_ssr::nhost_core::Session {
    NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .build()
        .expect("client")
        .sign_in_anonymous(Default::default())
        .await
        .expect("sign in")
}

/// The time per request of `n` requests for `path`, driven through `app` one at a time in this
/// task.
async fn per_request(app: &Router, path: &str, cookie: &str, n: u32) -> Duration {
    use tower::ServiceExt as _;
    let start = Instant::now();
    for _ in 0..n {
        let response = app
            .clone()
            .oneshot(get_request(path, cookie))
            .await
            .expect("infallible");
        assert_eq!(response.status(), 200);
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    }
    start.elapsed() / n
}

/// Median, lowest and highest, in µs.
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    let m = median(values);
    (m * 1e6, values[0] * 1e6, values[values.len() - 1] * 1e6)
}

/// The same comparison without sockets: requests driven through the router in this task, one at
/// a time, in interleaved chunks — CPU per request, far less exposed to the neighbours' noise.
async fn in_process(cases: &[Case], cookie: &str) {
    let chunks = env_or("BENCH_CHUNKS", 10);
    println!(
        "\n# in process (no sockets): time per request, {chunks} interleaved chunks of 5000 \
         (median, lowest–highest chunk)"
    );
    println!(
        "| handler | without the layer | with the layer | added | ratio (req/s with ÷ without) |"
    );
    println!("|---|---|---|---|---|");
    for case in cases {
        let (plain, layered, path) = (&case.plain, &case.layered, case.path);
        per_request(plain, path, cookie, 1000).await;
        per_request(layered, path, cookie, 1000).await;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..chunks {
            a.push(per_request(plain, path, cookie, 5000).await.as_secs_f64());
            b.push(per_request(layered, path, cookie, 5000).await.as_secs_f64());
        }
        let ((a, a_lo, a_hi), (b, b_lo, b_hi)) = (spread(&mut a), spread(&mut b));
        println!(
            "| {} | {a:.2} µs ({a_lo:.2}–{a_hi:.2}) | {b:.2} µs ({b_lo:.2}–{b_hi:.2}) | {:.2} µs | {:.3} |",
            case.name,
            b - a,
            a / b
        );
    }
}

/// Where the time of `GET /_nhost/session` goes, in process: the plain handler of the same bytes;
/// those bytes behind the layer (the layer's own cost: the cookie, looked up among the opened
/// ones, `Cache-Control`/`Vary`); the same under a nested router, as `session_routes()` mounts
/// them; the endpoint (adds its method router, the `PublicSession` and its JSON); and the
/// `PublicSession` → JSON step alone, outside any router.
async fn session_cost(
    layer: &NhostSessionLayer,
    session: &nhost_ssr::nhost_core::Session,
    session_json: &Bytes,
    cookie: &str,
) {
    let chunks = env_or("BENCH_CHUNKS", 10);
    let steps: [(&str, Router); 4] = [
        (
            "the same bytes, no layer",
            Router::new().route(SESSION_PATH, get(same_json(session_json))),
        ),
        (
            "the same bytes, behind the layer",
            Router::new()
                .route(SESSION_PATH, get(same_json(session_json)))
                .layer(layer.clone()),
        ),
        (
            "the same bytes, nested (`nest(\"/_nhost\", …)`), behind the layer",
            Router::new()
                .nest(
                    "/_nhost",
                    Router::new().route("/session", get(same_json(session_json))),
                )
                .layer(layer.clone()),
        ),
        (
            "`session_routes()` behind the layer",
            Router::new()
                .merge(nhost_ssr::session_routes())
                .layer(layer.clone()),
        ),
    ];
    for (_, app) in &steps {
        per_request(app, SESSION_PATH, cookie, 1000).await;
    }
    let mut times = vec![Vec::new(); steps.len()];
    let mut serialise = Vec::new();
    for _ in 0..chunks {
        for ((_, app), times) in steps.iter().zip(&mut times) {
            times.push(
                per_request(app, SESSION_PATH, cookie, 5000)
                    .await
                    .as_secs_f64(),
            );
        }
        let start = Instant::now();
        for _ in 0..5000 {
            let public = nhost_ssr::PublicSession::new(std::hint::black_box(session));
            std::hint::black_box(serde_json::to_vec(&public).expect("json"));
        }
        serialise.push((start.elapsed() / 5000).as_secs_f64());
    }
    println!(
        "\n# GET {SESSION_PATH}: where the time goes, in process ({chunks} interleaved chunks of \
         5000; {} bytes of JSON)",
        session_json.len()
    );
    println!("| step | per request (median, lowest–highest chunk) | added |");
    println!("|---|---|---|");
    let mut previous = None;
    for ((name, _), times) in steps.iter().zip(&mut times) {
        let (m, lo, hi) = spread(times);
        let added = previous.map_or_else(|| "–".to_owned(), |p: f64| format!("{:.2} µs", m - p));
        println!("| {name} | {m:.2} µs ({lo:.2}–{hi:.2}) | {added} |");
        previous = Some(m);
    }
    let (m, lo, hi) = spread(&mut serialise);
    println!(
        "| `PublicSession::new` + `serde_json::to_vec` alone | {m:.2} µs ({lo:.2}–{hi:.2}) | |"
    );
}
