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
    cargo xtask bench wasm-size [--check]

`wasm-size` measures what nhost adds to the Yew examples' bundles (gzip, before and after
wasm-opt) against bare apps with the same UI, with a per-crate breakdown (twiggy) and the same
UI on the Nhost JavaScript SDKs; `--check` measures only the bundles and fails when nhost adds
more than its budget (what CI runs).

Starts the emulator in-process on 127.0.0.1 with a SQLite file store in a temporary directory,
then for each scenario runs C workers (one HTTP/1.1 connection each) for a 1 s warm-up and N
measured seconds:

    POST /signin/anonymous   a new anonymous user and session per request
    POST /token              refresh-token rotation; each worker follows its own chain of tokens,
                             sending the refreshToken of each response in the next request

and prints requests/s, p50/p99 latency and errors, and (on Linux) the process's CPU time per
request and the SQLite writer thread's. Client and server share the machine's cores, so the
numbers are lower bounds for the server alone. For an external load generator against the
release binary, see crates/nhost-auth-emulator/benches/wrk.sh.

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
        return crate::wasm_size::run(args);
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
    /// CPU time of the whole process per successful request (Linux only).
    cpu_per_request: Option<Duration>,
    /// CPU time of the busiest SQLite connection thread (the writer) per successful request.
    writer_per_request: Option<Duration>,
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
        "{:<24} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7} {:>10} {:>10}",
        "scenario",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "cpu µs/req",
        "db µs/req"
    );
    let micros =
        |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.0}", d.as_secs_f64() * 1e6));
    for r in &rows {
        let rate = r.ok as f64 / r.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<24} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>10} {:>10}",
            r.label,
            r.ok,
            rate,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            r.errors,
            micros(r.cpu_per_request),
            micros(r.writer_per_request)
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
        "cpu µs/req = CPU time of the whole process (client and server, all threads) per request \
         in the measured window; db µs/req = that of the busiest SQLite connection thread (the one \
         writer). On a machine shared with other work these hold better than req/s: 2 cores give at \
         most 2,000,000 / (cpu µs/req) requests/s, and the one writer at most 1,000,000 / (db µs/req)."
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
                conn.sign_in()
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
    tokio::time::sleep_until(warm_end.into()).await;
    let cpu_before = CpuTimes::now();
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
    let cpu = cpu_before.zip(CpuTimes::now()).map(|(b, a)| a.since(&b));
    let requests = u32::try_from(latencies.len().max(1)).unwrap_or(u32::MAX);
    let per_request = |d: Duration| d / requests;
    latencies.sort_unstable();
    Ok(Row {
        cpu_per_request: cpu.as_ref().map(|c| per_request(c.total)),
        writer_per_request: cpu.as_ref().map(|c| per_request(c.busiest_sqlite)),
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
    mut token: Option<Token>,
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
        let result = match (scenario, &mut token) {
            (Scenario::AnonymousSignIn, _) => conn.sign_in().await.map(drop),
            (Scenario::Refresh, Some(t)) => conn.refresh(t).await,
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
                token = conn.sign_in().await.ok();
            }
        }
    }
    report
}

/// A refresh token as it travels: the 36 bytes of a hyphenated UUID.
type Token = [u8; 36];

const TOKEN_KEY: &[u8] = br#""refreshToken":""#;

/// A minimal HTTP/1.1 keep-alive client, in the spirit of `wrk`: the load generator shares the
/// machine's two cores with the server, so it should spend as little of them as it can. It
/// writes one request and reads one `Content-Length` response at a time, into buffers it keeps,
/// and finds the `refreshToken` of a response by its key rather than parsing the JSON: no
/// allocation per request.
struct Conn {
    base: String,
    host: String,
    prefix: String,
    stream: tokio::net::TcpStream,
    /// The request being sent.
    request: Vec<u8>,
    /// Bytes received; `received[..filled]` are valid.
    received: Vec<u8>,
    filled: usize,
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
            stream,
            request: Vec::with_capacity(256),
            received: vec![0; 4096],
            filled: 0,
        })
    }

    /// `POST /signin/anonymous`; returns the session's refresh token.
    async fn sign_in(&mut self) -> Result<Token, String> {
        let body = self.post("/signin/anonymous", b"{}").await?;
        refresh_token(&self.received[body])
    }

    /// `POST /token`; replaces `token` by the rotated one.
    async fn refresh(&mut self, token: &mut Token) -> Result<(), String> {
        const HEAD: &[u8] = br#"{"refreshToken":""#;
        let mut body = [0; HEAD.len() + 36 + 2];
        body[..HEAD.len()].copy_from_slice(HEAD);
        body[HEAD.len()..HEAD.len() + 36].copy_from_slice(token);
        body[HEAD.len() + 36..].copy_from_slice(br#""}"#);
        let answer = self.post("/token", &body).await?;
        *token = refresh_token(&self.received[answer])?;
        Ok(())
    }

    /// Sends a JSON POST and returns where the body of a 200 response is in `received`.
    async fn post(&mut self, path: &str, body: &[u8]) -> Result<std::ops::Range<usize>, String> {
        use std::io::Write as _;
        use tokio::io::AsyncWriteExt as _;
        self.request.clear();
        let _ = write!(
            self.request,
            "POST {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.prefix,
            self.host,
            body.len()
        );
        self.request.extend_from_slice(body);
        let io = |e: std::io::Error| format!("connection: {e}");
        self.stream.write_all(&self.request).await.map_err(io)?;
        // One request at a time: whatever was received before belonged to the previous answer.
        self.filled = 0;
        let (head, length) = loop {
            if let Some(head) = find(&self.received[..self.filled], b"\r\n\r\n") {
                let head = head + 4;
                let length = content_length(&self.received[..head])
                    .ok_or("response without Content-Length")?;
                break (head, length);
            }
            self.read_more().await.map_err(io)?;
        };
        while self.filled < head + length {
            self.read_more().await.map_err(io)?;
        }
        let status = self.received[..head]
            .split(|&b| b == b' ')
            .nth(1)
            .unwrap_or_default();
        if status != b"200" {
            let text = String::from_utf8_lossy(&self.received[head..head + length]);
            return Err(format!(
                "HTTP {}: {}",
                String::from_utf8_lossy(status),
                text.chars().take(200).collect::<String>()
            ));
        }
        Ok(head..head + length)
    }

    /// Reads what the socket has into `received`, growing it when full.
    async fn read_more(&mut self) -> std::io::Result<()> {
        use tokio::io::AsyncReadExt as _;
        if self.filled == self.received.len() {
            self.received.resize(self.received.len() * 2, 0);
        }
        match self.stream.read(&mut self.received[self.filled..]).await? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed mid-response",
            )),
            n => {
                self.filled += n;
                Ok(())
            }
        }
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` of a response head.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

/// The `refreshToken` of a session JSON (at the top level or under `session`): the load
/// generator trusts the server's JSON and looks for the key only.
fn refresh_token(body: &[u8]) -> Result<Token, String> {
    let start = find(body, TOKEN_KEY).ok_or("no refreshToken in the response")? + TOKEN_KEY.len();
    body.get(start..start + 36)
        .and_then(|t| Token::try_from(t).ok())
        .filter(|_| body.get(start + 36) == Some(&b'"'))
        .ok_or_else(|| "a refreshToken that is not a UUID".to_owned())
}

/// The CPU time this process's threads have spent, from Linux's per-thread scheduler
/// statistics (`/proc/self/task/*/schedstat`): in all, and per SQLite connection thread (sqlx
/// runs each connection on a thread named `sqlx-sqlite-worker-N`). The busiest of those is the
/// one writer, the part of the work that cannot spread over the cores.
struct CpuTimes {
    total: Duration,
    sqlite: Vec<(std::ffi::OsString, Duration)>,
}

/// What [`CpuTimes::since`] gives.
struct CpuSpent {
    total: Duration,
    busiest_sqlite: Duration,
}

impl CpuTimes {
    /// `None` where there is no `/proc` (not Linux).
    fn now() -> Option<CpuTimes> {
        let mut times = CpuTimes {
            total: Duration::ZERO,
            sqlite: Vec::new(),
        };
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let path = task.path();
            let Some(on_cpu) = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .map(Duration::from_nanos)
            else {
                continue;
            };
            times.total += on_cpu;
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if name.starts_with("sqlx-sqlite") {
                times.sqlite.push((task.file_name(), on_cpu));
            }
        }
        Some(times)
    }

    /// The CPU time spent since `before`.
    fn since(&self, before: &CpuTimes) -> CpuSpent {
        let busiest_sqlite = self
            .sqlite
            .iter()
            .map(|(tid, after)| {
                let before = before.sqlite.iter().find(|(t, _)| t == tid);
                after.saturating_sub(before.map_or(Duration::ZERO, |(_, d)| *d))
            })
            .max()
            .unwrap_or_default();
        CpuSpent {
            total: self.total.saturating_sub(before.total),
            busiest_sqlite,
        }
    }
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
    fn the_refresh_token_is_found_in_either_session_shape() {
        let token = "1fb17604-86c7-444e-b337-09a644465f2d";
        let bare = format!(r#"{{"accessToken":"x","refreshToken":"{token}","user":{{}}}}"#);
        let nested = format!(r#"{{"session":{{"refreshToken":"{token}"}}}}"#);
        for body in [bare, nested] {
            assert_eq!(
                refresh_token(body.as_bytes()).as_ref().map(|t| &t[..]),
                Ok(token.as_bytes())
            );
        }
        assert!(refresh_token(br#"{"refreshToken":"short"}"#).is_err());
        assert!(refresh_token(b"{}").is_err());
    }

    #[test]
    fn content_length_is_read_from_any_case_of_the_header() {
        let head =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-LENGTH: 42\r\n\r\n";
        assert_eq!(content_length(head), Some(42));
        assert_eq!(content_length(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

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
