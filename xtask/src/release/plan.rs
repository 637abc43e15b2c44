//! The release plan: which crates a set of changesets releases, and at which versions.
//!
//! The rules are the JS changesets tool's, adapted to Cargo:
//! - several changesets for one crate: the highest bump wins; `none` releases nothing but is
//!   listed (type `none`);
//! - a `fixed` group: when any member is bumped, every member is, by the group's highest bump,
//!   to one shared version (the highest current version of the group, bumped);
//! - a `linked` group: the members that are released take the highest bump among them and
//!   share one version: the highest current version of the whole group (released members or
//!   not), bumped; members without changes stay as they are;
//! - dependents: a crate whose normal or build dependency on a released crate has a version
//!   requirement the new version no longer matches gets (at least) a patch bump, transitively.
//!   Dev-dependencies never cause a release;
//! - crates in `ignore` are never released;
//! - below 1.0.0, `major` follows the config's `zero-major` policy.

use crate::changeset::{Bump, ChangesetFile, Config, ZeroMajor};
use crate::workspace::{DepKind, Workspace};
use semver::{Prerelease, Version, VersionReq};
use std::collections::BTreeMap;

/// One crate's release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The crate.
    pub name: String,
    /// The effective bump (`none`: listed by a changeset, not released).
    pub bump: Bump,
    /// Its version now.
    pub old_version: Version,
    /// Its version after `release version`.
    pub new_version: Version,
    /// The ids of the changesets that name it (with any bump).
    pub changesets: Vec<String>,
    /// False for `publish = false`: versioned, never published or tagged.
    pub publishable: bool,
}

/// Every release a set of changesets makes, sorted by crate name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The releases.
    pub releases: Vec<Release>,
}

impl Plan {
    /// The release of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name == name)
    }

    /// The releases that change a version.
    pub fn bumped(&self) -> impl Iterator<Item = &Release> {
        self.releases.iter().filter(|r| r.bump > Bump::None)
    }
}

/// `version` bumped by `bump` under the 0.x `policy`.
///
/// A prerelease version is first released as itself: `1.0.0-beta.2` + patch → `1.0.0`.
pub fn bump_version(version: &Version, bump: Bump, policy: ZeroMajor) -> Version {
    let mut v = version.clone();
    v.build = semver::BuildMetadata::EMPTY;
    let pre = !v.pre.is_empty();
    v.pre = Prerelease::EMPTY;
    match bump {
        Bump::None => return version.clone(),
        Bump::Patch => {
            if !pre {
                v.patch += 1;
            }
        }
        Bump::Minor => {
            if !(pre && v.patch == 0) {
                v.minor += 1;
                v.patch = 0;
            }
        }
        Bump::Major if v.major == 0 && policy == ZeroMajor::Minor => {
            if !(pre && v.patch == 0) {
                v.minor += 1;
                v.patch = 0;
            }
        }
        Bump::Major => {
            if !(pre && v.minor == 0 && v.patch == 0) {
                v.major += 1;
                v.minor = 0;
                v.patch = 0;
            }
        }
    }
    v
}

/// Builds the plan; an error for a config that groups a crate twice or names an unknown crate.
pub fn plan(ws: &Workspace, config: &Config, changesets: &[ChangesetFile]) -> Result<Plan, String> {
    plan_with(ws, config, changesets, &BTreeMap::new())
}

/// [`plan`], with `seeds`: crates released (at least) by these bumps whatever the changesets
/// say (prerelease mode: the crates already prereleased stay in the release).
pub fn plan_with(
    ws: &Workspace,
    config: &Config,
    changesets: &[ChangesetFile],
    seeds: &BTreeMap<String, Bump>,
) -> Result<Plan, String> {
    // A config built in code is checked here too (parse_config checks files).
    let mut grouped: Vec<&str> = Vec::new();
    for n in config.fixed.iter().chain(&config.linked).flatten() {
        if grouped.contains(&n.name.as_str()) {
            return Err(format!(
                "`{}` is in two groups of the config: a crate can be in one group only",
                n.name
            ));
        }
        if ws.get(&n.name).is_none() {
            return Err(format!(
                "the config names `{}`, which is not a workspace crate",
                n.name
            ));
        }
        grouped.push(&n.name);
    }

    let mut bumps: BTreeMap<String, Bump> = BTreeMap::new();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cs in changesets {
        for e in &cs.changeset.entries {
            if ws.get(&e.name).is_none() {
                return Err(format!(
                    "{}:{}: unknown crate `{}`",
                    cs.path.display(),
                    e.line,
                    e.name
                ));
            }
            if config.is_ignored(&e.name) {
                continue;
            }
            let b = bumps.entry(e.name.clone()).or_insert(Bump::None);
            *b = (*b).max(e.bump);
            ids.entry(e.name.clone()).or_default().push(cs.id.clone());
        }
    }

    for (name, seed) in seeds {
        if ws.get(name).is_some() && !config.is_ignored(name) {
            let b = bumps.entry(name.clone()).or_insert(Bump::None);
            *b = (*b).max(*seed);
        }
    }

    let mut versions;
    loop {
        let mut changed = false;
        let mut raise = |bumps: &mut BTreeMap<String, Bump>, name: &str, to: Bump| {
            let b = bumps.entry(name.to_owned()).or_insert(Bump::None);
            if *b < to {
                *b = to;
                changed = true;
            }
        };
        for group in &config.fixed {
            let top = group
                .iter()
                .filter_map(|n| bumps.get(&n.name))
                .max()
                .copied();
            if let Some(top @ (Bump::Patch | Bump::Minor | Bump::Major)) = top {
                for n in group {
                    raise(&mut bumps, &n.name, top);
                }
            }
        }
        for group in &config.linked {
            let released: Vec<&str> = group
                .iter()
                .filter(|n| bumps.get(&n.name).is_some_and(|b| *b > Bump::None))
                .map(|n| n.name.as_str())
                .collect();
            let top = released.iter().filter_map(|n| bumps.get(*n)).max().copied();
            if let Some(top) = top {
                for n in released {
                    raise(&mut bumps, n, top);
                }
            }
        }
        versions = new_versions(ws, config, &bumps);
        for c in &ws.crates {
            if config.is_ignored(&c.name) {
                continue;
            }
            for d in c.deps.iter().filter(|d| d.kind != DepKind::Dev) {
                let (Some(new), Some(req)) = (versions.get(&d.name), &d.req) else {
                    continue;
                };
                // A requirement that cannot be parsed is Cargo's to report; treat it as broken.
                let matches = VersionReq::parse(req).is_ok_and(|r| r.matches(new));
                if !matches {
                    raise(&mut bumps, &c.name, Bump::Patch);
                }
            }
        }
        if !changed {
            break;
        }
    }

    let releases = bumps
        .into_iter()
        .filter_map(|(name, bump)| {
            let c = ws.get(&name)?;
            Some(Release {
                new_version: versions
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| c.version.clone()),
                old_version: c.version.clone(),
                changesets: ids.remove(&name).unwrap_or_default(),
                publishable: c.publishable,
                bump,
                name,
            })
        })
        .collect();
    Ok(Plan { releases })
}

/// The new version of every crate with a bump above `none`.
fn new_versions(
    ws: &Workspace,
    config: &Config,
    bumps: &BTreeMap<String, Bump>,
) -> BTreeMap<String, Version> {
    let mut out = BTreeMap::new();
    let policy = config.zero_major;
    for (name, bump) in bumps.iter().filter(|(_, b)| **b > Bump::None) {
        let Some(c) = ws.get(name) else { continue };
        out.insert(name.clone(), bump_version(&c.version, *bump, policy));
    }
    for group in &config.fixed {
        let all: Vec<&str> = group.iter().map(|n| n.name.as_str()).collect();
        set_shared(ws, &mut out, bumps, &all, &all, policy);
    }
    for group in &config.linked {
        // As the JS tool's `applyLinks`: the released members start from the highest current
        // version of the whole group, released or not (its `getCurrentHighestVersion`).
        let all: Vec<&str> = group.iter().map(|n| n.name.as_str()).collect();
        let released: Vec<&str> = all
            .iter()
            .copied()
            .filter(|n| out.contains_key(*n))
            .collect();
        set_shared(ws, &mut out, bumps, &all, &released, policy);
    }
    out
}

/// Gives every crate of `released` the highest current version among `base_of`, bumped by the
/// highest bump among `released`.
fn set_shared(
    ws: &Workspace,
    out: &mut BTreeMap<String, Version>,
    bumps: &BTreeMap<String, Bump>,
    base_of: &[&str],
    released: &[&str],
    policy: ZeroMajor,
) {
    let released: Vec<&str> = released
        .iter()
        .copied()
        .filter(|n| ws.get(n).is_some())
        .collect();
    let Some(bump) = released.iter().filter_map(|n| bumps.get(*n)).max().copied() else {
        return;
    };
    if bump == Bump::None {
        return;
    }
    let Some(base) = base_of
        .iter()
        .filter_map(|n| ws.get(n))
        .map(|c| &c.version)
        .max()
    else {
        return;
    };
    let shared = bump_version(base, bump, policy);
    for n in released {
        out.insert(n.to_owned(), shared.clone());
    }
}

/// The requirement `req` rewritten for `new`: a plain, `^`, `~` or `=` requirement keeps its
/// operator and names the full new version (`0.1` → `0.2.0`, `=0.1.0` → `=0.2.0`); a compound
/// requirement stays when it still matches, else becomes the new version.
pub fn rewrite_req(req: &str, new: &Version) -> String {
    let t = req.trim();
    let (op, rest) = match t.chars().next() {
        Some(c @ ('^' | '~' | '=')) => (c.to_string(), t[1..].trim()),
        _ => (String::new(), t),
    };
    let simple = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        && rest.starts_with(|c: char| c.is_ascii_digit());
    if simple {
        format!("{op}{new}")
    } else if VersionReq::parse(t).is_ok_and(|r| r.matches(new)) {
        t.to_owned()
    } else {
        new.to_string()
    }
}
