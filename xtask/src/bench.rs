//! `cargo xtask bench emulator`: a load generator for nhost-auth-emulator.
//!
//! Not a test: it measures throughput and latency of the two requests every client makes most,
//! anonymous sign-in and refresh-token rotation, against an in-process emulator on loopback
//! with a SQLite file store.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nhost_auth_emulator::{Config, Database, Emulator};

use crate::Result;

const HELP: &str = "\
cargo xtask bench emulator — load-test nhost-auth-emulator

USAGE:
    cargo xtask bench emulator [--seconds N] [--concurrency C]

Starts the emulator in-process on 127.0.0.1 with a SQLite file store in a temporary directory,
then for each scenario runs C workers (one HTTP/1.1 connection each) for a 1 s warm-up and N
measured seconds:

    POST /signin/anonymous   a new anonymous user and session per request
    POST /token              refresh-token rotation; each worker follows its own chain of tokens,
                             sending the refreshToken of each response in the next request

and prints requests/s, p50/p99 latency and errors. Client and server share the machine's
cores, so the numbers are lower bounds for the server alone.

Measuring a debug build is pointless, so a debug xtask re-runs itself as
`cargo run --release -p xtask -- bench emulator …` (you can also run that yourself).

OPTIONS:
    --seconds N       Measured seconds per scenario [default: 10]
    --concurrency C   Concurrent connections [default: 64]
    -h, --help        Print this help
";

/// Set in the environment of the release re-run, so it never loops.
const REEXEC_VAR: &str = "XTASK_BENCH_RELEASE";

pub(crate) fn run(mut args: Vec<String>) -> Result<ExitCode> {
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let target = args.remove(0);
    if target == "wasm-size" {
        return crate::wasm_size::run();
    }
    if target != "emulator" {
        return Err(format!("unknown benchmark `{target}`; they are `emulator` and `wasm-size` (see `cargo xtask bench --help`)").into());
    }
    let seconds: u64 = crate::take_value(&mut args, "--seconds")?.unwrap_or(10);
    let concurrency: usize = crate::take_value(&mut args, "--concurrency")?.unwrap_or(64);
    if let Some(extra) = args.first() {
        return Err(
            format!("unexpected argument `{extra}` (see `cargo xtask bench --help`)").into(),
        );
    }
    if seconds == 0 || concurrency == 0 {
        return Err("--seconds and --concurrency must be at least 1".into());
    }

    if cfg!(debug_assertions) && std::env::var_os(REEXEC_VAR).is_none() {
        return rerun_in_release(seconds, concurrency);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(emulator(Duration::from_secs(seconds), concurrency))?;
    Ok(ExitCode::SUCCESS)
}

fn rerun_in_release(seconds: u64, concurrency: usize) -> Result<ExitCode> {
    eprintln!(
        "xtask: this is a debug build; re-running as `cargo run --release -p xtask -- bench emulator`"
    );
    let status = Command::new(crate::cargo())
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "xtask",
            "--",
            "bench",
            "emulator",
        ])
        .args([
            "--seconds",
            &seconds.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    AnonymousSignIn,
    Refresh,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::AnonymousSignIn => "POST /signin/anonymous",
            Scenario::Refresh => "POST /token (refresh)",
        }
    }
}

/// What one worker saw during the measured window.
struct WorkerReport {
    /// Latency of each successful request.
    latencies: Vec<Duration>,
    errors: u64,
    /// When its last measured request ended.
    last_end: Option<Instant>,
    /// The first error's description, to show.
    first_error: Option<String>,
}

struct Row {
    label: &'static str,
    ok: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: u64,
    first_error: Option<String>,
}

async fn emulator(seconds: Duration, concurrency: usize) -> Result<()> {
    let dir = TempDir::new("xtask-bench-emulator")?;
    let db_path = dir.0.join("emulator.sqlite");
    let mut config = Config::default();
    config.database = Database::SqliteFile(db_path.clone());
    let emu = Emulator::start(config)
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let url = emu.url().to_owned();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("nhost-auth-emulator load test");
    println!(
        "  server: in-process at {url}, SQLite file store ({}), {}",
        db_path.display(),
        if cfg!(debug_assertions) {
            "DEBUG build: the numbers mean little"
        } else {
            "release build"
        }
    );
    println!(
        "  load:   {concurrency} concurrent connections on loopback, 1 s warm-up then {} s per scenario",
        seconds.as_secs()
    );
    println!(
        "  note:   client and server share this machine's {cores} core{} (one process, one tokio runtime): \
         the client's work is counted against the server, so these are lower bounds",
        if cores == 1 { "" } else { "s" }
    );
    println!();

    let mut rows = Vec::new();
    let mut users_before_refresh = 0;
    for scenario in [Scenario::AnonymousSignIn, Scenario::Refresh] {
        eprintln!("xtask: measuring {} …", scenario.label());
        if scenario == Scenario::Refresh {
            // Each anonymous sign-in made a user; the refresh workers' set-up adds one each.
            users_before_refresh = emu.stats().anonymous_sign_ins + concurrency as u64;
        }
        rows.push(measure(scenario, &url, concurrency, seconds).await?);
    }
    let stats = emu.stats();
    emu.shutdown().await;

    println!(
        "{:<24} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "scenario", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for r in &rows {
        let rate = r.ok as f64 / r.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<24} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            r.label,
            r.ok,
            rate,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            r.errors
        );
    }
    for r in &rows {
        if let Some(e) = &r.first_error {
            println!("first error in {}: {e}", r.label);
        }
    }
    println!();
    println!(
        "requests = successful requests in the measured window; req/s = requests / window; latency \
         over successful requests (nearest-rank percentiles). The server counted {} anonymous sign-ins \
         and {} token requests in all (warm-up and set-up included).",
        stats.anonymous_sign_ins, stats.token_requests
    );
    println!(
        "The refresh scenario ran against a database of {users_before_refresh} users (made by the sign-in \
         scenario): its numbers depend on that size, hence on --seconds."
    );
    Ok(())
}

async fn measure(
    scenario: Scenario,
    url: &str,
    concurrency: usize,
    seconds: Duration,
) -> Result<Row> {
    // One keep-alive connection per worker, opened (and, for the refresh scenario, given its
    // session) before the clock starts.
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(url).await?);
    }
    let mut chains = Vec::with_capacity(concurrency);
    for conn in &mut conns {
        chains.push(match scenario {
            Scenario::Refresh => Some(
                sign_in(conn)
                    .await
                    .map_err(|e| format!("cannot get a session to refresh: {e}"))?,
            ),
            Scenario::AnonymousSignIn => None,
        });
    }

    let warm_end = Instant::now() + Duration::from_secs(1);
    let end = warm_end + seconds;
    let workers: Vec<_> = conns
        .into_iter()
        .zip(chains)
        .map(|(conn, token)| tokio::spawn(worker(scenario, conn, token, warm_end, end)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut last_end = warm_end;
    let mut first_error = None;
    for w in workers {
        let report = w.await?;
        latencies.extend(report.latencies);
        errors += report.errors;
        last_end = last_end.max(report.last_end.unwrap_or(warm_end));
        first_error = first_error.or(report.first_error);
    }
    latencies.sort_unstable();
    Ok(Row {
        label: scenario.label(),
        ok: latencies.len(),
        elapsed: last_end.saturating_duration_since(warm_end),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or_default(),
        errors,
        first_error,
    })
}

/// Sends requests back to back until `end`; records those started after `warm_end`.
async fn worker(
    scenario: Scenario,
    mut conn: Conn,
    mut token: Option<String>,
    warm_end: Instant,
    end: Instant,
) -> WorkerReport {
    let mut report = WorkerReport {
        latencies: Vec::new(),
        errors: 0,
        last_end: None,
        first_error: None,
    };
    loop {
        let start = Instant::now();
        if start >= end {
            break;
        }
        let result = match (scenario, &token) {
            (Scenario::AnonymousSignIn, _) => sign_in(&mut conn).await.map(drop),
            (Scenario::Refresh, Some(t)) => {
                let t = t.clone();
                refresh(&mut conn, &t).await.map(|next| token = Some(next))
            }
            (Scenario::Refresh, None) => Err("no session (an earlier sign-in failed)".to_owned()),
        };
        let done = Instant::now();
        if start >= warm_end {
            match &result {
                Ok(()) => report.latencies.push(done - start),
                Err(e) => {
                    report.errors += 1;
                    report.first_error.get_or_insert_with(|| e.clone());
                }
            }
            report.last_end = Some(done);
        }
        if result.is_err() {
            // The connection may be in an unknown state: open a new one.
            match Conn::open(&conn.base).await {
                Ok(c) => conn = c,
                Err(e) => {
                    report.first_error.get_or_insert_with(|| e.to_string());
                    break;
                }
            }
            if scenario == Scenario::Refresh {
                // The chain is broken (the token was used up or refused): start a new one, unmeasured.
                token = sign_in(&mut conn).await.ok();
            }
        }
    }
    report
}

/// `POST /signin/anonymous`; returns the session's refresh token.
async fn sign_in(conn: &mut Conn) -> Result<String, String> {
    let body = conn.post("/signin/anonymous", b"{}").await?;
    refresh_token(&body)
}

/// `POST /token`; returns the rotated refresh token.
async fn refresh(conn: &mut Conn, token: &str) -> Result<String, String> {
    let body = format!(r#"{{"refreshToken":"{token}"}}"#);
    let body = conn.post("/token", body.as_bytes()).await?;
    refresh_token(&body)
}

/// A minimal HTTP/1.1 keep-alive client, in the spirit of `wrk`: the load generator shares the
/// machine's two cores with the server, so it should spend as little of them as it can. It
/// writes one prepared request and reads one `Content-Length` response at a time.
struct Conn {
    base: String,
    host: String,
    prefix: String,
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl Conn {
    async fn open(base: &str) -> Result<Conn> {
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| format!("the load generator speaks plain http only: {base}"))?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let stream = tokio::net::TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            base: base.to_owned(),
            host: host.to_owned(),
            prefix: prefix.to_owned(),
            stream: tokio::io::BufReader::new(stream),
        })
    }

    /// Sends a JSON POST and returns the body of a 200 response.
    async fn post(&mut self, path: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        let head = format!(
            "POST {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.prefix,
            self.host,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        let io = |e: std::io::Error| format!("connection: {e}");
        self.stream
            .get_mut()
            .write_all(&request)
            .await
            .map_err(io)?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await.map_err(io)?;
        let status = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut length = None;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await.map_err(io)? == 0 {
                return Err("connection closed mid-response".into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or("response without Content-Length")?;
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        if status != "200" {
            let text = String::from_utf8_lossy(&body);
            return Err(format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            ));
        }
        Ok(body)
    }
}

/// The `refreshToken` of a session JSON (at the top level or under `session`).
fn refresh_token(body: &[u8]) -> Result<String, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("bad JSON in the response: {e}"))?;
    let session = if json.get("session").is_some() {
        &json["session"]
    } else {
        &json
    };
    session["refreshToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no refreshToken in the response".to_owned())
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A directory under the system temp dir, deleted when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
