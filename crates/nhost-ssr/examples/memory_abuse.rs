//! Memory under abuse (issue 13): resident memory stays flat while a flood of requests that the
//! layer must not remember goes through `NhostSessionLayer`, in-process.
//!
//! Run with `cargo run --release -p nhost-ssr --example memory_abuse`.
//!
//! 1. **Garbage cookies**: every request carries a different cookie that does not open with the
//!    key (random bytes, base64, the size of a real session cookie).
//! 2. **Refresh attempts**: every request carries a different cookie that *does* open — sealed
//!    with the layer's key — holding an expired session with a refresh token the auth server
//!    (an in-process `nhost-auth-emulator`) has never issued: the layer asks it through its
//!    `MemoryCoordinator`, gets `401 invalid-refresh-token` and clears the cookie. Each such
//!    attempt is one real `POST /token`.
//!
//! Resident memory (`VmRSS` from `/proc/self/status`) is sampled as it goes; after a warm-up
//! (the first tenth of each phase; for the refresh attempts also at least 90 s, since the
//! coordinator remembers each outcome for the 60 s race window) it must not grow by more than
//! `MEMORY_ABUSE_MAX_GROWTH_MIB` (default 32 MiB), or the run fails. What the refresh phase
//! holds once warm is the outcomes of the last race window: proportional to the attempts per
//! second, not to their number. Sizes and the time bound come from the environment:
//! `MEMORY_ABUSE_GARBAGE` (default 1,000,000 requests), `MEMORY_ABUSE_REFRESHES` (500,000),
//! `MEMORY_ABUSE_SECONDS` (600: each phase stops early, and says so, when it runs out),
//! `MEMORY_ABUSE_CONCURRENCY` (32).
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use http::{Request, header};
use nhost_auth_emulator::{Config, Emulator};
use nhost_ssr::{NhostSessionLayer, Session};
use tower::ServiceExt as _;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What one phase measured.
struct Phase {
    name: &'static str,
    requests: u64,
    seconds: f64,
    after_warm_up: u64,
    peak: u64,
    end: u64,
    stopped_early: bool,
}

/// One phase of the flood: how many requests, how many at a time, until when, and how long
/// its warm-up lasts at least.
struct Flood {
    name: &'static str,
    total: u64,
    concurrency: u64,
    deadline: Instant,
    warm_up: Duration,
}

/// Sends `total` requests built by `request(i)`, `concurrency` at a time, until done or
/// `deadline`; samples resident memory every `total / 20` requests.
async fn flood(
    Flood {
        name,
        total,
        concurrency,
        deadline,
        warm_up,
    }: Flood,
    app: Router,
    request: impl Fn(u64) -> Request<Body> + Send + Sync + 'static,
    check: impl Fn(http::StatusCode, &http::HeaderMap) + Send + Sync + 'static,
) -> Phase {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let check = Arc::new(check);
    // Warm-up: the first tenth of the requests, and at least `warm_up` of time (what the layer
    // remembers for a while, it remembers for that long before it can forget any of it).
    let warm_up_requests = total / 10;
    let warmed = Arc::new(AtomicBool::new(false));
    let sample_every = (total / 20).max(1);
    let after_warm_up = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (app, next, done, request, check) = (
                app.clone(),
                next.clone(),
                done.clone(),
                request.clone(),
                check.clone(),
            );
            let (after_warm_up, peak, warmed) =
                (after_warm_up.clone(), peak.clone(), warmed.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || Instant::now() >= deadline {
                        return;
                    }
                    let res = app.clone().oneshot(request(i)).await.expect("infallible");
                    check(res.status(), res.headers());
                    let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await;
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n >= warm_up_requests
                        && started.elapsed() >= warm_up
                        && !warmed.swap(true, Ordering::Relaxed)
                    {
                        let rss = rss_kib();
                        after_warm_up.store(rss, Ordering::Relaxed);
                        println!(
                            "  {name}: warmed up after {n} requests, {:.1} s, VmRSS {:.1} MiB",
                            started.elapsed().as_secs_f64(),
                            mib(rss)
                        );
                    }
                    if n % sample_every == 0 {
                        let rss = rss_kib();
                        peak.fetch_max(rss, Ordering::Relaxed);
                        println!(
                            "  {name}: {n:>9} requests, {:>6.1} s, VmRSS {:>7.1} MiB",
                            started.elapsed().as_secs_f64(),
                            mib(rss)
                        );
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("a worker");
    }
    let requests = done.load(Ordering::Relaxed);
    let end = rss_kib();
    Phase {
        name,
        requests,
        seconds: started.elapsed().as_secs_f64(),
        after_warm_up: match after_warm_up.load(Ordering::Relaxed) {
            0 => end,
            kib => kib,
        },
        peak: peak.load(Ordering::Relaxed).max(end),
        end,
        stopped_early: requests < total,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let garbage = env_or("MEMORY_ABUSE_GARBAGE", 1_000_000);
    let refreshes = env_or("MEMORY_ABUSE_REFRESHES", 500_000);
    let seconds = env_or("MEMORY_ABUSE_SECONDS", 600);
    let concurrency = env_or("MEMORY_ABUSE_CONCURRENCY", 32).max(1);
    let max_growth_kib = env_or("MEMORY_ABUSE_MAX_GROWTH_MIB", 32) * 1024;
    let deadline = Instant::now() + Duration::from_secs(seconds);

    let emulator = Emulator::start(Config::default())
        .await
        .expect("the emulator starts");
    let key = nhost_ssr::key_from_bytes(&[42u8; 64]).expect("a key");
    let layer = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(key)
        .build()
        .expect("a layer");
    let cookie_name = layer.cookie_name().to_owned();
    let app = Router::new()
        .route(
            "/",
            get(|session: Option<Session>| async move {
                if session.is_some() {
                    "signed in"
                } else {
                    "hello"
                }
            }),
        )
        .layer(layer.clone());
    println!(
        "memory_abuse: {garbage} garbage cookies, then {refreshes} refresh attempts, {concurrency} \
         at a time, at most {seconds} s; VmRSS at start {:.1} MiB",
        mib(rss_kib())
    );

    // 1. Distinct cookies that do not open: random bytes the size of a sealed session.
    let name = cookie_name.clone();
    let garbage_phase = flood(
        Flood {
            name: "garbage cookies",
            total: garbage,
            concurrency,
            deadline,
            warm_up: Duration::ZERO,
        },
        app.clone(),
        move |i| {
            let mut bytes = Vec::with_capacity(600);
            while bytes.len() < 600 {
                bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            }
            bytes.extend_from_slice(&i.to_le_bytes());
            let value = base64::engine::general_purpose::STANDARD.encode(&bytes);
            Request::get("/")
                .header(header::COOKIE, format!("{name}={value}"))
                .body(Body::empty())
                .expect("a request")
        },
        |status, _| assert_eq!(status, 200),
    )
    .await;

    // 2. Distinct cookies that open, each an expired session with a refresh token never issued.
    let name = cookie_name.clone();
    let sealer = layer.clone();
    let cleared = Arc::new(AtomicU64::new(0));
    let counted = cleared.clone();
    let refresh_phase = flood(
        Flood {
            name: "refresh attempts",
            total: refreshes,
            concurrency,
            deadline,
            // The coordinator remembers each outcome for the race window (60 s): only after
            // that can old ones go, so growth before it is the working set, not a leak.
            warm_up: Duration::from_secs(90),
        },
        app.clone(),
        move |_| {
            let session: nhost_ssr::nhost_core::Session =
                serde_json::from_value(serde_json::json!({
                    "accessToken": "x.eyJzdWIiOiJ4In0.y", "accessTokenExpiresIn": 900,
                    "accessTokenExpiresAt": 1,
                    "refreshToken": uuid::Uuid::new_v4().to_string(),
                    "refreshTokenId": uuid::Uuid::new_v4().to_string(),
                    "user": null, "claims": null
                }))
                .expect("a session");
            let sealed = sealer.seal(&session).expect("fits");
            Request::get("/")
                .header(header::COOKIE, format!("{name}={sealed}"))
                .body(Body::empty())
                .expect("a request")
        },
        move |status, headers| {
            assert_eq!(status, 200);
            // The auth server rejected the token: the cookie is cleared.
            if headers
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|c| c.to_str().is_ok_and(|c| c.contains("Max-Age=0")))
            {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
    .await;
    let token_calls = emulator.stats().token_requests;
    emulator.shutdown().await;

    println!(
        "\n{:<18} {:>10} {:>8} {:>12} {:>10} {:>10} {:>10}",
        "phase", "requests", "seconds", "req/s", "warm MiB", "peak MiB", "end MiB"
    );
    let mut ok = true;
    for p in [&garbage_phase, &refresh_phase] {
        println!(
            "{:<18} {:>10} {:>8.1} {:>12.0} {:>10.1} {:>10.1} {:>10.1}{}",
            p.name,
            p.requests,
            p.seconds,
            p.requests as f64 / p.seconds.max(1e-9),
            mib(p.after_warm_up),
            mib(p.peak),
            mib(p.end),
            if p.stopped_early {
                "  (stopped at the time bound)"
            } else {
                ""
            }
        );
        let growth = p.peak.saturating_sub(p.after_warm_up);
        if growth > max_growth_kib {
            ok = false;
            println!(
                "FAIL: {}: resident memory grew {:.1} MiB after the warm-up (limit {:.1} MiB)",
                p.name,
                mib(growth),
                mib(max_growth_kib)
            );
        }
    }
    println!(
        "{} requests in all; {} POST /token at the auth server, {} cookies cleared",
        garbage_phase.requests + refresh_phase.requests,
        token_calls,
        cleared.load(Ordering::Relaxed)
    );
    if ok {
        println!("memory flat after warm-up: ok");
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
