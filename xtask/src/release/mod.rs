//! `cargo xtask release …`: turns the pending changesets into versions, changelogs and tags.

mod changelog;
pub mod plan;
pub mod pre;
mod publish;
mod status;
mod version;

use crate::changeset;
use crate::cli::{self, Result};
pub use plan::{Plan, Release, bump_version, plan, plan_with, rewrite_req};
pub use pre::{Mode as PreMode, PreState};
pub use publish::publish_order;
pub use status::{json as status_json, text as status_text};
use std::path::Path;
use std::process::{Command, ExitCode};
pub use version::{Edit, diff, edits, edits_with, write};

const HELP: &str = "\
cargo xtask release — versions, changelogs and tags from changesets/

USAGE:
    cargo xtask release [--offline] [--no-semver-check] [--baseline REV] [--root DIR]
    cargo xtask release status [--json] [--root DIR]
    cargo xtask release version [--dry-run] [--no-semver-check] [--baseline REV] [--root DIR]
    cargo xtask release publish [--execute] [--offline] [--root DIR]
    cargo xtask release pre enter <TAG> [--root DIR]
    cargo xtask release pre exit [--root DIR]

(none)    status, then version, then a dry run of publish, printing each step.
status    The plan: pending changesets and each crate's old and new version. --json prints the
          JS changesets tool's `changeset status --output` shape.
version   Applies the plan: bumps versions (fixed and linked groups, dependents whose
          requirement no longer matches), rewrites requirements on the bumped crates, prepends
          each crate's CHANGELOG.md section, removes the consumed changesets, updates Cargo.lock.
          --dry-run prints the diff and writes nothing. Nothing is written if any changeset
          or the config is bad, or if the semver check fails: a crate's bump lower than its
          public API change since its last release requires (see `changeset check --help`;
          --no-semver-check turns it off, --baseline REV compares with REV).
publish   `cargo publish --dry-run` of every publishable crate whose version is not on the
          registry yet, in dependency order. --execute publishes for real and tags each crate
          `<crate>-v<version>`. --offline does not ask the registry (and passes --offline).
pre       Prerelease mode, as the JS tool's `changeset pre`. `pre enter TAG` (letters, digits,
          `-`; e.g. beta) writes changesets/pre.json: from then on `version` makes
          x.y.z-TAG.N versions (x.y.z from every changeset since entering, N counting up from 0)
          and keeps the changesets, recording them in pre.json. `pre exit` marks the mode for
          leaving: the next `version` makes the final versions from every changeset since
          entering, then removes them and pre.json. `status` shows the mode.
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
            let semver = semver_args(&mut args)?;
            cli::no_more(&args, "release version")?;
            version(&root, dry_run, &semver)
        }
        Some("publish") => {
            let execute = cli::take_flag(&mut args, "--execute");
            let offline = cli::take_flag(&mut args, "--offline");
            cli::no_more(&args, "release publish")?;
            publish::run(&root, execute, offline)?;
            Ok(ExitCode::SUCCESS)
        }
        Some("pre") => {
            let action = if args.first().is_some_and(|a| !a.starts_with('-')) {
                Some(args.remove(0))
            } else {
                None
            };
            match action.as_deref() {
                Some("enter") => {
                    if args.first().is_none_or(|a| a.starts_with('-')) {
                        return Err(
                            "`release pre enter` needs a tag, e.g. `release pre enter beta`".into(),
                        );
                    }
                    let tag = args.remove(0);
                    cli::no_more(&args, "release pre enter")?;
                    pre_enter(&root, &tag)
                }
                Some("exit") => {
                    cli::no_more(&args, "release pre exit")?;
                    pre_exit(&root)
                }
                Some(other) => {
                    Err(format!("unknown `release pre` command `{other}` (enter, exit)").into())
                }
                None => Err("`release pre` needs `enter <TAG>` or `exit`".into()),
            }
        }
        Some(other) => Err(format!(
            "unknown `release` command `{other}` (status, version, publish, pre)"
        )
        .into()),
        None => {
            let offline = cli::take_flag(&mut args, "--offline");
            let semver = semver_args(&mut args)?;
            cli::no_more(&args, "release")?;
            println!("==> cargo xtask release status");
            status(&root, false)?;
            println!("\n==> cargo xtask release version");
            version(&root, false, &semver)?;
            println!("\n==> cargo xtask release publish (dry run)");
            publish::run(&root, false, offline)?;
            println!(
                "\nreleased locally: review and commit the changes, then `cargo xtask release publish --execute`"
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--no-semver-check` and `--baseline REV`.
struct SemverArgs {
    off: bool,
    baseline: Option<String>,
}

fn semver_args(args: &mut Vec<String>) -> Result<SemverArgs> {
    Ok(SemverArgs {
        off: cli::take_flag(args, "--no-semver-check"),
        baseline: cli::take_value(args, "--baseline")?,
    })
}

fn pre_enter(root: &Path, tag: &str) -> Result<ExitCode> {
    pre::check_tag(tag)?;
    let ws = crate::workspace::load(root)?;
    let state = match pre::read(root)? {
        Some(s) if s.mode == PreMode::Pre => {
            return Err(format!(
                "already in prerelease mode (tag `{}`): `cargo xtask release pre exit` first",
                s.tag
            )
            .into());
        }
        // Exiting but not versioned yet: back into pre mode, keeping what was prereleased.
        Some(s) => PreState {
            mode: PreMode::Pre,
            tag: tag.to_owned(),
            ..s
        },
        None => PreState::enter(&ws, tag)?,
    };
    let path = root.join(pre::path());
    std::fs::write(&path, state.to_json()).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "entered prerelease mode (tag `{tag}`): `cargo xtask release version` now makes x.y.z-{tag}.N versions; `cargo xtask release pre exit` to leave"
    );
    Ok(ExitCode::SUCCESS)
}

fn pre_exit(root: &Path) -> Result<ExitCode> {
    let state = match pre::read(root)? {
        Some(s) if s.mode == PreMode::Pre => s,
        Some(_) => {
            return Err("prerelease mode is already being exited: run `cargo xtask release version` for the final versions".into());
        }
        None => {
            return Err("not in prerelease mode (no changesets/pre.json): nothing to exit".into());
        }
    };
    let state = PreState {
        mode: PreMode::Exit,
        ..state
    };
    let path = root.join(pre::path());
    std::fs::write(&path, state.to_json()).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "leaving prerelease mode (tag `{}`): the next `cargo xtask release version` makes the final versions and removes the changesets and changesets/pre.json",
        state.tag
    );
    Ok(ExitCode::SUCCESS)
}

/// The plan, and the changesets a `version` run would put in the changelogs, for the mode.
pub(crate) fn plan_for_mode(
    ws: &crate::workspace::Workspace,
    pending: &changeset::Pending,
    state: Option<&PreState>,
) -> Result<(Plan, changeset::Pending)> {
    match state {
        None => Ok((
            plan(ws, &pending.config, &pending.changesets)?,
            pending.clone(),
        )),
        Some(s) => {
            let plan = pre::plan(ws, &pending.config, &pending.changesets, s)?;
            let listed = match s.mode {
                PreMode::Pre => s
                    .new_changesets(&pending.changesets)
                    .into_iter()
                    .cloned()
                    .collect(),
                PreMode::Exit => pending.changesets.clone(),
            };
            Ok((
                plan,
                changeset::Pending {
                    config: pending.config.clone(),
                    changesets: listed,
                },
            ))
        }
    }
}

fn status(root: &Path, as_json: bool) -> Result<ExitCode> {
    let (ws, pending) = changeset::load_or_report(root)?;
    let state = pre::read(root)?;
    let (plan, _) = plan_for_mode(&ws, &pending, state.as_ref())?;
    if !as_json && let Some(s) = &state {
        match s.mode {
            PreMode::Pre => println!(
                "prerelease mode (tag `{}`): versions are x.y.z-{}.N; {} changeset(s) already prereleased, {} new",
                s.tag,
                s.tag,
                pending.changesets.len() - s.new_changesets(&pending.changesets).len(),
                s.new_changesets(&pending.changesets).len()
            ),
            PreMode::Exit => println!(
                "exiting prerelease mode (tag `{}`): the next `release version` makes the final versions",
                s.tag
            ),
        }
    }
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

fn version(root: &Path, dry_run: bool, semver: &SemverArgs) -> Result<ExitCode> {
    let (ws, pending) = changeset::load_or_report(root)?;
    let state = pre::read(root)?;
    match &state {
        None if pending.changesets.is_empty() => {
            println!("no pending changesets: nothing to version");
            return Ok(ExitCode::SUCCESS);
        }
        Some(s) if s.mode == PreMode::Pre && s.new_changesets(&pending.changesets).is_empty() => {
            println!("no changesets since the last prerelease: nothing to version");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let (plan, listed) = plan_for_mode(&ws, &pending, state.as_ref())?;
    // Before anything is computed or written: a bump the API change does not allow stops here.
    crate::semver_check::gate(
        &ws,
        &pending,
        &plan,
        state.as_ref(),
        semver.off,
        semver.baseline.as_deref(),
    )?;
    let mut edits = edits_with(
        &ws,
        &listed,
        &plan,
        state.as_ref().is_none_or(|s| s.mode == PreMode::Exit),
    )?;
    if let Some(s) = &state {
        let path = pre::path();
        let before = Some(crate::workspace::read(&root.join(&path))?);
        let after = match s.mode {
            PreMode::Pre => {
                let mut next = s.clone();
                next.changesets
                    .extend(listed.changesets.iter().map(|c| c.id.clone()));
                Some(next.to_json())
            }
            PreMode::Exit => None,
        };
        edits.push(Edit {
            path,
            before,
            after,
        });
    }
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
