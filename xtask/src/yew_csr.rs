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
    let dist = build("wasm-release")?;
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

/// Builds the app with the cargo `profile` (`"wasm-release"` for `cargo xtask yew-csr`, `"dev"`
/// for the end-to-end tests) and returns the folder with `example-yew-csr.js` and its `.wasm`.
pub(crate) fn build(profile: &str) -> Result<PathBuf> {
    let (steps, dist) = build_steps(profile)?;
    for (name, mut cmd) in steps {
        eprintln!("xtask: {name}");
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
        if !status.success() {
            return Err(format!("{name} failed").into());
        }
    }
    Ok(dist)
}

/// The commands that build the app with the cargo `profile` (the wasm32 build, then
/// wasm-bindgen), to run in order, and the folder they write `example-yew-csr.js` and its
/// `.wasm` to: `target/yew-csr/dist` for `wasm-release`, `target/yew-csr/dist-<profile>` else.
pub(crate) fn build_steps(profile: &str) -> Result<(Vec<(String, Command)>, PathBuf)> {
    crate::browser::check_runner()?;
    let mut build = crate::wasm::cargo_command("build")?;
    build.args(["--profile", profile, "-p", "example-yew-csr"]);
    let wasm = crate::wasm::output_dir(&build, profile).join("example-yew-csr.wasm");
    let dist = target_dir().join(match profile {
        "wasm-release" => "yew-csr/dist".to_owned(),
        other => format!("yew-csr/dist-{other}"),
    });
    std::fs::create_dir_all(&dist).map_err(|e| format!("cannot create {}: {e}", dist.display()))?;
    let mut bindgen = Command::new("wasm-bindgen");
    bindgen
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&dist)
        .arg(wasm);
    let steps = vec![
        (
            format!("wasm32 build of example-yew-csr (profile {profile})"),
            build,
        ),
        (
            format!("wasm-bindgen of example-yew-csr ({profile})"),
            bindgen,
        ),
    ];
    Ok((steps, dist))
}
