//! The workspace's task runner: `cargo xtask <command>`.
//!
//! In the style of rust-analyzer's xtask: plain Rust instead of shell scripts, one file per
//! command, few dependencies, arguments parsed by hand.
//!
//! ```text
//! cargo xtask test                  # every test, with a throwaway PostgreSQL
//! cargo xtask bench emulator        # load-test the auth emulator (re-runs itself in release)
//! cargo xtask soak --fault auth-restart  # browsers against the SSR example, faults injected
//! cargo xtask changeset add         # describe a change for the changelog (changesets/)
//! cargo xtask release               # versions, changelogs, publish dry run from changesets/
//! ```
//!
//! The changesets workflow lives in the library half of this crate (`src/lib.rs`).

mod axum_ssr;
mod bench;
mod browser;
mod bundle;
mod fuzz;
mod js_peers;
mod services;
mod signals;
mod soak;
mod test;
mod wasm;
mod wasm_size;
mod yew_csr;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What every command returns; the message is printed as `error: …`.
pub(crate) type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const HELP: &str = "\
cargo xtask — tasks for this workspace

USAGE:
    cargo xtask <COMMAND> [ARGS]

COMMANDS:
    test [ARGS]                  Run every test (nextest + doctests) against a throwaway PostgreSQL
    bench emulator [OPTIONS]     Load-test nhost-auth-emulator (anonymous sign-ins, token refreshes)
    bench wasm-size              Bundle size of the Yew example against a bare Yew app (gzip)
    soak [OPTIONS]               Simulated browsers against the SSR example, faults injected mid-run;
                                 fails if a session is lost
    fuzz [--smoke] [OPTIONS]     Run the cargo-fuzz targets of fuzz/ (nightly); --smoke: 10 s each
    axum-ssr                     Build the full-stack example's bundle and serve the hydrated site
    yew-csr                      Build the Yew example for the browser and serve it with an emulator
    changeset add|check          Write a changeset / check changesets/ (file:line for each problem)
    release [status|version|publish|pre]
                                 Plan, apply (versions, changelogs, Cargo.lock) and publish releases
    help                         Print this help

Run `cargo xtask <COMMAND> --help` for a command's options.
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        eprint!("{HELP}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    let result = match command.as_str() {
        "test" => test::run(rest),
        "bench" => bench::run(rest),
        "soak" => soak::run(rest),
        "fuzz" => fuzz::run(rest),
        "axum-ssr" => axum_ssr::run(rest),
        "yew-csr" => yew_csr::run(rest),
        "changeset" => xtask::changeset::run(rest),
        "release" => xtask::release::run(rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            Err(format!("unknown command `{other}`; run `cargo xtask --help` for the list").into())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` or `<root>/target`.
pub(crate) fn target_dir() -> PathBuf {
    let root = project_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The `cargo` that runs us (cargo sets `$CARGO`), or the one on `PATH`.
pub(crate) fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Pulls a `--flag VALUE` (or `--flag=VALUE`) out of `args`, parsed as `T`.
pub(crate) fn take_value<T: std::str::FromStr>(
    args: &mut Vec<String>,
    flag: &str,
) -> Result<Option<T>> {
    let Some(i) = args
        .iter()
        .position(|a| a == flag || a.starts_with(&format!("{flag}=")))
    else {
        return Ok(None);
    };
    let arg = args.remove(i);
    let raw = match arg.split_once('=') {
        Some((_, v)) => v.to_owned(),
        None if i < args.len() => args.remove(i),
        None => return Err(format!("`{flag}` needs a value").into()),
    };
    raw.parse()
        .map(Some)
        .map_err(|_| format!("`{flag} {raw}`: not a valid value").into())
}

/// Removes `flag` from `args`; says whether it was there.
pub(crate) fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}
