//! The official JavaScript clients against the emulator: `@nhost/hasura-auth-js` and
//! `@nhost/nhost-js` (pinned in `tests/js-clients/package.json`) must not be able to tell it from
//! the real hasura-auth. Each script in `tests/js-clients/` drives one client end to end against
//! an emulator started here in-process, and exits non-zero on any failed check.
//!
//! Needs Node.js (20 or newer) and the clients installed:
//! `npm ci --prefix crates/nhost-auth-emulator/tests/js-clients` (or `.ci/run`). Without them these
//! tests fail; they never skip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nhost_auth_emulator::{Config, Emulator};

/// How long one script may run before it is killed and the test fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// The oldest Node.js major version the scripts are run with.
const MIN_NODE_MAJOR: u32 = 20;

/// The packages the scripts import; `npm ci` puts them under `node_modules/`.
const PACKAGES: &[&str] = &["@nhost/hasura-auth-js", "@nhost/nhost-js"];

const INSTALL_HINT: &str = "install the JavaScript clients with \
     `npm ci --prefix crates/nhost-auth-emulator/tests/js-clients` (or run `.ci/run`)";

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js-clients")
}

/// Fails (never skips) when Node.js or the installed clients are missing.
fn preflight(dir: &Path) {
    let version = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `node` ({e}): the JavaScript client conformance tests need Node.js \
                 {MIN_NODE_MAJOR} or newer on PATH; then {INSTALL_HINT}"
            )
        });
    assert!(
        version.status.success(),
        "`node --version` failed ({}): the JavaScript client conformance tests need Node.js \
         {MIN_NODE_MAJOR} or newer on PATH; then {INSTALL_HINT}",
        version.status
    );
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        major.is_some_and(|m| m >= MIN_NODE_MAJOR),
        "Node.js {version} is too old: the JavaScript client conformance tests need \
         {MIN_NODE_MAJOR} or newer"
    );
    for package in PACKAGES {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        assert!(
            manifest.is_file(),
            "{package} is not installed ({} is missing): {INSTALL_HINT}",
            manifest.display()
        );
    }
}

/// Reads a child's pipe to the end on its own thread, so the child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Starts a default emulator (cheap bcrypt), runs `node <script> <url>` in `tests/js-clients/`
/// while the emulator keeps serving on this runtime, and fails with the script's output unless
/// it exits with success.
async fn run_script(script: &str) {
    let dir = js_dir();
    preflight(&dir);

    let mut config = Config::default();
    config.bcrypt_cost = 4;
    let emulator = Emulator::start(config).await.expect("the emulator starts");
    let url = emulator.url().to_owned();

    let mut child = Command::new("node")
        .arg(script)
        .arg(&url)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node {script}` in {}: {e}", dir.display()));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    // Poll instead of blocking: the emulator answers the script from this runtime's workers.
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("waiting for `node {script}` failed: {e}"),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    emulator.shutdown().await;

    let report =
        format!("--- stdout of `node {script} {url}` ---\n{stdout}\n--- stderr ---\n{stderr}");
    match status {
        Some(status) if status.success() => println!("{report}"),
        Some(status) => panic!(
            "`node {script}` failed ({status}): the client could tell the emulator from the \
             real server, or could not use it\n{report}"
        ),
        None => panic!(
            "`node {script}` did not finish within {} s and was killed\n{report}",
            SCRIPT_TIMEOUT.as_secs()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hasura_auth_js() {
    run_script("hasura-auth-js.mjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nhost_js() {
    run_script("nhost-js.mjs").await;
}

/// Issue 11: nhost-js 4.x's PKCE email links (sign-up with verification, magic link,
/// deanonymize, `verifyTicketURL`) with the SDK's own `generatePKCEPair` and `tokenExchange`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nhost_js_pkce() {
    run_script("nhost-js-pkce.mjs").await;
}
