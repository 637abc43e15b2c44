//! `cargo xtask yew-csr`: builds `examples/yew-csr` for the browser and serves it beside an
//! in-process auth emulator — the one command that runs the Yew example.

use std::process::{Command, ExitCode};

use crate::{Result, cargo};

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
    let dist = crate::bundle::build("example-yew-csr", "wasm-release")?;
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
