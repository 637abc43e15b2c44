//! The cargo-semver-checks binary, at the pinned version: runs it on two rustdoc JSON files and
//! reads its report.

use crate::cli;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// The cargo-semver-checks version xtask reads the output of. `.ci/run` installs this one
/// (it reads the line below), and a different one is refused: its lints and its report's
/// layout change between versions.
pub const CARGO_SEMVER_CHECKS_VERSION: &str = "0.51.0";

/// The command that installs the pinned version.
pub fn install_hint() -> String {
    format!("cargo install cargo-semver-checks --locked --version {CARGO_SEMVER_CHECKS_VERSION}")
}

/// What a lint says a change needs, in semver terms (cargo-semver-checks' `--list` "type").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// An addition users can see (e.g. `#[must_use]` added): a minor release on 1.x.
    Minor,
    /// A breaking change: a major release on 1.x.
    Major,
}

/// One failed lint: what it found and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The lint's id, e.g. `function_missing`.
    pub lint: String,
    /// Its one-line description, e.g. `pub fn removed or renamed`.
    pub description: String,
    /// What it requires.
    pub level: Level,
    /// Each offending item, as cargo-semver-checks words it, with its file and line
    /// (`function a::removed, previously in file crates/a/src/lib.rs:7`).
    pub items: Vec<String>,
}

/// The installed binary, checked against the pin, with its lints' levels.
pub struct Tool {
    levels: HashMap<String, Level>,
}

fn run(args: &[&str]) -> Result<std::process::Output, String> {
    Command::new(cli::cargo())
        .arg("semver-checks")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))
}

impl Tool {
    /// Finds cargo-semver-checks; an error saying how to install it when it is missing or is
    /// not the pinned version.
    pub fn find() -> Result<Self, String> {
        let version = run(&["--version"])?;
        let found = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        if !version.status.success() || found.is_empty() {
            return Err(format!(
                "cargo-semver-checks is not installed: run `{}` (or pass --no-semver-check)",
                install_hint()
            ));
        }
        if found != format!("cargo-semver-checks {CARGO_SEMVER_CHECKS_VERSION}") {
            return Err(format!(
                "found {found}, but xtask reads the report of cargo-semver-checks {CARGO_SEMVER_CHECKS_VERSION}: run `{}`",
                install_hint()
            ));
        }
        let list = run(&["--list"])?;
        if !list.status.success() {
            return Err(format!(
                "`cargo semver-checks --list` failed: {}",
                String::from_utf8_lossy(&list.stderr).trim()
            ));
        }
        Ok(Tool {
            levels: levels(&String::from_utf8_lossy(&list.stdout)),
        })
    }

    /// Compares two rustdoc JSON files; every failed lint.
    pub fn compare(&self, baseline: &Path, current: &Path) -> Result<Vec<Failure>, String> {
        let out = Command::new(cli::cargo())
            .args(["semver-checks", "check-release", "--color", "never"])
            // The lowest release type, so that every lint that requires more reports a failure;
            // xtask then weighs them against the declared bump itself (its 0.x policy).
            .args(["--release-type", "patch"])
            .arg("--baseline-rustdoc")
            .arg(baseline)
            .arg("--current-rustdoc")
            .arg(current)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run cargo semver-checks: {e}"))?;
        let failures = failures(&String::from_utf8_lossy(&out.stdout), &self.levels);
        if !out.status.success() && failures.is_empty() {
            return Err(format!(
                "cargo semver-checks failed without a report:\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(failures)
    }
}

/// Lint id → level, from `cargo semver-checks --list` (`id  type  description` rows).
fn levels(list: &str) -> HashMap<String, Level> {
    list.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let id = words.next()?;
            let level = match words.next()? {
                "major" => Level::Major,
                "minor" => Level::Minor,
                _ => return None,
            };
            Some((id.to_owned(), level))
        })
        .collect()
}

/// The failed lints of a `check-release` report (its stdout):
///
/// ```text
/// --- failure function_missing: pub fn removed or renamed ---
/// …
/// Failed in:
///   function a::removed, previously in file crates/a/src/lib.rs:7
/// ```
///
/// Warnings (`--- warning …`) are left out: they do not fail a release.
fn failures(report: &str, levels: &HashMap<String, Level>) -> Vec<Failure> {
    let mut out: Vec<Failure> = Vec::new();
    // Inside a failure's block (not a warning's), and inside its "Failed in:" list.
    let mut in_failure = false;
    let mut in_items = false;
    for line in report.lines() {
        if let Some(head) = line
            .strip_prefix("--- failure ")
            .and_then(|h| h.strip_suffix(" ---"))
        {
            let (lint, description) = head.split_once(": ").unwrap_or((head, ""));
            out.push(Failure {
                lint: lint.to_owned(),
                description: description.to_owned(),
                // A lint this version's list lacks cannot happen with the pinned binary; if it
                // does, treat it as breaking rather than let it pass.
                level: levels.get(lint).copied().unwrap_or(Level::Major),
                items: Vec::new(),
            });
            in_failure = true;
            in_items = false;
        } else if line.starts_with("--- ") {
            in_failure = false;
            in_items = false;
        } else if line.trim_end() == "Failed in:" {
            in_items = in_failure;
        } else if in_items && line.starts_with("  ") && !line.trim().is_empty() {
            if let Some(f) = out.last_mut() {
                f.items.push(line.trim().to_owned());
            }
        } else if line.trim().is_empty() {
            in_items = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report layout of the pinned version (a real run's stdout, shortened).
    const REPORT: &str = "
--- failure function_missing: pub fn removed or renamed ---

Description:
A publicly-visible function cannot be imported by its prior path.
        ref: https://doc.rust-lang.org/cargo/reference/semver.html#item-remove

Failed in:
  function a::removed, previously in file crates/a/src/lib.rs:7
  function a::gone, previously in file crates/a/src/lib.rs:9

--- warning function_must_use_added: function #[must_use] added ---

Failed in:
  function a::kept in file crates/a/src/lib.rs:4

--- failure struct_must_use_added: struct #[must_use] added ---

Failed in:
  struct a::S in file crates/a/src/lib.rs:12
";

    #[test]
    fn reads_failures_with_levels_and_items() {
        let levels = levels(
            "id  type  description\n==  ====  ===\nfunction_missing  major  A fn went.\nstruct_must_use_added  minor  x\n",
        );
        let got = failures(REPORT, &levels);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].lint, "function_missing");
        assert_eq!(got[0].description, "pub fn removed or renamed");
        assert_eq!(got[0].level, Level::Major);
        assert_eq!(
            got[0].items,
            [
                "function a::removed, previously in file crates/a/src/lib.rs:7",
                "function a::gone, previously in file crates/a/src/lib.rs:9"
            ]
        );
        assert_eq!(got[1].level, Level::Minor);
        assert_eq!(got[1].items, ["struct a::S in file crates/a/src/lib.rs:12"]);
    }

    #[test]
    fn an_unlisted_lint_counts_as_breaking() {
        let got = failures(REPORT, &HashMap::new());
        assert!(got.iter().all(|f| f.level == Level::Major));
    }
}
