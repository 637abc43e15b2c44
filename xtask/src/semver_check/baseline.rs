//! A crate's last release, read from git: the `<crate>-v<version>` tag when there is one, else
//! the last commit that changed its version to that one. A version that was only ever
//! introduced (the crate appeared with it) and never changed has had no release.

use crate::workspace::Crate;
use semver::Version;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use toml_edit::{DocumentMut, Item};

/// The revision a crate's public API is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    /// How it was found, for messages: the tag, or `commit 1a2b3c4d`, or the revision given.
    pub label: String,
    /// The full commit hash (the cache key of its rustdoc).
    pub commit: String,
}

/// A crate's baseline, or why it has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// Compare with this revision.
    Release(Baseline),
    /// Nothing to compare with; the note says why.
    NoRelease(String),
}

/// Runs `git -C root args…`: its stdout, or `None` when git says no (a missing revision or
/// file); an error only when git cannot run at all.
fn git(root: &Path, args: &[&str]) -> Result<Option<String>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The git history of one workspace, with the manifests already read.
pub struct History<'a> {
    root: &'a Path,
    /// `(commit, path)` → the file's text at that commit (`None`: absent).
    files: HashMap<(String, String), Option<String>>,
}

impl<'a> History<'a> {
    /// The history of the repository holding `root`; `None` when it is not in one.
    pub fn open(root: &'a Path) -> Result<Option<Self>, String> {
        let inside = git(root, &["rev-parse", "--is-inside-work-tree"])?;
        Ok(inside.filter(|s| s.trim() == "true").map(|_| History {
            root,
            files: HashMap::new(),
        }))
    }

    /// The commit `rev` names, if it names one.
    pub fn commit(&self, rev: &str) -> Result<Option<String>, String> {
        Ok(git(
            self.root,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
        )?
        .map(|s| s.trim().to_owned()))
    }

    /// The text of `path` (relative to the workspace root) at `rev`.
    fn file(&mut self, rev: &str, path: &str) -> Result<Option<String>, String> {
        let key = (rev.to_owned(), path.to_owned());
        if let Some(text) = self.files.get(&key) {
            return Ok(text.clone());
        }
        // `REV:./PATH` is relative to `-C root`, which may be below the repository's top.
        let text = git(self.root, &["show", &format!("{rev}:./{path}")])?;
        self.files.insert(key, text.clone());
        Ok(text)
    }

    /// The crate's version at `rev`; `None` when its manifest is not there, names another
    /// package, or has no readable version.
    pub fn version_at(&mut self, c: &Crate, rev: &str) -> Result<Option<Version>, String> {
        let manifest = manifest_path(c);
        let Some(text) = self.file(rev, &manifest)? else {
            return Ok(None);
        };
        let Ok(doc) = text.parse::<DocumentMut>() else {
            return Ok(None);
        };
        let Some(pkg) = doc.get("package") else {
            return Ok(None);
        };
        if pkg.get("name").and_then(Item::as_str) != Some(c.name.as_str()) {
            return Ok(None);
        }
        let raw = match pkg.get("version") {
            Some(v) if v.is_str() => v.as_str().map(str::to_owned),
            Some(v) if v.get("workspace").and_then(Item::as_bool) == Some(true) => {
                let Some(root) = self.file(rev, "Cargo.toml")? else {
                    return Ok(None);
                };
                root.parse::<DocumentMut>().ok().and_then(|d| {
                    d.get("workspace")
                        .and_then(|w| w.get("package"))
                        .and_then(|p| p.get("version"))
                        .and_then(Item::as_str)
                        .map(str::to_owned)
                })
            }
            _ => None,
        };
        Ok(raw.and_then(|r| Version::parse(&r).ok()))
    }

    /// The baseline of `c` at `version` (its version now; in prerelease mode the version it had
    /// when entering): the tag `<crate>-v<version>`, else the newest commit that changed the
    /// crate's version to `version` from another one.
    pub fn find(&mut self, c: &Crate, version: &Version) -> Result<Found, String> {
        let tag = format!("{}-v{version}", c.name);
        if let Some(commit) = self.commit(&format!("refs/tags/{tag}"))? {
            return Ok(Found::Release(Baseline { label: tag, commit }));
        }
        let manifest = manifest_path(c);
        let mut paths = vec![format!("./{manifest}")];
        if c.inherits_version {
            paths.push("./Cargo.toml".to_owned());
        }
        let mut args = vec!["log", "--format=%H", "--"];
        args.extend(paths.iter().map(String::as_str));
        let log = git(self.root, &args)?.unwrap_or_default();
        for commit in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if self.version_at(c, commit)?.as_ref() != Some(version) {
                continue;
            }
            match self.version_at(c, &format!("{commit}^"))? {
                Some(before) if before == *version => continue,
                Some(_) => {
                    return Ok(Found::Release(Baseline {
                        label: format!("commit {}", &commit[..commit.len().min(10)]),
                        commit: commit.to_owned(),
                    }));
                }
                // The crate appeared at this version: introduced, never released.
                None => break,
            }
        }
        Ok(Found::NoRelease(format!(
            "no earlier release (no tag {tag}, no commit that changed its version to {version})"
        )))
    }

    /// The baseline `rev`, given on the command line for every crate: an error naming the crate
    /// when it is not a revision; no release when the crate is not in it.
    pub fn given(&mut self, c: &Crate, rev: &str) -> Result<Found, String> {
        let Some(commit) = self.commit(rev)? else {
            return Err(format!(
                "{}: baseline revision `{rev}` does not exist (not a tag, branch or commit of this repository)",
                c.name
            ));
        };
        if self.version_at(c, &commit)?.is_none() {
            return Ok(Found::NoRelease(format!("not in `{rev}`")));
        }
        Ok(Found::Release(Baseline {
            label: rev.to_owned(),
            commit,
        }))
    }
}

/// The crate's manifest, relative to the workspace root, with `/` separators (for git).
fn manifest_path(c: &Crate) -> String {
    let dir = c.dir.to_string_lossy().replace('\\', "/");
    if dir.is_empty() {
        "Cargo.toml".to_owned()
    } else {
        format!("{dir}/Cargo.toml")
    }
}
