//! `cargo xtask test`: every test in the workspace, with the services they need.

use std::process::{Command, ExitCode, ExitStatus, Stdio};

use crate::services::{self, Services};
use crate::{Result, cargo, signals};

const HELP: &str = "\
cargo xtask test — run every test in the workspace

USAGE:
    cargo xtask test [--no-doc] [--no-browser] [--no-soak] [--] [ARGS...]

Starts the services the tests need, each unless its variable is already set: a throwaway
PostgreSQL (data in target/test-services/pg, on a free port of 127.0.0.1) as
NHOST_TEST_DATABASE_URL, a throwaway redis-server (persistence off) as NHOST_TEST_REDIS_URL, and
two in-process nhost-auth-emulators for the browser tests as
NHOST_TEST_AUTH_URL (anonymous users on, role public) and NHOST_TEST_AUTH_URL_ANONYMOUS_DISABLED.
Then, with those variables set, it runs:

    cargo test --workspace --doc                       (doctests; nextest cannot run them)
    cargo nextest run --workspace --no-fail-fast ARGS  (or `cargo test --workspace ARGS` without nextest)

and stops the services again, whatever happened. Before those it builds nhost-core, nhost-yew
and example-yew-csr for wasm32-unknown-unknown (rustup's target, or Debian's rustc-web route),
runs the browser tests (`tests/browser*.rs` of the crates in xtask/src/browser.rs) in headless
Chromium:

    cargo test --target wasm32-unknown-unknown -p <crate> --test 'browser*'
        (runner: wasm-bindgen-test-runner, through ChromeDriver)

then builds the Yew example with the dev profile into target/yew-csr/dist-dev for its
end-to-end tests (examples/yew-csr/tests/e2e.rs: the example's server, driven over WebDriver in
headless Chromium), which run among the others with NHOST_E2E_DIST=<dist> and
CHROMEDRIVER=<path> set; likewise the full-stack example's bundle into
target/axum-ssr/dist-dev for its tests/hydrated.rs (NHOST_E2E_AXUM_SSR_DIST=<dist>),

then a short soak of the SSR example (xtask/src/soak.rs; its own processes and redis-server,
dev profile, about 15-30 s):

    cargo xtask soak --profile dev --requests 1000 --browsers 50 --instances 3 --fault auth-restart

50 browsers against 3 instances sharing Redis, the auth server killed and restarted mid-run;
it fails if any session is lost or any request gets a 5xx,

and, when missing, installs the JavaScript client test packages with `npm ci`. Exits non-zero
if any step failed.

OPTIONS:
    --no-doc      Skip the doctests
    --no-browser  Skip the browser tests
    --no-soak     Skip the soak
    -h, --help    Print this help

ARGS (anything else, or everything after `--`) go to nextest (or cargo test), e.g.
    cargo xtask test -p nhost-auth-emulator
    cargo xtask test -- refresh_token

Needs the PostgreSQL server programs (`apt-get install postgresql`), redis-server
(`apt-get install redis-server`), Chromium and ChromeDriver
(`apt-get install chromium chromium-driver`) and wasm-bindgen-test-runner at Cargo.lock's
wasm-bindgen version (`cargo install wasm-bindgen-cli --version <it>`); .ci/run installs them.
";

pub(crate) fn run(args: Vec<String>) -> Result<ExitCode> {
    // Our own flags come before `--`; everything else is passed through.
    let (mut ours, theirs) = match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    if ours.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let doc = !crate::take_flag(&mut ours, "--no-doc");
    let browser = !crate::take_flag(&mut ours, "--no-browser");
    let soak = !crate::take_flag(&mut ours, "--no-soak");
    let passthrough: Vec<String> = ours.into_iter().chain(theirs).collect();

    let nextest = has_nextest();
    if !nextest {
        eprintln!(
            "xtask: cargo-nextest not found (`cargo install cargo-nextest --locked`); using `cargo test`"
        );
    }

    let mut steps: Vec<(String, Command)> = Vec::new();
    // The browser builds: a compile error for wasm32 is a failed test.
    let mut wasm = crate::wasm::cargo_command("build")?;
    wasm.args([
        "-p",
        "nhost-core",
        "-p",
        "nhost-yew",
        "-p",
        "example-yew-csr",
    ]);
    steps.push((
        "wasm32 build of nhost-core, nhost-yew and example-yew-csr".into(),
        wasm,
    ));
    // Browser tests in headless Chromium; before nextest, whose summary stays the last thing
    // printed. Its scratch directory is removed when `_browser_scratch` drops, after every step.
    let _browser_scratch = if browser {
        let (browser_steps, scratch) = crate::browser::steps()?;
        steps.extend(browser_steps);
        Some(scratch)
    } else {
        None
    };
    // End-to-end tests of the Yew example over WebDriver: the app is built here with the dev
    // profile (fast); its `tests/e2e.rs` (served by its own binary, driven in headless Chromium)
    // runs with the rest under nextest (or `cargo test`), which gets these variables.
    let (e2e_build, dist) = crate::bundle::steps("example-yew-csr", "dev")?;
    // The same for the full-stack example's bundle (examples/axum-ssr/tests/hydrated.rs).
    let (ssr_build, ssr_dist) = crate::bundle::steps("example-axum-ssr", "dev")?;
    let e2e_env = [
        ("NHOST_E2E_DIST", dist.into_os_string()),
        ("NHOST_E2E_AXUM_SSR_DIST", ssr_dist.into_os_string()),
        (
            "CHROMEDRIVER",
            crate::browser::chromedriver()?.into_os_string(),
        ),
    ];
    steps.extend(e2e_build);
    steps.extend(ssr_build);
    if let Some(npm) = js_client_install()? {
        steps.insert(0, ("npm ci (JavaScript client tests)".into(), npm));
    }
    // A short soak with one fault (the full ones are `cargo xtask soak`): real processes, so it
    // starts its own services; before nextest, whose summary stays the last thing printed.
    if soak {
        let mut cmd = Command::new(
            std::env::current_exe().map_err(|e| format!("cannot find xtask's own binary: {e}"))?,
        );
        let args = "soak --profile dev --requests 1000 --browsers 50 --instances 3 \
                    --fault auth-restart --seconds 90";
        cmd.args(args.split_whitespace());
        steps.push(("soak (3 instances, auth server restarted)".into(), cmd));
    }
    if nextest {
        if doc {
            let mut cmd = Command::new(cargo());
            cmd.args(["test", "--workspace", "--doc"]);
            steps.push(("doctests".into(), cmd));
        }
        let mut cmd = Command::new(cargo());
        cmd.args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(&passthrough)
            .envs(e2e_env);
        steps.push(("tests".into(), cmd));
    } else {
        // `cargo test` runs the doctests itself; `--no-fail-fast` so that one failing crate
        // does not hide the others.
        let mut cmd = Command::new(cargo());
        cmd.args(["test", "--workspace", "--no-fail-fast"]);
        if !doc {
            cmd.args(["--lib", "--bins", "--tests", "--examples"]);
        }
        cmd.args(&passthrough).envs(e2e_env);
        steps.push(("tests".into(), cmd));
    }

    // Every step is known (and every missing tool reported) before anything is started.
    signals::install();
    // Stops the services when dropped: on every return below, and on panics.
    let services = Services::start(services::ALL)?;

    let mut results: Vec<(String, ExitStatus)> = Vec::new();
    for (name, mut cmd) in steps {
        if signals::received().is_some() {
            break;
        }
        cmd.envs(services.env().iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        eprintln!("xtask: running {}", describe(&cmd));
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", describe(&cmd)))?;
        let status = signals::wait(child)?;
        results.push((name, status));
    }

    drop(services);

    if let Some(code) = signals::received() {
        eprintln!("xtask: interrupted");
        return Ok(ExitCode::from(code));
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, s)| !s.success())
        .map(|(name, s)| format!("{name} ({s})"))
        .collect();
    if failed.is_empty() {
        eprintln!("xtask: all tests passed");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: FAILED: {}", failed.join(", "));
        // The first failure's own code, so that `cargo xtask test` exits like the runner would.
        let code = results
            .iter()
            .find_map(|(_, s)| (!s.success()).then(|| s.code()))
            .flatten();
        Ok(ExitCode::from(
            code.and_then(|c| u8::try_from(c).ok())
                .filter(|&c| c != 0)
                .unwrap_or(1),
        ))
    }
}

/// `npm ci` for the official-JavaScript-client conformance tests, when their packages are not
/// installed yet (from the committed lock file). `None` when there is nothing to do.
fn js_client_install() -> Result<Option<Command>> {
    let dir = crate::project_root().join("crates/nhost-auth-emulator/tests/js-clients");
    if dir.join("node_modules").exists() {
        return Ok(None);
    }
    let has_npm = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !has_npm.is_ok_and(|s| s.success()) {
        return Err(
            "npm is missing: the JavaScript client tests need Node.js 20+ and npm \
                    (`apt-get install nodejs npm`, or run .ci/run)"
                .into(),
        );
    }
    let mut cmd = Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir);
    Ok(Some(cmd))
}

fn has_nextest() -> bool {
    Command::new(cargo())
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo nextest run --workspace …`, for messages (the program's file name, then its arguments).
fn describe(cmd: &Command) -> String {
    let program = std::path::Path::new(cmd.get_program());
    let name = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy();
    let mut words = vec![name.into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}
