//! `cargo xtask axum-ssr`: builds `examples/axum-ssr`'s browser bundle and serves the hydrated
//! full-stack site — the README's first command. When the bundle cannot be built (no wasm32
//! route, no `wasm-bindgen` at `Cargo.lock`'s version), it says why in one line, with the
//! install command, and serves the same site without JavaScript instead of failing.

use std::process::{Command, ExitCode};

use crate::{Result, cargo};

const HELP: &str = "\
cargo xtask axum-ssr — build and serve the full-stack example (examples/axum-ssr)

USAGE:
    cargo xtask axum-ssr

Builds the example's Yew components for wasm32-unknown-unknown (profile wasm-release: optimised
for size), runs wasm-bindgen into target/axum-ssr/dist, then runs
`cargo run -p example-axum-ssr -- --dist …`: the site on http://localhost:$PORT (default 3000),
server-rendered and hydrated in the browser, next to an in-process nhost-auth-emulator unless
NHOST_AUTH_URL (or NHOST_SUBDOMAIN + NHOST_REGION) names a real one. See examples/README.md
for every variable.

Needs a wasm32 route (rustup's target, or Debian's rustc-web; see xtask/src/wasm.rs) and
wasm-bindgen-cli at Cargo.lock's wasm-bindgen version; without them the site is served without
JavaScript (the forms work the same), after one line saying what to install.
";

pub(crate) fn run(args: Vec<String>) -> Result<ExitCode> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(other) = args.first() {
        return Err(
            format!("unexpected argument `{other}`; see `cargo xtask axum-ssr --help`").into(),
        );
    }
    let mut server = Command::new(cargo());
    server.args(["run", "-p", "example-axum-ssr"]);
    match crate::bundle::build("example-axum-ssr", "wasm-release") {
        Ok(dist) => {
            server.args(["--", "--dist"]).arg(dist);
        }
        Err(e) => eprintln!("xtask: serving without JavaScript, no browser bundle: {e}"),
    }
    let status = server.status()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
