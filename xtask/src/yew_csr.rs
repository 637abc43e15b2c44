//! `cargo xtask yew-csr`: builds `examples/yew-csr` for the browser and serves it beside an
//! in-process auth emulator — the one command that runs the Yew example.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::{Result, cargo, target_dir};

const HELP: &str = "\
cargo xtask yew-csr — build and serve the Yew example (examples/yew-csr)

USAGE:
    cargo xtask yew-csr

Builds the app for wasm32-unknown-unknown (profile wasm-release: optimised for size), runs
wasm-bindgen into target/yew-csr/dist, then runs `cargo run -p example-yew-csr -- --dist …`:
the page on http://127.0.0.1:$PORT (default 8080) and, unless NHOST_AUTH_URL is set, an
in-process nhost-auth-emulator (anonymous role `public`, AUTH_* variables honoured).

Needs a wasm32 route (rustup's target, or Debian's rustc-web; see xtask/src/wasm.rs) and
wasm-bindgen-cli at Cargo.lock's wasm-bindgen version.
";

pub(crate) fn run(args: Vec<String>) -> Result<ExitCode> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let dist = build()?;
    let status = Command::new(cargo())
        .args(["run", "--quiet", "-p", "example-yew-csr", "--", "--dist"])
        .arg(&dist)
        .status()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the app and returns the folder with `example-yew-csr.js` and its `.wasm`.
pub(crate) fn build() -> Result<PathBuf> {
    crate::browser::check_runner()?;
    let mut build = crate::wasm::cargo_command("build")?;
    build.args(["--profile", "wasm-release", "-p", "example-yew-csr"]);
    let wasm_dir = build
        .get_envs()
        .find(|(k, _)| *k == "CARGO_TARGET_DIR")
        .and_then(|(_, v)| v.map(PathBuf::from))
        .unwrap_or_else(target_dir)
        .join("wasm32-unknown-unknown/wasm-release");
    eprintln!("xtask: building the Yew example for wasm32");
    if !build.status()?.success() {
        return Err("the wasm32 build of example-yew-csr failed".into());
    }
    let dist = target_dir().join("yew-csr/dist");
    std::fs::create_dir_all(&dist)?;
    let status = Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&dist)
        .arg(wasm_dir.join("example-yew-csr.wasm"))
        .status()
        .map_err(|e| format!("cannot run wasm-bindgen: {e}"))?;
    if !status.success() {
        return Err("wasm-bindgen failed".into());
    }
    Ok(dist)
}
