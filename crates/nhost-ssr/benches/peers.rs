//! `cargo bench -p nhost-ssr --bench peers`: the layer against what an axum developer would reach
//! for instead (issue 14, "SSR layer against the peers").
//!
//! One Yew page handler — a small component rendered with `yew::ServerRenderer`, showing the
//! user's id and a few fields — behind:
//!
//! - **(a)** no session at all: the handler renders a fixed user;
//! - **(b)** `NhostSessionLayer` with a fresh sealed cookie (no refresh, so nothing is sent to
//!   the auth server);
//! - **(c)** `tower-sessions` with its `MemoryStore`, holding the same session (the same JSON);
//! - **(d)** `axum-extra`'s `PrivateCookieJar` opening a cookie that holds the same JSON, which
//!   the handler deserializes with `serde_json`.
//!
//! Two measurements, each in rounds that run all four in a rotating order (so drift hits every
//! side alike), medians of the rounds, and each side's ratio to (a) taken within its round:
//!
//! 1. CPU per request in process: `tower::ServiceExt::oneshot` through the router, one request
//!    at a time in this task; CPU time of all the process's threads (`CLOCK_PROCESS_CPUTIME_ID`
//!    — Yew's renderer runs on threads of its own), less exposed to the neighbours than the wall
//!    time, which is shown too; rounds of `BENCH_ITERATIONS` per row. More rows say where (b)'s
//!    time goes: (a)'s handler behind the layer (the layer alone), (b) with cookies the layer has
//!    not opened yet (a visitor's first request, another instance, a restart) — what its
//!    opened-cookie memory saves — and a static page without Yew, alone and behind the layer
//!    (the layer's cost where no renderer thread runs).
//! 2. Requests/s over loopback: a real `axum::serve` on 127.0.0.1 per side and one keep-alive
//!    HTTP/1.1 reqwest client with `BENCH_CONNECTIONS` concurrent requests.
//!
//! Options (environment): `BENCH_CHUNKS` (in-process rounds, 40), `BENCH_ITERATIONS` (requests
//! per round and row, 1000), `BENCH_ROUNDS` (loopback rounds, 8), `BENCH_SECONDS` (per side and
//! round, 2), `BENCH_CONNECTIONS` (4), `BENCH_VERBOSE` (set: every in-process round on stderr),
//! `BENCH_PROFILE` (part of a row's name: only those rows, in process, `BENCH_ITERATIONS`
//! requests each, for a profiler — see [`profile`]).
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::http::header::{self, HeaderValue};
use axum::response::Html;
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar};
use nhost_auth_emulator::{Config, Emulator};
use nhost_ssr::NhostSessionLayer;
use nhost_ssr::nhost_core::{NhostClient, Session};
use tower::ServiceExt as _;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the page shows of the user.
#[derive(Clone, PartialEq, yew::Properties)]
struct UserView {
    id: String,
    display_name: String,
    locale: String,
    default_role: String,
    anonymous: bool,
}

impl UserView {
    fn of(session: &Session) -> UserView {
        let user = session.user.as_ref();
        UserView {
            id: user.map(|u| u.id.clone()).unwrap_or_default(),
            display_name: user.map(|u| u.display_name.clone()).unwrap_or_default(),
            locale: user.map(|u| u.locale.clone()).unwrap_or_default(),
            default_role: user.map(|u| u.default_role.clone()).unwrap_or_default(),
            anonymous: user.is_some_and(|u| u.is_anonymous),
        }
    }
}

#[yew::component]
fn Page(user: &UserView) -> yew::Html {
    let rows = (1..=10).map(|i| yew::html! { <li key={i}>{ format!("item {i}") }</li> });
    yew::html! {
        <main>
            <h1>{ format!("Hello, {}", user.display_name) }</h1>
            <dl>
                <dt>{ "User id" }</dt><dd>{ user.id.clone() }</dd>
                <dt>{ "Locale" }</dt><dd>{ user.locale.clone() }</dd>
                <dt>{ "Role" }</dt><dd>{ user.default_role.clone() }</dd>
                <dt>{ "Anonymous" }</dt><dd>{ if user.anonymous { "yes" } else { "no" } }</dd>
            </dl>
            <ul>{ for rows }</ul>
            <form method="post" action="/auth/sign-out"><button>{ "Sign out" }</button></form>
        </main>
    }
}

/// The one page handler every side ends in: the user found (or not) rendered by Yew.
async fn render(session: Option<&Session>) -> Html<String> {
    let Some(session) = session else {
        return Html("<p>signed out</p>".to_owned());
    };
    let user = UserView::of(session);
    Html(
        yew::ServerRenderer::<Page>::with_props(move || user)
            .render()
            .await,
    )
}

/// (a): no session machinery; the handler renders a fixed user.
async fn page_fixed(State(session): State<Arc<Session>>) -> Html<String> {
    render(Some(&session)).await
}

/// The rows without Yew: a fixed page, whatever the session.
async fn page_static() -> Html<&'static str> {
    Html("<!doctype html><main><h1>Hello</h1></main>")
}

/// (b): the session `NhostSessionLayer` opened from the cookie.
async fn page_nhost(session: Option<nhost_ssr::Session>) -> Html<String> {
    render(session.as_deref()).await
}

/// The key under which (c) keeps the session in its store.
const SESSION_KEY: &str = "session";

/// (c): the session `tower-sessions` loads from its `MemoryStore`.
async fn page_tower_sessions(store: tower_sessions::Session) -> Html<String> {
    let session = store.get::<Session>(SESSION_KEY).await.ok().flatten();
    render(session.as_ref()).await
}

/// (d): the cookie `PrivateCookieJar` opens, deserialized with `serde_json`.
async fn page_private_jar(jar: PrivateCookieJar) -> Html<String> {
    let session = jar
        .get(SESSION_KEY)
        .and_then(|c| serde_json::from_str::<Session>(c.value()).ok());
    render(session.as_ref()).await
}

/// One side of the comparison: its router and the `Cookie` header its requests carry.
struct Side {
    name: &'static str,
    app: Router,
    cookie: String,
}

/// A `GET /` with `cookie`. The header values are shared, not copied, as hyper's are (slices of
/// its read buffer): a value built from a string would be copied again by the first middleware
/// that keeps it (tower-cookies, the layer), which a served request is not.
fn get_request(cookie: &HeaderValue) -> Request<Body> {
    Request::builder()
        .uri("/")
        .header(header::HOST, HeaderValue::from_static("localhost"))
        .header(header::COOKIE, cookie.clone())
        .body(Body::empty())
        .expect("request")
}

/// `cookie` as a header value, shared by the requests that carry it.
fn header_value(cookie: &str) -> HeaderValue {
    let value = HeaderValue::from_str(cookie).expect("cookie");
    // The first clone of a value built from a string makes it shared.
    drop(value.clone());
    value
}

/// The `name=value` of the response's `Set-Cookie`.
fn set_cookie(response: &axum::response::Response) -> String {
    let header = response
        .headers()
        .get("set-cookie")
        .expect("set-cookie")
        .to_str()
        .expect("ascii");
    header.split(';').next().unwrap_or_default().to_owned()
}

/// The four sides, each with a cookie holding `session` (none for (a)).
///
/// Every router is finished with `with_state` — `(())` where it has no state — as `axum::serve`
/// does (`into_make_service`): a `Router<()>` called as it is turns each handler into a route,
/// and applies the layers to it, on every request, which cost the sides with a layer (b), (c)
/// about 5 allocations per request that a served application does not pay.
async fn sides(layer: &NhostSessionLayer, session: &Session) -> Vec<Side> {
    // (c): a real sign-in through tower-sessions puts the session in the store and gives the
    // session-id cookie the page requests then carry.
    let store = tower_sessions::MemoryStore::default();
    let sessions = tower_sessions::SessionManagerLayer::new(store).with_secure(false);
    let stored = session.clone();
    let sign_in = Router::new()
        .route(
            "/sign-in",
            get(move |s: tower_sessions::Session| async move {
                s.insert(SESSION_KEY, &stored).await.expect("insert");
            }),
        )
        .layer(sessions.clone());
    let response = sign_in
        .oneshot(
            Request::builder()
                .uri("/sign-in")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let tower_cookie = set_cookie(&response);

    // (d): the same JSON the layer seals, in axum-extra's private (AES-GCM) cookie.
    let key = Key::from(&[7u8; 64]);
    let json = serde_json::to_string(session).expect("json");
    let jar = PrivateCookieJar::new(key.clone()).add(Cookie::new(SESSION_KEY, json));
    let response = axum::response::IntoResponse::into_response(jar);
    let jar_cookie = set_cookie(&response);

    vec![
        Side {
            name: "(a) no session (a fixed user)",
            app: Router::new()
                .route("/", get(page_fixed))
                .with_state(Arc::new(session.clone())),
            cookie: String::new(),
        },
        Side {
            name: "(b) nhost-ssr `NhostSessionLayer`",
            app: Router::new()
                .route("/", get(page_nhost))
                .layer(layer.clone())
                .with_state(()),
            cookie: format!(
                "{}={}",
                layer.cookie_name(),
                layer.seal(session).expect("seal")
            ),
        },
        Side {
            name: "(c) tower-sessions + `MemoryStore`",
            app: Router::new()
                .route("/", get(page_tower_sessions))
                .layer(sessions)
                .with_state(()),
            cookie: tower_cookie,
        },
        Side {
            name: "(d) axum-extra `PrivateCookieJar` + serde_json",
            app: Router::new()
                .route("/", get(page_private_jar))
                .with_state(key),
            cookie: jar_cookie,
        },
    ]
}

/// Every side renders the user: a side that silently rendered "signed out" would be cheaper and
/// wrong.
async fn check(side: &Side, user_id: &str) {
    let response = side
        .app
        .clone()
        .oneshot(get_request(&header_value(&side.cookie)))
        .await
        .expect("infallible");
    assert_eq!(response.status(), 200, "{}", side.name);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "{}: a fresh session is never rewritten",
        side.name
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains(user_id), "{}: {body}", side.name);
}

/// The CPU time this process has used so far, all threads (`CLOCK_PROCESS_CPUTIME_ID`);
/// `None` where that is not available. (Each thread's `/proc/self/task/*/schedstat`, read before,
/// lags for a thread that runs without being switched out: the page without Yew read 0 µs.)
#[cfg(unix)]
fn process_cpu() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

#[cfg(not(unix))]
fn process_cpu() -> Option<Duration> {
    None
}

/// Wall time and CPU time (all the process's threads: the router's, and Yew's renderer's) per
/// request of `n` requests driven through `app` one at a time in this task, the cookies taken in
/// turn from the `first`.
async fn per_request(app: &Router, cookies: &[HeaderValue], first: usize, n: usize) -> (f64, f64) {
    let (start, cpu) = (Instant::now(), process_cpu());
    for i in first..first + n {
        let response = app
            .clone()
            .oneshot(get_request(&cookies[i % cookies.len()]))
            .await
            .expect("infallible");
        assert_eq!(response.status(), 200);
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    }
    let wall = start.elapsed().as_secs_f64() / n as f64;
    let cpu = process_cpu().zip(cpu).map_or(f64::NAN, |(end, start)| {
        (end - start).as_secs_f64() / n as f64
    });
    (wall, cpu)
}

/// One row of the in-process table: a router, the cookies its requests carry (in turn), and the
/// row it is compared with.
struct Row {
    name: &'static str,
    app: Router,
    cookies: Vec<HeaderValue>,
    /// The index of the row this one's ratio and difference are taken against.
    baseline: usize,
}

/// `BENCH_PROFILE=<part of a row's name>`: only the in-process rows whose name contains it, one
/// after the other, `iterations` requests each after a warm-up of 200 — for a profiler:
/// `valgrind --tool=callgrind` counts instructions repeatably where CPU time does not, and the
/// difference between two runs with different `BENCH_ITERATIONS` is the cost of those requests
/// alone (start-up and warm-up cancel out).
async fn profile(rows: &[Row], filter: &str, iterations: usize) {
    for Row {
        name, app, cookies, ..
    } in rows.iter().filter(|row| row.name.contains(filter))
    {
        per_request(app, cookies, 0, 200).await;
        let switches = context_switches();
        let (wall, cpu) = per_request(app, cookies, 200, iterations).await;
        let switches = context_switches()
            .zip(switches)
            .map_or(f64::NAN, |(end, start)| {
                (end - start) as f64 / iterations as f64
            });
        println!(
            "{name}: {iterations} requests, {:.2} µs wall, {:.2} µs CPU, {switches:.2} context \
             switches per request",
            wall * 1e6,
            cpu * 1e6
        );
    }
}

/// Voluntary and involuntary context switches of all the process's threads so far (Linux).
fn context_switches() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().ok()?;
            }
        }
    }
    Some(total)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Requests/s over `seconds`, `connections` requests in flight on one keep-alive client.
async fn throughput(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    seconds: u64,
    connections: u64,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, cookie) = (client.clone(), url.to_owned(), cookie.to_owned());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let response = client
                        .get(&url)
                        .header("cookie", &cookie)
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("worker");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `(median, lowest, highest)`.
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    let m = median(values);
    (m, values[0], values[values.len() - 1])
}

/// For each side, the spread over the rounds of `ratio(side, round)` (its ratio to (a) within
/// one round).
fn ratios(
    sides: usize,
    rounds: usize,
    ratio: impl Fn(usize, usize) -> f64,
) -> Vec<(f64, f64, f64)> {
    (0..sides)
        .map(|s| spread(&mut (0..rounds).map(|r| ratio(s, r)).collect::<Vec<_>>()))
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let chunks = env_or("BENCH_CHUNKS", 40) as usize;
    let iterations = env_or("BENCH_ITERATIONS", 1000) as usize;
    let rounds = env_or("BENCH_ROUNDS", 8) as usize;
    let seconds = env_or("BENCH_SECONDS", 2);
    let connections = env_or("BENCH_CONNECTIONS", 4);

    // A real anonymous session, from the in-process emulator, once.
    let mut config = Config::default();
    config.anonymous_role = "public".into();
    config.rate_limits.enabled = false;
    let emulator = Emulator::start(config).await.expect("emulator");
    let session = NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .build()
        .expect("client")
        .sign_in_anonymous(Default::default())
        .await
        .expect("sign in");
    let user_id = session.user.as_ref().expect("user").id.clone();
    // The layer's auth server: an address nothing listens on — a fresh cookie sends nothing.
    let layer = NhostSessionLayer::builder()
        .auth_url("http://127.0.0.1:9/v1")
        .cookie_key(nhost_ssr::key_from_bytes(&[5u8; 64]).expect("key"))
        .build()
        .expect("layer");

    let sides = sides(&layer, &session).await;
    for side in &sides {
        check(side, &user_id).await;
    }
    let json_len = serde_json::to_string(&session).expect("json").len();
    println!(
        "# the same Yew page behind each session mechanism (session JSON {json_len} bytes; \
         cookies: (b) {} B, (c) {} B, (d) {} B)",
        sides[1].cookie.len(),
        sides[2].cookie.len(),
        sides[3].cookie.len()
    );

    // In process, more rows say where (b)'s time goes: (a)'s handler behind the layer (the
    // cookie opened — found among the opened ones — and the headers, but the session not read
    // by the handler); (b) on cookies the layer has not opened before: four times as many
    // distinct sealed cookies as its opened-cookie memory holds (4096), taken in turn across the
    // rounds, so that none is found there (AES-GCM and JSON on every request); and a static page
    // (a fixed string: no renderer, so no thread of Yew's) alone and behind the layer — the
    // layer's own cost where nothing else runs, compared with the static page alone.
    let cookie_of = |side: &Side| vec![header_value(&side.cookie)];
    let mut rows: Vec<Row> = sides
        .iter()
        .map(|side| Row {
            name: side.name,
            app: side.app.clone(),
            cookies: cookie_of(side),
            baseline: 0,
        })
        .collect();
    rows.push(Row {
        name: "(a)'s handler behind `NhostSessionLayer`, the session not read",
        app: Router::new()
            .route("/", get(page_fixed))
            .with_state(Arc::new(session.clone()))
            .layer(layer.clone()),
        cookies: cookie_of(&sides[1]),
        baseline: 0,
    });
    let unopened = "(b) on a cookie the layer has not opened before";
    // Sealing 16,384 cookies takes 25 MB; a profiler of another row does without them.
    let profiled = std::env::var("BENCH_PROFILE").ok();
    let count = match &profiled {
        Some(filter) if !unopened.contains(filter.as_str()) => 1,
        _ => 4 * 4096,
    };
    rows.push(Row {
        name: unopened,
        app: sides[1].app.clone(),
        cookies: (0..count)
            .map(|_| {
                header_value(&format!(
                    "{}={}",
                    layer.cookie_name(),
                    layer.seal(&session).expect("seal")
                ))
            })
            .collect(),
        baseline: 0,
    });
    let static_page = rows.len();
    rows.push(Row {
        name: "a static page (no Yew), no session",
        app: Router::new().route("/", get(page_static)).with_state(()),
        cookies: cookie_of(&sides[1]),
        baseline: static_page,
    });
    rows.push(Row {
        name: "the static page behind `NhostSessionLayer`",
        app: Router::new()
            .route("/", get(page_static))
            .layer(layer.clone())
            .with_state(()),
        cookies: cookie_of(&sides[1]),
        baseline: static_page,
    });

    if let Some(filter) = profiled {
        profile(&rows, &filter, iterations).await;
        return;
    }

    // 1. In process.
    for row in &rows {
        per_request(&row.app, &row.cookies, 0, 500).await;
    }
    let n = rows.len();
    // Per row, per round: (wall, CPU) per request.
    let mut times: Vec<Vec<(f64, f64)>> = vec![Vec::with_capacity(chunks); n];
    for chunk in 0..chunks {
        for k in 0..n {
            let s = (chunk + k) % n;
            let row = &rows[s];
            times[s]
                .push(per_request(&row.app, &row.cookies, chunk * iterations, iterations).await);
        }
    }
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        for (row, round_times) in rows.iter().zip(&times) {
            let us: Vec<String> = round_times
                .iter()
                .map(|(wall, cpu)| format!("{:.1}/{:.1}", wall * 1e6, cpu * 1e6))
                .collect();
            eprintln!("{} (wall/CPU µs): {}", row.name, us.join(" "));
        }
    }
    println!(
        "\n## in process: per request ({chunks} rounds of {iterations} `oneshot` requests, all \
         rows in rotating order; CPU = all the process's threads; median, lowest–highest round; \
         each row against its baseline: (a), or for the last row the static page alone)"
    );
    println!(
        "| side | CPU per request | added to the baseline | ratio to the baseline (CPU, per \
         round) | wall per request | ratio to the baseline (wall, per round) |"
    );
    println!("|---|---|---|---|---|---|");
    let cpu_ratio = ratios(n, chunks, |s, r| {
        times[rows[s].baseline][r].1 / times[s][r].1
    });
    let wall_ratio = ratios(n, chunks, |s, r| {
        times[rows[s].baseline][r].0 / times[s][r].0
    });
    let cpu_median = |s: usize| median(&mut times[s].iter().map(|t| t.1).collect::<Vec<_>>());
    for (s, row) in rows.iter().enumerate() {
        let (c, c_lo, c_hi) = spread(&mut times[s].iter().map(|t| t.1).collect::<Vec<_>>());
        let (w, w_lo, w_hi) = spread(&mut times[s].iter().map(|t| t.0).collect::<Vec<_>>());
        let (cr, wr) = (cpu_ratio[s], wall_ratio[s]);
        let added = if row.baseline == s {
            "–".to_owned()
        } else {
            format!("{:+.2} µs", (c - cpu_median(row.baseline)) * 1e6)
        };
        println!(
            "| {} | {:.2} µs ({:.2}–{:.2}) | {added} | {:.3} ({:.3}–{:.3}) | \
             {:.2} µs ({:.2}–{:.2}) | {:.3} ({:.3}–{:.3}) |",
            row.name,
            c * 1e6,
            c_lo * 1e6,
            c_hi * 1e6,
            cr.0,
            cr.1,
            cr.2,
            w * 1e6,
            w_lo * 1e6,
            w_hi * 1e6,
            wr.0,
            wr.1,
            wr.2,
        );
    }

    // 2. Loopback.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections as usize)
        .build()
        .expect("client");
    let mut urls = Vec::new();
    for side in &sides {
        urls.push(serve(side.app.clone()).await);
    }
    for (side, url) in sides.iter().zip(&urls) {
        throughput(&client, url, &side.cookie, 1, connections).await;
    }
    let mut rates = vec![Vec::with_capacity(rounds); sides.len()];
    for round in 0..rounds {
        for k in 0..sides.len() {
            let s = (round + k) % sides.len();
            let rate = throughput(&client, &urls[s], &sides[s].cookie, seconds, connections).await;
            rates[s].push(rate);
        }
    }
    println!(
        "\n## loopback: requests/s ({rounds} rounds of {seconds} s per side, all sides in rotating \
         order; {connections} concurrent keep-alive HTTP/1.1 requests, reqwest; median, \
         lowest–highest round)"
    );
    println!("| side | req/s | ratio to (a), per round |");
    println!("|---|---|---|");
    let per_round = ratios(sides.len(), rounds, |s, r| rates[s][r] / rates[0][r]);
    for ((side, rate), ratio) in sides.iter().zip(&rates).zip(&per_round) {
        let (m, lo, hi) = spread(&mut rate.clone());
        println!(
            "| {} | {m:.0} ({lo:.0}–{hi:.0}) | {:.3} ({:.3}–{:.3}) |",
            side.name, ratio.0, ratio.1, ratio.2
        );
    }
}
