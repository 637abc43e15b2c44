//! `cargo xtask soak`: simulated browsers against real processes of the SSR example and the auth
//! emulator, with faults injected mid-run, counting every session lost.
//!
//! ```text
//! cargo xtask soak                                          # 1 instance, 10,000 GETs
//! cargo xtask soak --instances 3 --fault auth-restart       # 3 instances + Redis, auth server SIGKILLed
//! cargo xtask soak --instances 3 --fault instance-kill --faults 10 --requests 20000
//! ```
//!
//! Loopback only; it stops by itself once `--requests` are made and the last fault is over (plus
//! its grace period), or at `--seconds`; progress every 2 s, a report at the end. `cargo xtask
//! test` runs a short one (1,000 requests, 3 instances, the auth server restarted, dev profile).
//!
//! # What runs
//!
//! Everything on 127.0.0.1, as separate processes so that faults are real `SIGKILL`s:
//! the standalone `nhost-auth-emulator` (SQLite file, anonymous role `public`, access tokens of
//! `--token-seconds`, rate limits off, bcrypt cost 4); `--instances` processes of
//! `example-axum-ssr` sharing one cookie key (any instance opens any cookie) and, with more than
//! one instance or `--fault redis-restart`, one `redis-server` (persistence off) as their
//! `REDIS_URL`. The binaries are built with `--profile` first. Files and logs go to
//! `target/soak/<pid>/`, removed when the soak passes and kept (with the path printed) when
//! it fails.
//!
//! `--browsers` simulated browsers, each with its own cookie jar, sign in anonymously (the
//! page's form: `POST /auth/sign-in/anonymous` from the site's origin), read their user id from
//! `GET /`, then fire bursts of 1–20 parallel `GET`s (the page, prefetches of it, assets) with
//! random pauses of up to `--token-seconds` + 1 s between bursts, so that most bursts carry an
//! access token that is due or expired. A load balancer in the soak spreads them round-robin
//! over the instances; a `GET` an instance fails to answer (refused, reset) goes to the next one
//! and the failed instance is left out for 2 s (nginx's `proxy_next_upstream error` and
//! `fail_timeout`).
//!
//! Every page is checked. **A session is lost** when a response clears a browser's cookie, when
//! a page shows another user, when a page renders "You are signed out." with no fault on (or
//! more than the grace period after one: 5 s, 20 s after an instance was killed — a lock its
//! refresh held in Redis lives 15 s), or when, after the run, a browser's `GET /` does not show
//! the user it signed in as. The soak fails (non-zero exit) on any lost session, any 5xx, any
//! other unexpected status and any request no instance answered.
//!
//! # Faults (`--fault`)
//!
//! Injected `--faults` times (default once), evenly spread: fault k of K once the browsers have
//! made k/(K+1) of `--requests` (or that share of `--seconds` has passed), each time brought
//! back `--down-seconds` later:
//!
//! - `auth-restart`: the auth server is killed (`SIGKILL`) and started again on the same port
//!   with the same SQLite file.
//! - `redis-restart`: `redis-server` is killed and started again, empty (persistence off).
//! - `instance-kill`: one instance of the site (the next one each time) is killed while the
//!   others carry on, then started again on the same port, as its supervisor would.
//!
//! What a browser sees meanwhile, as `nhost-ssr` documents it:
//!
//! - **Auth server down**: a page whose access token is still valid renders signed in; one whose
//!   token expired renders "You are signed out." — HTTP 200, **the cookie kept** (no
//!   `Set-Cookie`). Connections are refused at once, so pages stay fast. The first request after
//!   the server is back refreshes the session and the page is signed in again.
//! - **Redis down**: a page that needs no refresh is unaffected (nothing asks Redis). One that
//!   does waits for Redis — its commands give up after 2 s, and reconnecting takes about as long
//!   — so it takes 3–3.5 s, then renders signed in if Redis came back meanwhile, else signed out
//!   with the cookie kept, like an auth outage.
//! - **An instance killed**: its requests in flight fail (reset or refused) and the balancer
//!   sends them to another instance (they are `GET`s), which answers them as any other; the
//!   browser sees a slower page, nothing else. The exception is the known limit below.
//!
//! **Known limit, seen in the soak.** An instance killed in the few milliseconds between the
//! auth server's rotation of a refresh token and the outcome reaching Redis takes the only copy
//! of the new token with it. The other instances wait for its Redis lock (15 s: that browser's
//! page loads hang meanwhile, then render signed out), then one of them refreshes with the
//! spent token, is refused, and the session is lost. The same holds for an auth server killed
//! after committing a rotation and before its answer left. Nothing on the site's side can
//! recover that token: an auth server that rotates with no reuse interval (Nhost's, and this
//! emulator) makes this window the protocol's, not the layer's.
//!
//! # Figures
//!
//! Measured 2026-12-02 on the shared 2-core machine (other builds and tests running beside it),
//! release profile, 50 browsers, 2 s access tokens unless said, faults down 3 s unless said.
//! `/token` calls: counted by the auth server (`GET /_emulator/stats`); across its restarts,
//! the calls between the last reading and each kill are missing. "Signed-out pages" are the
//! pages rendered signed out, cookie kept, while a fault was on (see above).
//!
//! | run (`cargo xtask soak …`) | GETs | duration | `/token` calls | faults | sessions lost | 5xx | p50 / p99 | signed-out pages |
//! |---|---|---|---|---|---|---|---|---|
//! | *(no options)*: 1 instance | 10,035 | 32.1 s | 825 | – | **0** | 0 | 3.9 / 16.4 ms | – |
//! | `--token-seconds 1` | 10,120 | 21.9 s | 791 | – | **0** | 0 | 2.5 / 9.1 ms | – |
//! | `--instances 3` (Redis) | 10,017 | 33.2 s | 877 | – | **0** | 0 | 13.0 / 19.7 ms | – |
//! | `--fault auth-restart` (1 instance) | 10,017 | 31.5 s | ≥ 734 | 1 | **0** | 0 | 3.2 / 13.9 ms | 735 |
//! | `--instances 3 --fault auth-restart` | 10,052 | 31.9 s | ≥ 735 | 1 | **0** | 0 | 9.7 / 21.2 ms | 822 |
//! | `… auth-restart --faults 10 --requests 20000` | 20,950 | 63.9 s | ≥ 766 | 10 | **0** | 0 | 6.2 / 30.2 ms | 7,359 |
//! | `… auth-restart --faults 5 --token-seconds 1` | 12,362 | 26.5 s | ≥ 341 | 5 | **0** | 0 | 2.9 / 17.1 ms | 5,753 |
//! | `--instances 3 --fault redis-restart` | 10,011 | 34.9 s | 849 | 1 | **0** | 0 | 13.1 / 3,034 ms | 0 |
//! | `… redis-restart --down-seconds 10` | 10,008 | 38.9 s | 778 | 1 (10 s) | **0** | 0 | 13.5 / 3,410 ms | 694 |
//! | `… redis-restart --faults 5` | 10,238 | 44.1 s | 875 | 5 | **0** | 0 | 14.5 / 3,456 ms | 10 |
//! | `--instances 3 --fault instance-kill` | 13,045 | 40.9 s | 1,089 | 1 | **0** | 0 | 13.0 / 22.7 ms | 0 |
//! | `… instance-kill --faults 10 --requests 20000` | 26,116 | 82.3 s | 2,201 | 10 | **0** | 0 | 12.3 / 24.5 ms | 0 |
//! | `… instance-kill --faults 20 --requests 40000` | 45,920 | 142.0 s | 3,773 | 20 | **1** | 0 | 13.2 / 69.7 ms (max 15.0 s) | 420 |
//! | `--instances 3 --no-redis --profile dev` (must fail) | 1,043 | 6.3 s | 187 | – | **48 of 50** | 0 | 39 / 148 ms | – |
//!
//! - Every run: 0 unanswered requests, 0 pages of another user; every browser but the one
//!   below signed in as its first user at the end.
//! - `/token` calls ≈ one rotation per browser per 1.4–2 s, not one per request: 10,000 requests
//!   cost about 800 rotations, whatever the number of instances.
//! - With Redis, p50 is ~13 ms instead of ~4 ms: the instances that do not hold a refresh's lock
//!   poll for its outcome every 10 ms (`RedisCoordinator`).
//! - During a Redis outage the requests that need a refresh take 3–3.5 s (p99), see above.
//! - The one lost session (instance-kill, 20 kills): instance 0 was killed at 39.8 s holding
//!   the Redis lock of browser 7's refresh; at 54.9 s — the lock's 15 s later — the next
//!   refresh of that token was refused and its cookie cleared (that burst took 15.0 s). The
//!   known limit above; an earlier run (3 kills, debug-built browsers) hit it once too.
//! - `--no-redis` (3 instances coordinating only within themselves) is the soak's own check:
//!   parallel requests on two instances race for one refresh token, and it fails.
//! - The short soak of `cargo xtask test` (`--profile dev --requests 1000 --instances 3 --fault
//!   auth-restart`): 3,301 GETs in 13.0 s (it runs on for 5 s after the restart), 820
//!   signed-out pages, 0 lost, 0 5xx, p50/p99 21.6/128.8 ms; 51 s with the dev build of both
//!   binaries.

mod browser;
mod processes;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use browser::{Balancer, Browser, FaultWindows, Tally, World};
use processes::{AuthServer, RedisServer, Site, SiteConfig};

use crate::{Result, signals};

const HELP: &str = "\
cargo xtask soak — simulated browsers against the SSR example, with faults injected

USAGE:
    cargo xtask soak [OPTIONS]

Starts, on 127.0.0.1 only, the standalone nhost-auth-emulator (SQLite file, short access
tokens), N instances of example-axum-ssr with one cookie key, and (for several instances or
--fault redis-restart) a throwaway redis-server; builds them first. Then B browsers, each with
its own cookie jar, sign in anonymously and fire bursts of 1-20 parallel GETs at random
intervals through a round-robin balancer that retries a failed GET on another instance.
Progress every 2 s; stops by itself at --requests (after the fault is over) or --seconds.

Reports requests, /token calls at the auth server, 5xx, p50/p99 latency and sessions lost
(a cleared cookie, another user's page, a signed-out page with no fault on, or a browser not
signed in as its first user after the run). Exits non-zero on any lost session, 5xx, other
unexpected status or unanswered request. Files and logs: target/soak/<pid>/ (kept on failure).

OPTIONS:
    --requests N        GETs to make (at least) [default: 10000]
    --seconds S         Upper bound on the run's length [default: 300]
    --browsers B        Simulated browsers [default: 50]
    --instances I       Instances of the site [default: 1]
    --fault F           none | auth-restart | redis-restart | instance-kill [default: none]
    --faults K          Inject the fault K times, evenly spread over the run [default: 1]
    --down-seconds D    How long what was killed stays down [default: 3]
    --token-seconds T   Access-token lifetime (AUTH_ACCESS_TOKEN_EXPIRES_IN) [default: 2]
    --profile P         Cargo profile of the binaries (and of the browsers, which are this
                        process: a debug xtask re-runs itself in release) [default: release]
    --seed N            Seed of the browsers' random bursts and pauses [default: from the clock]
    --no-build          Use the binaries already built for --profile
    --no-redis          No Redis even for several instances: each instance coordinates only its
                        own refreshes, so two instances race for one token and sessions are
                        lost — to see the soak catch it (it must fail)
    -h, --help          Print this help

EXAMPLES:
    cargo xtask soak
    cargo xtask soak --instances 3 --fault auth-restart
    cargo xtask soak --profile dev --requests 1000 --instances 3 --fault auth-restart
";

/// Set in the environment of the release re-run, so it never loops.
const REEXEC_VAR: &str = "XTASK_SOAK_RELEASE";

/// The fault injected mid-run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    AuthRestart,
    RedisRestart,
    InstanceKill,
}

impl std::str::FromStr for Fault {
    type Err = ();

    fn from_str(s: &str) -> std::result::Result<Fault, ()> {
        Ok(match s {
            "none" => Fault::None,
            "auth-restart" => Fault::AuthRestart,
            "redis-restart" => Fault::RedisRestart,
            "instance-kill" => Fault::InstanceKill,
            _ => return Err(()),
        })
    }
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::AuthRestart => "auth-restart",
            Fault::RedisRestart => "redis-restart",
            Fault::InstanceKill => "instance-kill",
        }
    }
}

struct Options {
    requests: u64,
    seconds: u64,
    browsers: usize,
    instances: usize,
    fault: Fault,
    /// How many times the fault is injected, evenly spread over the run.
    faults: u64,
    down: Duration,
    token_seconds: u64,
    profile: String,
    seed: u64,
    build: bool,
    /// Several instances without Redis: each coordinates its own refreshes only, so parallel
    /// requests on two instances race for one refresh token — the soak must catch that.
    no_redis: bool,
}

impl Options {
    fn uses_redis(&self) -> bool {
        !self.no_redis && (self.instances > 1 || self.fault == Fault::RedisRestart)
    }

    /// How long after a fault a signed-out page is still put down to it: after an instance died
    /// holding a refresh lock, its siblings wait for the lock's 15 s (then render signed out,
    /// cookie kept); otherwise a few seconds for Redis connections to come back.
    fn grace(&self) -> Duration {
        match self.fault {
            Fault::InstanceKill => Duration::from_secs(20),
            _ => Duration::from_secs(5),
        }
    }
}

pub(crate) fn run(mut args: Vec<String>) -> Result<ExitCode> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let original = args.clone();
    let fault = match crate::take_value::<String>(&mut args, "--fault")? {
        None => Fault::None,
        Some(name) => name.parse().map_err(|()| {
            format!("unknown fault `{name}`: none, auth-restart, redis-restart or instance-kill")
        })?,
    };
    let options = Options {
        requests: crate::take_value(&mut args, "--requests")?.unwrap_or(10_000),
        seconds: crate::take_value(&mut args, "--seconds")?.unwrap_or(300),
        browsers: crate::take_value(&mut args, "--browsers")?.unwrap_or(50),
        instances: crate::take_value(&mut args, "--instances")?.unwrap_or(1),
        fault,
        faults: crate::take_value(&mut args, "--faults")?.unwrap_or(1),
        down: Duration::from_secs(crate::take_value(&mut args, "--down-seconds")?.unwrap_or(3)),
        token_seconds: crate::take_value(&mut args, "--token-seconds")?.unwrap_or(2),
        profile: crate::take_value(&mut args, "--profile")?.unwrap_or_else(|| "release".into()),
        seed: match crate::take_value(&mut args, "--seed")? {
            Some(seed) => seed,
            None => clock_seed(),
        },
        build: !crate::take_flag(&mut args, "--no-build"),
        no_redis: crate::take_flag(&mut args, "--no-redis"),
    };
    if let Some(extra) = args.first() {
        return Err(
            format!("unexpected argument `{extra}` (see `cargo xtask soak --help`)").into(),
        );
    }
    if options.requests == 0 || options.seconds == 0 || options.browsers == 0 {
        return Err("--requests, --seconds and --browsers must be at least 1".into());
    }
    if !(1..=16).contains(&options.instances) {
        return Err("--instances must be between 1 and 16".into());
    }
    if !(1..=3600).contains(&options.token_seconds) {
        return Err("--token-seconds must be between 1 and 3600".into());
    }
    if !(1..=100).contains(&options.faults) {
        return Err("--faults must be between 1 and 100".into());
    }
    if options.no_redis && options.fault == Fault::RedisRestart {
        return Err("--no-redis and --fault redis-restart contradict each other".into());
    }
    if options.fault == Fault::InstanceKill && options.instances < 2 {
        return Err(
            "--fault instance-kill needs --instances 2 or more (the others carry on)".into(),
        );
    }
    if options.profile.is_empty() || options.profile.contains(['/', '\\']) {
        return Err(format!("--profile `{}`: not a profile name", options.profile).into());
    }

    if options.profile == "release"
        && cfg!(debug_assertions)
        && std::env::var_os(REEXEC_VAR).is_none()
    {
        return rerun_in_release(&original);
    }
    if options.build {
        build(&options.profile)?;
    }
    let bin_dir = crate::target_dir().join(match options.profile.as_str() {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    });
    let binaries = Binaries {
        emulator: bin_dir.join("nhost-auth-emulator"),
        site: bin_dir.join("example-axum-ssr"),
    };
    for bin in [&binaries.emulator, &binaries.site] {
        if !bin.is_file() {
            return Err(format!(
                "{} is missing: build it with `cargo build --profile {} -p nhost-auth-emulator -p example-axum-ssr`",
                bin.display(),
                options.profile
            )
            .into());
        }
    }

    signals::install();
    let dir = crate::target_dir()
        .join("soak")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Every process is killed when `soak` returns (its guards drop), whatever happened.
    let outcome = runtime.block_on(soak(&options, &binaries, &dir));
    drop(runtime);
    match outcome {
        Ok(report) if report.passed() => {
            let _ = std::fs::remove_dir_all(&dir);
            println!("soak: PASSED");
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) => {
            println!("soak: FAILED (files and logs kept in {})", dir.display());
            Ok(ExitCode::FAILURE)
        }
        Err(_) if signals::received().is_some() => {
            eprintln!("xtask: soak interrupted; every process it started is stopped");
            let _ = std::fs::remove_dir_all(&dir);
            Ok(ExitCode::from(signals::received().unwrap_or(130)))
        }
        Err(e) => Err(format!("{e} (files and logs kept in {})", dir.display()).into()),
    }
}

fn rerun_in_release(args: &[String]) -> Result<ExitCode> {
    eprintln!(
        "xtask: this is a debug build; re-running as `cargo run --release -p xtask -- soak …`"
    );
    let status = Command::new(crate::cargo())
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "xtask",
            "--",
            "soak",
        ])
        .args(args)
        .env(REEXEC_VAR, "1")
        .current_dir(crate::project_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

fn build(profile: &str) -> Result<()> {
    let mut cmd = Command::new(crate::cargo());
    cmd.args(["build", "--profile", profile])
        .args(["-p", "nhost-auth-emulator", "-p", "example-axum-ssr"])
        .current_dir(crate::project_root());
    eprintln!("xtask: cargo build --profile {profile} -p nhost-auth-emulator -p example-axum-ssr");
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the soak's binaries failed ({status})").into())
    }
}

struct Binaries {
    emulator: PathBuf,
    site: PathBuf,
}

/// A small, seedable random number generator (SplitMix64): bursts and pauses need no more.
pub(crate) struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// 32 random bytes from the kernel, hex: the cookie key every instance shares.
fn random_key_hex() -> Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a cookie key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The injected faults' progress.
#[derive(Clone, Copy)]
enum Phase {
    /// No fault injected yet (or none to inject).
    Before,
    /// The service (for `instance-kill`, the instance with this index) is down since then.
    Down(Instant, usize),
    /// Back since then.
    After(Instant),
}

/// The soak's outcome.
struct Report {
    lost: usize,
    bad_statuses: u64,
    transport_errors: u64,
}

impl Report {
    fn passed(&self) -> bool {
        self.lost == 0 && self.bad_statuses == 0 && self.transport_errors == 0
    }
}

/// `/token` requests at the auth server across its restarts (each process counts from zero).
struct TokenCount {
    /// The totals of the processes killed so far.
    earlier: u64,
    /// The running process's count, as last read.
    current: u64,
}

impl TokenCount {
    fn total(&self) -> u64 {
        self.earlier + self.current
    }
}

async fn soak(options: &Options, binaries: &Binaries, dir: &Path) -> Result<Report> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let admin = client.clone();

    let redis = match options.uses_redis() {
        true => Some(RedisServer::start(dir).await?),
        false => None,
    };
    let auth = AuthServer::start(&binaries.emulator, dir, options.token_seconds, &admin).await?;
    let site_config = SiteConfig {
        bin: binaries.site.clone(),
        dir: dir.to_owned(),
        auth_url: auth.url(),
        redis_url: redis.as_ref().map(RedisServer::url),
        cookie_key: random_key_hex()?,
    };
    let mut sites = Vec::with_capacity(options.instances);
    for index in 0..options.instances {
        sites.push(Site::start(&site_config, index, &admin).await?);
    }
    let mut rig = Rig {
        auth,
        redis,
        sites,
        site_config,
        tokens: TokenCount {
            earlier: 0,
            current: 0,
        },
        client: admin,
    };
    println!(
        "soak: {} instance(s){}, auth server {}, {} browsers, {} s access tokens, fault {} x{}, seed {}",
        options.instances,
        if rig.redis.is_some() {
            " sharing redis-server"
        } else {
            ""
        },
        rig.site_config.auth_url,
        options.browsers,
        options.token_seconds,
        options.fault.name(),
        options.faults,
        options.seed
    );

    let world = Arc::new(World {
        client,
        balancer: Balancer::new(rig.sites.iter().map(|s| s.port).collect()),
        tally: Tally::default(),
        faults: FaultWindows::default(),
        grace: options.grace(),
        stop: Default::default(),
        max_pause: Duration::from_secs(options.token_seconds + 1),
        started: Instant::now(),
    });

    // Every browser signs in before the bursts start.
    let mut sign_ins = tokio::task::JoinSet::new();
    for index in 0..options.browsers {
        let world = world.clone();
        sign_ins.spawn(async move { Browser::sign_in(&world, index).await });
    }
    let mut browsers = Vec::with_capacity(options.browsers);
    while let Some(joined) = sign_ins.join_next().await {
        browsers.push(Arc::new(
            joined.map_err(|e| format!("a browser task failed: {e}"))??,
        ));
    }
    browsers.sort_by_key(|b| b.index);
    println!("soak: {} browsers signed in", browsers.len());

    let mut tasks = tokio::task::JoinSet::new();
    let mut seeds = Rng::new(options.seed);
    for browser in &browsers {
        let (world, browser) = (world.clone(), browser.clone());
        let rng = Rng::new(seeds.next_u64());
        tasks.spawn(async move { browser.browse(&world, rng).await });
    }

    let tally = &world.tally;
    let started = Instant::now();
    let faults = if options.fault == Fault::None {
        0
    } else {
        options.faults
    };
    // Fault k (1-based) once k/(faults+1) of the requests are made, or of the time has passed.
    let due = |k: u64| {
        (
            options.requests * k / (faults + 1),
            Duration::from_secs(options.seconds) * u32::try_from(k).unwrap_or(u32::MAX)
                / u32::try_from(faults + 1).unwrap_or(u32::MAX),
        )
    };
    let mut injected = 0u64;
    let mut phase = Phase::Before;
    let mut timeline: Vec<String> = Vec::new();
    let mut last_progress = Instant::now();
    let mut last_stats = Instant::now();
    let mut interrupted = false;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let elapsed = started.elapsed();
        let done = tally.requests.load(Ordering::Relaxed);
        if signals::received().is_some() {
            interrupted = true;
            break;
        }
        let (due_requests, due_time) = due(injected + 1);
        match phase {
            Phase::Before | Phase::After(_)
                if injected < faults && (done >= due_requests || elapsed >= due_time) =>
            {
                let now = Instant::now();
                world.faults.open(now);
                let victim = usize::try_from(injected).unwrap_or(0) % options.instances;
                let what = rig.inject(options.fault, victim).await;
                injected += 1;
                let line = format!(
                    "{:>6.1} s  fault {injected}/{faults}: {what} after {done} requests",
                    secs(elapsed)
                );
                println!("soak: {line}");
                timeline.push(line);
                phase = Phase::Down(now, victim);
            }
            Phase::Down(since, victim) if since.elapsed() >= options.down => {
                let what = rig.recover(options.fault, victim).await?;
                world.faults.close(Instant::now());
                let line = format!(
                    "{:>6.1} s  {what} after {:.1} s down",
                    secs(started.elapsed()),
                    secs(since.elapsed())
                );
                println!("soak: {line}");
                timeline.push(line);
                phase = Phase::After(Instant::now());
            }
            _ => {}
        }
        if last_stats.elapsed() >= Duration::from_secs(1) && !matches!(phase, Phase::Down(..)) {
            rig.read_tokens().await;
            last_stats = Instant::now();
        }
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            println!(
                "soak: {:>6.1} s  {done} requests ({:.0}/s)  /token {}  5xx {}  signed out during faults {}  lost {}{}",
                secs(elapsed),
                done as f64 / secs(elapsed).max(0.001),
                rig.tokens.total(),
                tally.status_5xx.load(Ordering::Relaxed),
                tally.signed_out_during_fault.load(Ordering::Relaxed),
                browsers
                    .iter()
                    .filter(|b| b.lost.load(Ordering::Relaxed))
                    .count(),
                match phase {
                    Phase::Down(..) => "  [fault on]",
                    _ => "",
                }
            );
        }
        let settled = injected == faults
            && match phase {
                Phase::Before => true,
                Phase::Down(..) => false,
                Phase::After(since) => since.elapsed() >= options.grace(),
            };
        if (done >= options.requests && settled) || elapsed >= Duration::from_secs(options.seconds)
        {
            break;
        }
    }
    world.stop.store(true, Ordering::Relaxed);
    if let (Phase::Down(_, victim), false) = (phase, interrupted) {
        // Out of time while down: bring it back for the final check.
        rig.recover(options.fault, victim).await?;
        world.faults.close(Instant::now());
    }
    while tasks.join_next().await.is_some() {}
    let duration = started.elapsed();
    if interrupted {
        return Err("interrupted".into());
    }

    // After the run: every browser must still be signed in as the user it started with.
    let mut finals = tokio::task::JoinSet::new();
    for browser in &browsers {
        let (world, browser) = (world.clone(), browser.clone());
        finals.spawn(async move { browser.still_signed_in(&world).await });
    }
    let mut final_failures = Vec::new();
    while let Some(joined) = finals.join_next().await {
        if let Err(e) = joined.map_err(|e| e.to_string()).and_then(|r| r) {
            final_failures.push(e);
        }
    }
    rig.read_tokens().await;
    let tokens = &rig.tokens;

    let lost_during = browsers
        .iter()
        .filter(|b| b.lost.load(Ordering::Relaxed))
        .count();
    let lost = lost_during.max(final_failures.len());
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let latencies = tally.sorted_latencies();
    let requests = load(&tally.requests);
    println!("soak: ---- report ----");
    for line in &timeline {
        println!("soak: {line}");
    }
    println!(
        "soak: requests        {requests} GETs in {:.1} s ({:.0}/s) + {} anonymous sign-ins; {} sent again to another instance",
        secs(duration),
        requests as f64 / secs(duration).max(0.001),
        load(&tally.sign_ins),
        load(&tally.retried)
    );
    println!(
        "soak: statuses        2xx {}, 404 (assets) {}, 5xx {}, other {}, unanswered {}",
        load(&tally.status_2xx),
        load(&tally.status_404),
        load(&tally.status_5xx),
        load(&tally.status_other),
        load(&tally.transport_errors)
    );
    println!(
        "soak: /token calls    {} at the auth server{}",
        tokens.total(),
        if options.fault == Fault::AuthRestart {
            " (read just before the kill; any sent between that read and the kill are not counted)"
        } else {
            ""
        }
    );
    println!(
        "soak: latency         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        latencies.last().map_or(0.0, |&m| f64::from(m) / 1000.0)
    );
    println!(
        "soak: during faults   {} pages rendered signed out with the cookie kept",
        load(&tally.signed_out_during_fault)
    );
    println!(
        "soak: sessions lost   {lost} of {} (cookies cleared {}, pages of another user {}, signed-out pages with no fault on {}, not signed in after the run {})",
        browsers.len(),
        load(&tally.cookies_cleared),
        load(&tally.wrong_user),
        load(&tally.signed_out_unexpectedly),
        final_failures.len()
    );
    for failure in tally
        .failures()
        .iter()
        .chain(final_failures.iter().take(20))
    {
        println!("soak:   {failure}");
    }
    Ok(Report {
        lost,
        bad_statuses: load(&tally.status_5xx) + load(&tally.status_other),
        transport_errors: load(&tally.transport_errors),
    })
}

/// The processes under test.
struct Rig {
    auth: AuthServer,
    redis: Option<RedisServer>,
    sites: Vec<Site>,
    site_config: SiteConfig,
    tokens: TokenCount,
    /// For the auth server's counters and readiness checks (not a browser).
    client: reqwest::Client,
}

impl Rig {
    /// Kills (`SIGKILL`) what `fault` names; says what it did.
    async fn inject(&mut self, fault: Fault, victim: usize) -> String {
        match fault {
            Fault::AuthRestart => {
                // Its count dies with it: read it just before.
                self.read_tokens().await;
                self.tokens.earlier += std::mem::take(&mut self.tokens.current);
                self.auth.kill();
                "auth server killed (SIGKILL)".into()
            }
            Fault::RedisRestart => {
                if let Some(redis) = self.redis.as_mut() {
                    redis.kill();
                }
                "redis-server killed (SIGKILL)".into()
            }
            Fault::InstanceKill => {
                self.sites[victim].kill();
                format!("site instance {victim} killed (SIGKILL)")
            }
            Fault::None => String::new(),
        }
    }

    /// Starts what `fault` killed again, on the same port with the same data (Redis: empty);
    /// says what it did.
    async fn recover(&mut self, fault: Fault, victim: usize) -> Result<String> {
        Ok(match fault {
            Fault::AuthRestart => {
                self.auth.restart(&self.client).await?;
                "auth server back (same port, same SQLite file)".into()
            }
            Fault::RedisRestart => {
                if let Some(redis) = self.redis.as_mut() {
                    redis.restart().await?;
                }
                "redis-server back (empty)".into()
            }
            Fault::InstanceKill => {
                self.sites[victim]
                    .restart(&self.site_config, &self.client)
                    .await?;
                format!("site instance {victim} back (same port)")
            }
            Fault::None => String::new(),
        })
    }

    async fn read_tokens(&mut self) {
        if let Ok(n) = self.auth.token_requests(&self.client).await {
            self.tokens.current = n;
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.50), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn the_generator_stays_in_range() {
        let mut rng = Rng::new(7);
        assert!((0..1000).all(|_| rng.below(20) < 20));
        assert_eq!(rng.below(0), 0);
    }
}
