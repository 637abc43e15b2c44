//! `cargo xtask release …`: turns the pending changesets into versions, changelogs and tags.

mod changelog;
pub mod plan;
mod publish;
mod status;
mod version;

use crate::changeset;
use crate::cli::{self, Result};
pub use plan::{Plan, Release, bump_version, plan, rewrite_req};
pub use publish::publish_order;
pub use status::{json as status_json, text as status_text};
use std::path::Path;
use std::process::{Command, ExitCode};
pub use version::{Edit, diff, edits, write};

const HELP: &str = "\
cargo xtask release — versions, changelogs and tags from changesets/

USAGE:
    cargo xtask release [--offline] [--root DIR]
    cargo xtask release status [--json] [--root DIR]
    cargo xtask release version [--dry-run] [--root DIR]
    cargo xtask release publish [--execute] [--offline] [--root DIR]

(none)    status, then version, then a dry run of publish, printing each step.
status    The plan: pending changesets and each crate's old and new version. --json prints the
          JS changesets tool's `changeset status --output` shape.
version   Applies the plan: bumps versions (fixed and linked groups, dependents whose
          requirement no longer matches), rewrites requirements on the bumped crates, prepends
          each crate's CHANGELOG.md section, removes the consumed changesets, updates Cargo.lock.
          --dry-run prints the diff and writes nothing. Nothing is written if any changeset
          or the config is bad.
publish   `cargo publish --dry-run` of every publishable crate whose version is not on the
          registry yet, in dependency order. --execute publishes for real and tags each crate
          `<crate>-v<version>`. --offline does not ask the registry (and passes --offline).
--root    The workspace to work on (default: this one).
";

/// `cargo xtask release …`.
pub fn run(mut args: Vec<String>) -> Result<ExitCode> {
    if cli::take_flag(&mut args, "--help") || cli::take_flag(&mut args, "-h") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let root = cli::take_root(&mut args)?;
    let sub = if args.first().is_some_and(|a| !a.starts_with('-')) {
        Some(args.remove(0))
    } else {
        None
    };
    match sub.as_deref() {
        Some("status") => {
            let as_json = cli::take_flag(&mut args, "--json");
            cli::no_more(&args, "release status")?;
            status(&root, as_json)
        }
        Some("version") => {
            let dry_run = cli::take_flag(&mut args, "--dry-run");
            cli::no_more(&args, "release version")?;
            version(&root, dry_run)
        }
        Some("publish") => {
            let execute = cli::take_flag(&mut args, "--execute");
            let offline = cli::take_flag(&mut args, "--offline");
            cli::no_more(&args, "release publish")?;
            publish::run(&root, execute, offline)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => {
            Err(format!("unknown `release` command `{other}` (status, version, publish)").into())
        }
        None => {
            let offline = cli::take_flag(&mut args, "--offline");
            cli::no_more(&args, "release")?;
            println!("==> cargo xtask release status");
            status(&root, false)?;
            println!("\n==> cargo xtask release version");
            version(&root, false)?;
            println!("\n==> cargo xtask release publish (dry run)");
            publish::run(&root, false, offline)?;
            println!(
                "\nreleased locally: review and commit the changes, then `cargo xtask release publish --execute`"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn status(root: &Path, as_json: bool) -> Result<ExitCode> {
    let (ws, pending) = changeset::load_or_report(root)?;
    let plan = plan(&ws, &pending.config, &pending.changesets)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status_json(&pending, &plan))?
        );
    } else {
        print!("{}", status_text(&pending, &plan));
    }
    Ok(ExitCode::SUCCESS)
}

fn version(root: &Path, dry_run: bool) -> Result<ExitCode> {
    let (ws, pending) = changeset::load_or_report(root)?;
    if pending.changesets.is_empty() {
        println!("no pending changesets: nothing to version");
        return Ok(ExitCode::SUCCESS);
    }
    let plan = plan(&ws, &pending.config, &pending.changesets)?;
    let edits = edits(&ws, &pending, &plan)?;
    if dry_run {
        print!("{}", diff(&edits));
        println!(
            "dry run: {} file(s) would change; nothing written",
            edits.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    write(root, &edits)?;
    for e in &edits {
        let what = match (&e.before, &e.after) {
            (None, _) => "created",
            (_, None) => "removed",
            _ => "updated",
        };
        println!("  {what} {}", e.path.display());
    }
    for r in plan.bumped() {
        println!("  {} {} -> {}", r.name, r.old_version, r.new_version);
    }
    // Let Cargo confirm the lock file (only workspace members changed: no network needed).
    if root.join("Cargo.lock").exists() {
        let ok = Command::new(cli::cargo())
            .args(["update", "--workspace", "--offline", "--quiet"])
            .current_dir(root)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "warning: `cargo update --workspace --offline` failed; run it to refresh Cargo.lock"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
