//! Prerelease mode, as the JS tool's `changeset pre enter <tag>` / `pre exit`.
//!
//! `changesets/pre.json` holds the state, in the JS tool's shape:
//! `{"mode": "pre" | "exit", "tag": "beta", "initialVersions": {crate: version}, "changesets": [ids]}`.
//!
//! - While `mode` is `pre`, `release version` plans every changeset accumulated since entering
//!   against the `initialVersions`, which gives each crate's base `x.y.z`, and versions the crates
//!   `x.y.z-<tag>.N`: `N` is 0 for the first prerelease of that base, then counts up. The
//!   changesets stay in `changesets/`; their ids are recorded in `changesets` (a changelog section
//!   lists only the new ones). As in the JS tool, a crate already prereleased stays in every
//!   later prerelease (at least a patch from its initial version), so each `version` run moves it
//!   to the next `N`.
//! - `pre exit` sets `mode` to `exit`: the next `release version` gives the final versions from
//!   every changeset since entering (its changelog sections list them all), removes those
//!   changesets and `pre.json`.

use super::plan::{Plan, plan_with};
use crate::changeset::{Bump, ChangesetFile, Config, DIR};
use crate::workspace::{DepKind, Workspace};
use semver::{Prerelease, Version, VersionReq};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `changesets/pre.json`, relative to the workspace root.
pub fn path() -> PathBuf {
    Path::new(DIR).join("pre.json")
}

/// `pre` (prereleasing) or `exit` (the next `release version` makes the final versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In prerelease mode.
    Pre,
    /// Leaving it at the next `release version`.
    Exit,
}

/// The content of `changesets/pre.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreState {
    /// `pre` or `exit`.
    pub mode: Mode,
    /// The prerelease tag (`beta` in `1.0.0-beta.0`).
    pub tag: String,
    /// Every crate's version when entering.
    pub initial_versions: BTreeMap<String, Version>,
    /// The ids of the changesets already in a prerelease.
    pub changesets: Vec<String>,
}

/// Checks a prerelease tag: `[0-9A-Za-z-]+`, not only digits.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty()
        || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || tag.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!(
            "bad prerelease tag `{tag}`: use letters, digits and `-` (not only digits), e.g. `beta` or `rc`"
        ));
    }
    Ok(())
}

impl PreState {
    /// The state `pre enter <tag>` writes: every crate's current version, no changeset yet.
    pub fn enter(ws: &Workspace, tag: &str) -> Result<Self, String> {
        check_tag(tag)?;
        Ok(PreState {
            mode: Mode::Pre,
            tag: tag.to_owned(),
            initial_versions: ws
                .crates
                .iter()
                .map(|c| (c.name.clone(), c.version.clone()))
                .collect(),
            changesets: Vec::new(),
        })
    }

    /// Parses `pre.json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let mode = match v["mode"].as_str() {
            Some("pre") => Mode::Pre,
            Some("exit") => Mode::Exit,
            _ => return Err("`mode` must be \"pre\" or \"exit\"".to_owned()),
        };
        let tag = v["tag"]
            .as_str()
            .ok_or("`tag` must be a string")?
            .to_owned();
        check_tag(&tag)?;
        let mut initial_versions = BTreeMap::new();
        for (name, version) in v["initialVersions"]
            .as_object()
            .ok_or("`initialVersions` must be an object")?
        {
            let version = version
                .as_str()
                .and_then(|s| Version::parse(s).ok())
                .ok_or_else(|| format!("`initialVersions.{name}` is not a version"))?;
            initial_versions.insert(name.clone(), version);
        }
        let changesets = v["changesets"]
            .as_array()
            .ok_or("`changesets` must be an array")?
            .iter()
            .map(|id| id.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("`changesets` must hold strings")?;
        Ok(PreState {
            mode,
            tag,
            initial_versions,
            changesets,
        })
    }

    /// `pre.json`'s text, keys in the JS tool's order, two-space indent.
    pub fn to_json(&self) -> String {
        let s = |x: &str| Value::from(x).to_string();
        let mode = match self.mode {
            Mode::Pre => "pre",
            Mode::Exit => "exit",
        };
        let versions: Vec<String> = self
            .initial_versions
            .iter()
            .map(|(n, v)| format!("    {}: {}", s(n), s(&v.to_string())))
            .collect();
        let ids: Vec<String> = self
            .changesets
            .iter()
            .map(|i| format!("    {}", s(i)))
            .collect();
        let block = |items: Vec<String>, open: &str, close: &str| {
            if items.is_empty() {
                format!("{open}{close}")
            } else {
                format!("{open}\n{}\n  {close}", items.join(",\n"))
            }
        };
        format!(
            "{{\n  \"mode\": {},\n  \"tag\": {},\n  \"initialVersions\": {},\n  \"changesets\": {}\n}}\n",
            s(mode),
            s(&self.tag),
            block(versions, "{", "}"),
            block(ids, "[", "]"),
        )
    }

    /// The changesets not yet in a prerelease.
    pub fn new_changesets<'a>(&self, all: &'a [ChangesetFile]) -> Vec<&'a ChangesetFile> {
        all.iter()
            .filter(|c| !self.changesets.contains(&c.id))
            .collect()
    }
}

/// Reads `changesets/pre.json` under `root`, if there is one.
pub fn read(root: &Path) -> Result<Option<PreState>, String> {
    let rel = path();
    match std::fs::read_to_string(root.join(&rel)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", rel.display())),
        Ok(text) => PreState::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", rel.display())),
    }
}

/// The bump that takes `from` to `to` (at least a patch).
fn bump_between(from: &Version, to: &Version) -> Bump {
    if to.major != from.major {
        Bump::Major
    } else if to.minor != from.minor {
        Bump::Minor
    } else {
        Bump::Patch
    }
}

/// `base-tag.N`: `N` one more than `current`'s when `current` is a `tag` prerelease of `base`,
/// else 0.
pub fn pre_version(current: &Version, base: &Version, tag: &str) -> Version {
    let same_base =
        (current.major, current.minor, current.patch) == (base.major, base.minor, base.patch);
    let n = current
        .pre
        .as_str()
        .strip_prefix(tag)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|_| same_base)
        .map_or(0, |n| n + 1);
    let mut v = base.clone();
    v.build = semver::BuildMetadata::EMPTY;
    // A valid tag (checked) and a number always make a valid prerelease.
    v.pre = Prerelease::new(&format!("{tag}.{n}")).unwrap_or(Prerelease::EMPTY);
    v
}

/// The plan of a `release version` in prerelease mode (or leaving it, for `mode: exit`), from
/// `changesets` (every changeset accumulated since entering).
pub fn plan(
    ws: &Workspace,
    config: &Config,
    changesets: &[ChangesetFile],
    state: &PreState,
) -> Result<Plan, String> {
    let mut initial = ws.clone();
    let mut seeds = BTreeMap::new();
    for c in &mut initial.crates {
        let Some(v) = state.initial_versions.get(&c.name) else {
            continue;
        };
        if *v != c.version {
            // Already prereleased since entering: it stays in the release.
            seeds.insert(c.name.clone(), bump_between(v, &c.version));
        }
        c.version = v.clone();
    }
    loop {
        let mut plan = plan_with(&initial, config, changesets, &seeds)?;
        for r in &mut plan.releases {
            let current = ws
                .get(&r.name)
                .map_or_else(|| r.old_version.clone(), |c| c.version.clone());
            if r.bump == Bump::None {
                r.new_version = current.clone();
            } else if state.mode == Mode::Pre {
                r.new_version = pre_version(&current, &r.new_version, &state.tag);
            }
            r.old_version = current;
        }
        // A requirement matching the base `x.y.z` may still miss `x.y.z-tag.N` (`0.1` does not
        // match `0.1.1-beta.0`): such a dependent is released too (its requirement changes).
        let mut changed = false;
        for c in ws.crates.iter().filter(|c| !config.is_ignored(&c.name)) {
            if plan.get(&c.name).is_some_and(|r| r.bump > Bump::None) {
                continue;
            }
            let stale = c.deps.iter().filter(|d| d.kind != DepKind::Dev).any(|d| {
                let (Some(r), Some(req)) = (plan.get(&d.name), &d.req) else {
                    return false;
                };
                r.bump > Bump::None
                    && !VersionReq::parse(req).is_ok_and(|q| q.matches(&r.new_version))
            });
            if stale {
                seeds.insert(c.name.clone(), Bump::Patch);
                changed = true;
            }
        }
        if !changed {
            return Ok(plan);
        }
    }
}
