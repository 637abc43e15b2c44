//! Changesets: one Markdown file per user-visible change in `changesets/`, naming the crates it
//! bumps. `cargo xtask changeset add` writes one; `cargo xtask changeset check` checks them all.

mod add;
pub mod config;
pub mod parse;

use crate::cli::{self, Result};
use crate::workspace::{self, Workspace};
pub use config::{Config, ZeroMajor, parse_config};
pub use parse::{Bump, Changeset, Entry, ParseError, parse};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The folder, relative to the workspace root.
pub const DIR: &str = "changesets";

const HELP: &str = "\
cargo xtask changeset — write and check the files in changesets/

USAGE:
    cargo xtask changeset add [--bump CRATE=KIND]... [--summary TEXT] [--empty] [--root DIR]
    cargo xtask changeset check [--since REV] [--no-semver-check] [--baseline REV] [--root DIR]

add      Writes changesets/<summary-words>.md. KIND is major, minor, patch or none. Without
         --bump, on a terminal, asks for each crate and for the summary.
         --empty writes a changeset that releases nothing (for a change users do not see).
check    Parses every changeset and config.toml; each problem is printed as FILE:LINE: message.
         --since REV also fails when a publishable crate has changed since REV (a commit,
         branch or tag) and no changeset added since then names it (in prerelease mode the
         changesets a prerelease consumed, listed in changesets/pre.json, count too).
         Then the semver check: each publishable crate's public API is compared with its last
         release (the <crate>-v<version> tag, else the last commit that changed its version)
         by cargo-semver-checks; a pending bump lower than the change requires fails, naming
         each offending item. --no-semver-check (or `semver-check = false` in config.toml)
         turns it off; --baseline REV compares every crate with REV instead.
--root   The workspace to work on (default: this one).
";

/// A changeset file of the workspace.
#[derive(Clone, Debug)]
pub struct ChangesetFile {
    /// The file name without `.md`, the JS tool's changeset id.
    pub id: String,
    /// Its path relative to the workspace root.
    pub path: PathBuf,
    /// The parsed content.
    pub changeset: Changeset,
}

impl ChangesetFile {
    /// Parses the bytes of `changesets/<id>.md`.
    pub fn parse(id: &str, bytes: &[u8]) -> Result<Self, ParseError> {
        Ok(ChangesetFile {
            id: id.to_owned(),
            path: Path::new(DIR).join(format!("{id}.md")),
            changeset: parse(bytes)?,
        })
    }
}

/// A problem in a file, at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, relative to the workspace root.
    pub path: PathBuf,
    /// Its line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// The config and every changeset waiting in `changesets/`.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    /// `changesets/config.toml` (defaults when absent).
    pub config: Config,
    /// The changesets, sorted by id.
    pub changesets: Vec<ChangesetFile>,
}

/// Checks a changeset's crate names against the workspace and the config.
pub fn check_entries(ws: &Workspace, config: &Config, cs: &Changeset) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let known: Vec<&str> = ws.crates.iter().map(|c| c.name.as_str()).collect();
    for e in &cs.entries {
        if !known.contains(&e.name.as_str()) {
            problems.push((
                e.line,
                format!(
                    "unknown crate `{}`: the workspace's crates are {}",
                    e.name,
                    known.join(", ")
                ),
            ));
        }
    }
    let ignored: Vec<&Entry> = cs
        .entries
        .iter()
        .filter(|e| config.is_ignored(&e.name))
        .collect();
    if !ignored.is_empty() && ignored.len() < cs.entries.len() {
        for e in ignored {
            problems.push((
                e.line,
                format!(
                    "`{}` is in `ignore` (changesets/config.toml) and cannot share a changeset with \
                     crates that are released: move it to a changeset of its own",
                    e.name
                ),
            ));
        }
    }
    problems
}

/// Reads `changesets/config.toml` and every `changesets/*.md` but README.md, and checks them.
/// Every problem found is returned, each naming its file and line.
pub fn load(ws: &Workspace) -> std::result::Result<Pending, Vec<Diagnostic>> {
    let dir = ws.root.join(DIR);
    let mut diags = Vec::new();
    let config_path = Path::new(DIR).join("config.toml");
    let mut config = Config::default();
    match std::fs::read(ws.root.join(&config_path)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => diags.push(Diagnostic {
            path: config_path.clone(),
            line: 1,
            message: e.to_string(),
        }),
        Ok(bytes) => match String::from_utf8(bytes).map_err(|e| ParseError {
            line: 1,
            message: format!("not valid UTF-8: {e}"),
        }) {
            Ok(text) => match parse_config(&text) {
                Ok(c) => config = c,
                Err(e) => diags.push(Diagnostic {
                    path: config_path.clone(),
                    line: e.line,
                    message: e.message,
                }),
            },
            Err(e) => diags.push(Diagnostic {
                path: config_path.clone(),
                line: e.line,
                message: e.message,
            }),
        },
    }
    for n in config.names() {
        if ws.get(&n.name).is_none() {
            diags.push(Diagnostic {
                path: config_path.clone(),
                line: n.line,
                message: format!("unknown crate `{}` (not a member of the workspace)", n.name),
            });
        }
    }

    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            diags.push(Diagnostic {
                path: PathBuf::from(DIR),
                line: 0,
                message: e.to_string(),
            });
            Vec::new()
        }
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "md")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.eq_ignore_ascii_case("README.md"))
            })
            .collect(),
    };
    files.sort();
    let mut changesets = Vec::new();
    for file in files {
        let path = cli::rel(&ws.root, &file);
        let id = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) => {
                diags.push(Diagnostic {
                    path,
                    line: 1,
                    message: e.to_string(),
                });
                continue;
            }
        };
        match parse(&bytes) {
            Err(e) => diags.push(Diagnostic {
                path,
                line: e.line,
                message: e.message,
            }),
            Ok(changeset) => {
                let problems = check_entries(ws, &config, &changeset);
                if problems.is_empty() {
                    changesets.push(ChangesetFile {
                        id,
                        path,
                        changeset,
                    });
                } else {
                    diags.extend(problems.into_iter().map(|(line, message)| Diagnostic {
                        path: path.clone(),
                        line,
                        message,
                    }));
                }
            }
        }
    }
    if diags.is_empty() {
        Ok(Pending { config, changesets })
    } else {
        Err(diags)
    }
}

/// Loads the workspace and its pending changesets, printing every problem.
pub(crate) fn load_or_report(root: &Path) -> Result<(Workspace, Pending)> {
    let ws = workspace::load(root)?;
    match load(&ws) {
        Ok(p) => Ok((ws, p)),
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            Err(format!(
                "{} problem{} in changesets/ (nothing was changed)",
                diags.len(),
                if diags.len() == 1 { "" } else { "s" }
            )
            .into())
        }
    }
}

/// `cargo xtask changeset …`.
pub fn run(mut args: Vec<String>) -> Result<ExitCode> {
    if args.is_empty() || cli::take_flag(&mut args, "--help") || cli::take_flag(&mut args, "-h") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let sub = args.remove(0);
    let root = cli::take_root(&mut args)?;
    match sub.as_str() {
        "add" => add::run(&root, args),
        "check" => {
            let since = cli::take_value(&mut args, "--since")?;
            let no_semver = cli::take_flag(&mut args, "--no-semver-check");
            let baseline = cli::take_value(&mut args, "--baseline")?;
            cli::no_more(&args, "changeset check")?;
            check(&root, since.as_deref(), no_semver, baseline.as_deref())
        }
        other => Err(format!("unknown `changeset` command `{other}` (add, check)").into()),
    }
}

fn check(
    root: &Path,
    since: Option<&str>,
    no_semver: bool,
    baseline: Option<&str>,
) -> Result<ExitCode> {
    let (ws, pending) = load_or_report(root)?;
    println!(
        "changesets: {} pending, all valid (config: {} fixed, {} linked, {} ignored)",
        pending.changesets.len(),
        pending.config.fixed.len(),
        pending.config.linked.len(),
        pending.config.ignore.len()
    );
    if let Some(rev) = since {
        check_since(root, &ws, &pending, rev)?;
    }
    let state = crate::release::pre::read(root)?;
    let (plan, _) = crate::release::plan_for_mode(&ws, &pending, state.as_ref())?;
    crate::semver_check::gate(&ws, &pending, &plan, state.as_ref(), no_semver, baseline)?;
    Ok(ExitCode::SUCCESS)
}

/// `--since REV`: every publishable crate changed since `rev` is named by a changeset added
/// since then.
fn check_since(root: &Path, ws: &Workspace, pending: &Pending, rev: &str) -> Result<()> {
    let changed = changed_files(root, rev)?;
    // In prerelease mode the changesets a prerelease consumed stay in changesets/ (listed in
    // pre.json) while that prerelease's version commit changes the crates they name: they still
    // count, even when they were added before `rev`.
    let consumed = crate::release::pre::read(root)?
        .map(|s| s.changesets)
        .unwrap_or_default();
    let mentioned: Vec<&str> = pending
        .changesets
        .iter()
        .filter(|c| changed.iter().any(|p| Path::new(p) == c.path) || consumed.contains(&c.id))
        .flat_map(|c| c.changeset.entries.iter().map(|e| e.name.as_str()))
        .collect();
    let mut missing = Vec::new();
    for c in ws
        .crates
        .iter()
        .filter(|c| c.publishable && !pending.config.is_ignored(&c.name))
    {
        let files: Vec<&String> = changed
            .iter()
            .filter(|p| owner(ws, Path::new(p)) == Some(c.name.as_str()))
            .collect();
        if !files.is_empty() && !mentioned.contains(&c.name.as_str()) {
            let shown: Vec<&str> = files.iter().take(3).map(|s| s.as_str()).collect();
            let more = if files.len() > 3 { ", …" } else { "" };
            eprintln!(
                "{} changed since {rev} ({}{more}) but no changeset added since then names it",
                c.name,
                shown.join(", ")
            );
            missing.push(c.name.as_str());
        }
    }
    if missing.is_empty() {
        println!("every publishable crate changed since {rev} has a changeset");
        Ok(())
    } else {
        Err(format!(
            "{} without a changeset: run `cargo xtask changeset add` (bump `none` for a change users do not see)",
            missing.join(", ")
        )
        .into())
    }
}

/// The crate whose directory holds `path` (the deepest one).
fn owner<'a>(ws: &'a Workspace, path: &Path) -> Option<&'a str> {
    ws.crates
        .iter()
        .filter(|c| path.starts_with(&c.dir))
        .max_by_key(|c| c.dir.components().count())
        .map(|c| c.name.as_str())
}

/// Files changed since `rev` (committed or not) plus untracked ones, relative to the root
/// (`git -C root` with `--relative` answers relative to the root).
fn changed_files(root: &Path, rev: &str) -> Result<Vec<String>> {
    let git = |args: &[&str]| -> Result<Vec<String>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    };
    let mut files = git(&["diff", "--name-only", "--relative", rev, "--"])?;
    files.extend(git(&["ls-files", "--others", "--exclude-standard"])?);
    files.sort();
    files.dedup();
    Ok(files)
}
