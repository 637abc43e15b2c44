//! Browser tests: `wasm-bindgen-test` tests run in headless Chromium.
//!
//! For every crate in [`CRATES`], its browser tests (`tests/browser*.rs`, each starting with
//! `#![cfg(target_arch = "wasm32")]` and `wasm_bindgen_test_configure!(run_in_browser);`) are
//! built for wasm32 by the route [`crate::wasm`] picks and run with
//!
//! ```text
//! cargo test --target wasm32-unknown-unknown -p <crate> --test 'browser*'
//!     CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
//!     CHROMEDRIVER=/usr/bin/chromedriver
//!     WASM_BINDGEN_TEST_WEBDRIVER_JSON=target/browser-tests/webdriver.json
//!     TMPDIR=target/browser-tests/tmp
//! ```
//!
//! `wasm-bindgen-test-runner` starts ChromeDriver, which starts Chromium with the capabilities
//! in the file named by `WASM_BINDGEN_TEST_WEBDRIVER_JSON` (by default `webdriver.json` in the
//! crate's directory): our [`CHROME_ARGS`] go in `goog:chromeOptions.args`.
//!
//! The fresh profile: ChromeDriver gives every session (one per test binary) a new
//! `--user-data-dir=$TMPDIR/org.chromium.Chromium.scoped_dir.*`, so each binary starts with an
//! empty `localStorage` and no two Chromiums share a profile. The runner ends a run by closing
//! the window and killing ChromeDriver, which leaves that directory (about 8 MB) behind; hence
//! the `TMPDIR` of our own, emptied before the step and removed after the run by [`Scratch`].
//!
//! Only the `browser*` tests are built for wasm32: the other integration tests are native
//! (tokio, the in-process emulator) and need not compile for the browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Result, project_root, target_dir, wasm};

/// The crates whose browser tests `cargo xtask test` runs.
pub(crate) const CRATES: &[&str] = &["nhost-core", "nhost-yew"];

/// Which integration tests are browser tests: a `cargo test --test` pattern.
const TESTS: &str = "browser*";

/// Chromium's flags for a headless run as root on a closed network (see TOOLCHAIN.md). The
/// runner adds `headless`, `no-sandbox` and `disable-dev-shm-usage` itself; ChromeDriver adds a
/// fresh `--user-data-dir` (in our `TMPDIR`).
const CHROME_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Debian's ChromeDriver (package `chromium-driver`, which brings `chromium`).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The browser sessions' temporary files (`target/browser-tests/tmp`): emptied by [`steps`],
/// removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// An empty `target/browser-tests/tmp` (emptied of whatever an interrupted run left).
    fn new() -> Result<Scratch> {
        let dir = target_dir().join("browser-tests/tmp");
        remove(&dir)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.0) {
            eprintln!("xtask: {e}");
        }
    }
}

fn remove(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", dir.display()).into())
        }
        _ => Ok(()),
    }
}

/// One `cargo test` per crate in [`CRATES`], with what the runner needs in its environment, and
/// the scratch directory to keep until they have run. Fails, saying what to install, when
/// `wasm-bindgen-test-runner` (at `Cargo.lock`'s `wasm-bindgen` version) or ChromeDriver is
/// missing.
pub(crate) fn steps() -> Result<(Vec<(String, Command)>, Scratch)> {
    check_runner()?;
    let chromedriver = chromedriver()?;
    let scratch = Scratch::new()?;
    let webdriver_json = match std::env::var_os("WASM_BINDGEN_TEST_WEBDRIVER_JSON") {
        Some(path) if !path.is_empty() => {
            eprintln!(
                "xtask: WASM_BINDGEN_TEST_WEBDRIVER_JSON is set ({}); using it for Chromium's options",
                path.to_string_lossy()
            );
            PathBuf::from(path)
        }
        _ => write_webdriver_json()?,
    };
    let steps = CRATES
        .iter()
        .map(|krate| {
            let mut cmd = wasm::cargo_command("test")?;
            cmd.args(["-p", krate, "--test", TESTS])
                .env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                    "wasm-bindgen-test-runner",
                )
                .env("CHROMEDRIVER", &chromedriver)
                .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver_json)
                .env("TMPDIR", &scratch.0);
            Ok((format!("browser tests of {krate}"), cmd))
        })
        .collect::<Result<_>>()?;
    Ok((steps, scratch))
}

/// The `wasm-bindgen` version in `Cargo.lock`: the CLI must be exactly this one.
fn locked_wasm_bindgen_version() -> Result<String> {
    let path = project_root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "wasm-bindgen""# {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'));
            versions.extend(version.map(str::to_owned));
        }
    }
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("no `wasm-bindgen` package in {}", path.display()).into()),
        many => Err(format!(
            "{} has several `wasm-bindgen` versions ({}); the test runner can match only one",
            path.display(),
            many.join(", ")
        )
        .into()),
    }
}

/// Checks that `wasm-bindgen-test-runner` is on `PATH` at `Cargo.lock`'s version.
pub(crate) fn check_runner() -> Result<()> {
    check_wasm_bindgen("wasm-bindgen-test-runner")
}

/// Checks that `program` of wasm-bindgen-cli (`wasm-bindgen`, `wasm-bindgen-test-runner`) is on
/// `PATH` at `Cargo.lock`'s `wasm-bindgen` version.
pub(crate) fn check_wasm_bindgen(program: &str) -> Result<()> {
    let wanted = locked_wasm_bindgen_version()?;
    let install = format!(
        "`cargo install wasm-bindgen-cli --version {wanted} --locked` \
         (drop `--locked` if the registry lacks one of its locked dependencies; .ci/run does both)"
    );
    let out = Command::new(program)
        .arg("--version")
        .stderr(Stdio::null())
        .output();
    let found = match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_owned(),
        _ => {
            return Err(format!(
                "{program} is missing (needed at version {wanted}, the `wasm-bindgen` version in \
                 Cargo.lock): {install}"
            )
            .into());
        }
    };
    if found != wanted {
        return Err(format!(
            "{program} is version {found}, but Cargo.lock has wasm-bindgen {wanted}; they \
             must match: {install}"
        )
        .into());
    }
    Ok(())
}

/// `$CHROMEDRIVER` if set, else Debian's ChromeDriver.
pub(crate) fn chromedriver() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER").filter(|p| !p.is_empty()) {
        return Ok(path.into());
    }
    if Path::new(CHROMEDRIVER).exists() {
        return Ok(CHROMEDRIVER.into());
    }
    Err(format!(
        "{CHROMEDRIVER} is missing: the browser tests need Chromium and ChromeDriver \
         (`apt-get install chromium chromium-driver`, or run .ci/run; or set CHROMEDRIVER)"
    )
    .into())
}

/// Writes `target/browser-tests/webdriver.json` (Chromium's flags) and returns its path.
fn write_webdriver_json() -> Result<PathBuf> {
    let dir = target_dir().join("browser-tests");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("webdriver.json");
    let capabilities = serde_json::json!({ "goog:chromeOptions": { "args": CHROME_ARGS } });
    let text = serde_json::to_string_pretty(&capabilities)?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
