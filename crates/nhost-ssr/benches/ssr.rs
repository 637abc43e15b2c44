//! `cargo bench -p nhost-ssr --bench ssr`: what the layer costs, and what a refresh storm costs.
//!
//! 1. Overhead with a fresh token: requests/s of one handler behind `NhostSessionLayer` ÷
//!    requests/s of the same handler without it, both on loopback, in pairs of rounds of one run
//!    (the machines are shared and noisy: the median of the pairs' ratios is what counts).
//! 2. The refresh storm: `N` parallel requests carrying one expired cookie; `/token` calls at
//!    the emulator per storm (target 1) and the latency percentiles of the storm's requests.
//!
//! Options (environment): `BENCH_SECONDS` per round (default 2), `BENCH_ROUNDS` (pairs, 8), `BENCH_CONCURRENCY` (64),
//! `BENCH_STORM` requests per storm (200), `BENCH_STORMS` (5).
#![allow(missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
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

/// Each handler measured: `(name, the handler alone, the handler behind the layer)`.
fn cases(layer: &NhostSessionLayer) -> [(&'static str, Router, Router); 2] {
    [
        (
            "hello (static string)",
            Router::new().route("/", get(hello)),
            Router::new().route("/", get(hello)).layer(layer.clone()),
        ),
        (
            "Yew ServerRenderer page",
            Router::new().route("/", get(yew_page)),
            Router::new().route("/", get(yew_page)).layer(layer.clone()),
        ),
    ]
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
    async fn open(addr: &str, cookie: &str) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let request =
            format!("GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\r\n").into_bytes();
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
async fn throughput(addr: &str, cookie: &str, seconds: u64, concurrency: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, cookie) = (addr.to_owned(), cookie.to_owned());
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr, &cookie).await;
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

    println!(
        "# nhost-ssr benchmarks ({seconds} s rounds, {concurrency} connections, fresh cookie)"
    );
    println!(
        "| handler | without the layer (median) | with the layer (median) | ratio: median of {rounds} pairs |"
    );
    println!("|---|---|---|---|");
    for (name, plain, layered) in cases(&layer) {
        let (plain, layered) = (serve(plain).await, serve(layered).await);
        // Warm-up, then pairs of rounds in alternating order, so drift hits both sides equally;
        // the median of the pairs' ratios is the result.
        throughput(&plain, &fresh, 1, concurrency).await;
        throughput(&layered, &fresh, 1, concurrency).await;
        let (mut without, mut with, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = throughput(&plain, &fresh, seconds, concurrency).await;
                (a, throughput(&layered, &fresh, seconds, concurrency).await)
            } else {
                let b = throughput(&layered, &fresh, seconds, concurrency).await;
                (throughput(&plain, &fresh, seconds, concurrency).await, b)
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
    in_process(&layer, &fresh).await;
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
            conns.push(Conn::open(&layered, &cookie).await);
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

/// The same comparison without sockets: requests driven through the router in this task, one at
/// a time, in interleaved chunks — CPU per request, far less exposed to the neighbours' noise.
async fn in_process(layer: &NhostSessionLayer, cookie: &str) {
    use tower::ServiceExt as _;
    async fn per_request(app: &Router, cookie: &str, n: u32) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            let request = axum::http::Request::builder()
                .uri("/")
                .header("host", "localhost")
                .header("cookie", cookie)
                .body(axum::body::Body::empty())
                .expect("request");
            let response = app.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), 200);
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        }
        start.elapsed() / n
    }
    let chunks = env_or("BENCH_CHUNKS", 10);
    println!("\n# in process (no sockets): time per request, {chunks} interleaved chunks of 5000");
    println!(
        "| handler | without the layer | with the layer | added | ratio (req/s with ÷ without) |"
    );
    println!("|---|---|---|---|---|");
    for (name, plain, layered) in cases(layer) {
        per_request(&plain, cookie, 1000).await;
        per_request(&layered, cookie, 1000).await;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..chunks {
            a.push(per_request(&plain, cookie, 5000).await.as_secs_f64());
            b.push(per_request(&layered, cookie, 5000).await.as_secs_f64());
        }
        let (a, b) = (median(&mut a), median(&mut b));
        println!(
            "| {name} | {:.2} µs | {:.2} µs | {:.2} µs | {:.3} |",
            a * 1e6,
            b * 1e6,
            (b - a) * 1e6,
            a / b
        );
    }
}
