//! Building for `wasm32-unknown-unknown` by whichever route this machine has.
//!
//! 1. A rustup toolchain with the wasm32 target installed: plain `cargo build --target …`.
//! 2. Otherwise Debian's `rustc-web` + `rust-web-src` + `lld-19`: Debian's compiler, building `std`
//!    from source (see TOOLCHAIN notes in the workspace README).
//!
//! When neither is there, the error says what to install.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Result, cargo, target_dir};

const TARGET: &str = "wasm32-unknown-unknown";

/// A `cargo <subcommand> --target wasm32-unknown-unknown …` command by the available route, for
/// `build` and `test` alike (for `test`, the caller names the runner: see [`crate::browser`]).
/// The Debian route's artefacts go to `target/wasm-debian`.
pub(crate) fn cargo_command(subcommand: &str) -> Result<Command> {
    if rustup_has_target() {
        let mut cmd = Command::new(cargo());
        cmd.args([subcommand, "--target", TARGET]);
        return Ok(cmd);
    }
    let debian = ["/usr/bin/rustc", "/usr/bin/cargo", "/usr/bin/wasm-ld-19"];
    let std_src = Path::new("/usr/lib/rustlib/src/rust/library");
    if debian.iter().all(|p| Path::new(p).exists()) && std_src.exists() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.args([
            subcommand,
            "--target",
            TARGET,
            "-Zbuild-std=std,panic_abort",
        ])
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld-19")
        // Debian's compiler must never share artefacts with rustup's.
        .env("CARGO_TARGET_DIR", target_dir().join("wasm-debian"));
        return Ok(cmd);
    }
    Err(format!(
        "cannot build for {TARGET}: rustup has no {TARGET} target and Debian's wasm toolchain is missing.\n\
         Either `rustup target add {TARGET}`, or `apt-get install rustc-web cargo-web rust-web-src lld-19` \
         (which .ci/run does)."
    )
    .into())
}

/// Whether the default toolchain's sysroot has the wasm32 standard library.
fn rustup_has_target() -> bool {
    let Ok(out) = Command::new("rustc")
        .args(["--print", "sysroot"])
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .exists()
}

/// Where `cmd` (from [`cargo_command`]) writes its wasm32 artefacts for the cargo `profile`:
/// the route's target dir, then `wasm32-unknown-unknown/<folder>` — `debug/` for `dev` and
/// `test`, `release/` for `release` and `bench`, the profile's own name for the others.
pub(crate) fn output_dir(cmd: &Command, profile: &str) -> std::path::PathBuf {
    let folder = match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    };
    cmd.get_envs()
        .find(|(k, _)| *k == "CARGO_TARGET_DIR")
        .and_then(|(_, v)| v.map(std::path::PathBuf::from))
        .unwrap_or_else(target_dir)
        .join(TARGET)
        .join(folder)
}
