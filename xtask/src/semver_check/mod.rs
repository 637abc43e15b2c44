//! Semver-checked bumps: the pending changesets' bump for each publishable crate must be at
//! least what its public API change since its last release requires, as cargo-semver-checks
//! finds it.
//!
//! - The last release ([`baseline`]): the `<crate>-v<version>` tag, else the last commit that
//!   changed the crate's version to that one; otherwise the crate is skipped with a note ("no
//!   earlier release"). `--baseline REV` names the revision instead, for every crate.
//! - Both APIs are rustdoc JSON ([`rustdoc`]); a baseline's JSON is kept under `target/`, keyed
//!   by commit and toolchain, so only the first check of a release builds it.
//! - cargo-semver-checks at a pinned version ([`tool`]) lists the lints that fail; each lint
//!   requires a `major` or `minor` release, which the 0.x rule turns into a bump: on 0.y.z
//!   (y > 0) a breaking change needs `minor` (0.y → 0.y+1 is Cargo's breaking step) and an
//!   addition needs `patch`; on 0.0.z every release is breaking, so `patch` does.
//! - The declared bump is the release plan's (groups and dependents included); `none` when no
//!   changeset releases the crate.

pub mod baseline;
pub mod rustdoc;
pub mod tool;

use crate::changeset::{Bump, Pending};
use crate::release::{Plan, PreState};
use crate::workspace::Workspace;
use baseline::{Found, History};
use semver::Version;
use std::time::Instant;
pub use tool::{CARGO_SEMVER_CHECKS_VERSION, Failure, Level};

/// One crate's result.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Not compared: the note says why.
    Skipped {
        /// The crate.
        name: String,
        /// E.g. "no earlier release".
        note: String,
    },
    /// Compared with its baseline.
    Checked(Verdict),
}

/// A crate compared with its last release.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The crate.
    pub name: String,
    /// The version compared (its version now; in prerelease mode the one it had on entering).
    pub version: Version,
    /// The baseline, as found (`a-v0.1.0`, `commit 1a2b3c4d5e`, or the revision given).
    pub against: String,
    /// The plan's bump.
    pub declared: Bump,
    /// What the API change needs.
    pub required: Bump,
    /// The failed lints.
    pub failures: Vec<Failure>,
}

impl Verdict {
    /// Whether the declared bump covers the change.
    pub fn ok(&self) -> bool {
        self.declared >= self.required
    }

    /// `minor required (0.x)`, `major required`, `nothing required`.
    pub fn required_text(&self) -> String {
        if self.required == Bump::None {
            return "nothing required".to_owned();
        }
        let why = match (self.version.major, self.version.minor) {
            (0, 0) => " (0.0.x)",
            (0, _) => " (0.x)",
            _ => "",
        };
        format!("{} required{why}", self.required)
    }
}

/// The bump a lint of `level` requires of a crate at `version`.
pub fn required(level: Level, version: &Version) -> Bump {
    match (level, version.major, version.minor) {
        (Level::Major, 0, 0) => Bump::Patch,
        (Level::Major, 0, _) => Bump::Minor,
        (Level::Major, _, _) => Bump::Major,
        (Level::Minor, 0, _) => Bump::Patch,
        (Level::Minor, _, _) => Bump::Minor,
    }
}

/// Compares every publishable, released-by-changesets crate with its last release. Progress
/// goes to stderr, a line per step. An error for a baseline that does not exist or does not
/// build, or a missing cargo-semver-checks (only needed when some crate has a baseline).
pub fn check(
    ws: &Workspace,
    pending: &Pending,
    plan: &Plan,
    pre: Option<&PreState>,
    given: Option<&str>,
) -> Result<Vec<Outcome>, String> {
    let root = ws.root.as_path();
    let mut history = History::open(root)?;
    let mut outcomes = Vec::new();
    let mut todo = Vec::new();
    for c in ws
        .crates
        .iter()
        .filter(|c| c.publishable && !pending.config.is_ignored(&c.name))
    {
        let version = pre
            .and_then(|s| s.initial_versions.get(&c.name))
            .unwrap_or(&c.version)
            .clone();
        let skip = |note: String| Outcome::Skipped {
            name: c.name.clone(),
            note,
        };
        let Some(history) = history.as_mut() else {
            outcomes.push(skip("no earlier release (not a git repository)".to_owned()));
            continue;
        };
        let found = match given {
            Some(rev) => history.given(c, rev)?,
            None => history.find(c, &version)?,
        };
        match found {
            Found::NoRelease(note) => outcomes.push(skip(note)),
            Found::Release(b) => match rustdoc::lib_name(&root.join(&c.dir), &c.name)? {
                None => outcomes.push(skip("no library target: no API to check".to_owned())),
                Some(lib) => todo.push((c, version, b, lib)),
            },
        }
    }
    if todo.is_empty() {
        return Ok(outcomes);
    }
    let tool = tool::Tool::find()?;
    let cache = rustdoc::Cache::new(root)?;
    for (c, version, b, lib) in todo {
        let short = &b.commit[..b.commit.len().min(10)];
        let start = Instant::now();
        if cache.cached(&c.name, &b.commit).is_some() {
            eprintln!(
                "semver: {} {version}: baseline {} ({short}): rustdoc from the cache",
                c.name, b.label
            );
        } else {
            eprintln!(
                "semver: {} {version}: baseline {} ({short}): building its rustdoc JSON (a cold build compiles the dependencies first)…",
                c.name, b.label
            );
        }
        let base = cache.baseline(root, c, &b)?;
        eprintln!(
            "semver: {}: building the working tree's rustdoc JSON… ({} so far)",
            c.name,
            rustdoc::secs(start)
        );
        let now = cache.current(root, c, &lib)?;
        eprintln!(
            "semver: {}: comparing with cargo-semver-checks… ({} so far)",
            c.name,
            rustdoc::secs(start)
        );
        let failures = tool
            .compare(&base, &now)
            .map_err(|e| format!("{}: against {} ({short}): {e}", c.name, b.label))?;
        let need = failures
            .iter()
            .map(|f| required(f.level, &version))
            .max()
            .unwrap_or(Bump::None);
        eprintln!("semver: {}: done in {}", c.name, rustdoc::secs(start));
        outcomes.push(Outcome::Checked(Verdict {
            name: c.name.clone(),
            declared: plan.get(&c.name).map_or(Bump::None, |r| r.bump),
            required: need,
            against: b.label,
            version,
            failures,
        }));
    }
    outcomes.sort_by(|a, b| name(a).cmp(name(b)));
    Ok(outcomes)
}

fn name(o: &Outcome) -> &str {
    match o {
        Outcome::Skipped { name, .. } => name,
        Outcome::Checked(v) => &v.name,
    }
}

/// Prints each outcome (a crate whose bump is too low to stderr, with its offending items) and
/// fails when any bump is too low.
pub fn report(outcomes: &[Outcome]) -> Result<(), String> {
    let mut low = Vec::new();
    for o in outcomes {
        match o {
            Outcome::Skipped { name, note } => println!("semver check: {name}: skipped, {note}"),
            Outcome::Checked(v) if v.ok() => println!(
                "semver check: {}: declared {}, {} (against {}): ok",
                v.name,
                v.declared,
                v.required_text(),
                v.against
            ),
            Outcome::Checked(v) => {
                eprintln!(
                    "semver check: {}: declared {}, {} (against {}):",
                    v.name,
                    v.declared,
                    v.required_text(),
                    v.against
                );
                for f in v
                    .failures
                    .iter()
                    .filter(|f| required(f.level, &v.version) > v.declared)
                {
                    eprintln!("  {} ({}): {}", f.lint, level_word(f.level), f.description);
                    for item in &f.items {
                        eprintln!("    {item}");
                    }
                }
                low.push(v.name.as_str());
            }
        }
    }
    if low.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "semver check failed: the pending changesets declare less than the public API change of {} requires; raise the bump (`cargo xtask changeset add`), or pass --no-semver-check",
            low.join(", ")
        ))
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Major => "breaking",
        Level::Minor => "addition",
    }
}

/// Whether the check is on (`--no-semver-check` and `semver-check = false` turn it off, each
/// saying so on stderr), then the check and its report. The entry point of `changeset check`
/// and `release version`.
pub(crate) fn gate(
    ws: &Workspace,
    pending: &Pending,
    plan: &Plan,
    pre: Option<&PreState>,
    flag_off: bool,
    given: Option<&str>,
) -> Result<(), String> {
    if flag_off || !pending.config.semver_check {
        let why = if flag_off {
            "--no-semver-check"
        } else {
            "semver-check = false in changesets/config.toml"
        };
        eprintln!(
            "warning: semver check OFF ({why}): the declared bumps are NOT checked against the public API"
        );
        return Ok(());
    }
    report(&check(ws, pending, plan, pre, given)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_0x_rule() {
        let v = |s: &str| Version::parse(s).expect("version");
        for (level, version, want) in [
            (Level::Major, "1.2.3", Bump::Major),
            (Level::Minor, "1.2.3", Bump::Minor),
            (Level::Major, "0.2.3", Bump::Minor),
            (Level::Minor, "0.2.3", Bump::Patch),
            (Level::Major, "0.0.3", Bump::Patch),
        ] {
            assert_eq!(required(level, &v(version)), want, "{level:?} on {version}");
        }
    }
}
