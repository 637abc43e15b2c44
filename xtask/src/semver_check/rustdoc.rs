//! Rustdoc JSON of a crate, now and at its baseline revision, for cargo-semver-checks.
//!
//! Both are built with the workspace's own toolchain (`RUSTC_BOOTSTRAP=1` lets stable rustdoc
//! write JSON, as cargo-semver-checks itself does) and all features, under
//! `<target>/xtask-semver/`, apart from the normal build so that neither invalidates the other:
//!
//! - `rustdoc/<crate>-<commit>-<toolchain>.json`: a baseline's JSON, kept. A commit's source
//!   never changes, so this file is the whole baseline cost of every later check (the "warm" run).
//! - `baseline/`: the target directory of baseline builds, shared by every revision, so that the
//!   registry dependencies compile once.
//! - `current-<hash of the workspace path>/`: the target directory of the working tree's builds;
//!   cargo's own freshness check makes a second run with no change cheap. One per workspace, so
//!   that two workspaces sharing a `$CARGO_TARGET_DIR` never read each other's JSON (a crate's
//!   JSON is named after the crate only).
//! - `src-<commit>-<pid>/`: a baseline's source (`git archive`), removed after its build.

use super::baseline::Baseline;
use crate::cli;
use crate::workspace::Crate;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use toml_edit::{DocumentMut, Item};

/// Where the JSON is built and kept.
pub struct Cache {
    dir: PathBuf,
    /// `rustc -V`, reduced to a file-name part: rustdoc's JSON format changes between toolchains.
    toolchain: String,
}

/// The name of the library target of the crate in `dir`, or `None` when it has no library.
pub fn lib_name(dir: &Path, package: &str) -> Result<Option<String>, String> {
    let manifest = dir.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|e| format!("{}: {e}", manifest.display()))?;
    let lib = doc.get("lib");
    if lib.is_none() && !dir.join("src/lib.rs").is_file() {
        return Ok(None);
    }
    Ok(Some(
        lib.and_then(|l| l.get("name"))
            .and_then(Item::as_str)
            .map_or_else(|| package.replace('-', "_"), str::to_owned),
    ))
}

/// The last lines of a command's stderr, for an error message.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

/// `cargo rustdoc` of `package`'s library as JSON, in the workspace at `ws_dir`.
fn build(ws_dir: &Path, target: &Path, package: &str) -> Result<(), String> {
    let out = Command::new(cli::cargo())
        .args([
            "rustdoc",
            "--quiet",
            "--lib",
            "--all-features",
            "-p",
            package,
        ])
        .arg("--manifest-path")
        .arg(ws_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(ws_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo rustdoc -p {package}` failed:\n{}",
            tail(&out.stderr)
        ))
    }
}

impl Cache {
    /// The cache of the workspace at `root` (under `$CARGO_TARGET_DIR`, else `<root>/target`).
    pub fn new(root: &Path) -> Result<Self, String> {
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) if !t.is_empty() => root.join(t),
            _ => root.join("target"),
        };
        let out = Command::new("rustc")
            .arg("-V")
            .current_dir(root)
            .output()
            .map_err(|e| format!("cannot run rustc: {e}"))?;
        if !out.status.success() {
            return Err(format!("`rustc -V` failed: {}", tail(&out.stderr)));
        }
        let toolchain: String = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join("-")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            .collect();
        Ok(Cache {
            dir: target.join("xtask-semver"),
            toolchain,
        })
    }

    /// The cached JSON of `package` at `commit`, if it was built before.
    pub fn cached(&self, package: &str, commit: &str) -> Option<PathBuf> {
        let path = self.baseline_path(package, commit);
        path.is_file().then_some(path)
    }

    fn baseline_path(&self, package: &str, commit: &str) -> PathBuf {
        self.dir
            .join("rustdoc")
            .join(format!("{package}-{commit}-{}.json", self.toolchain))
    }

    /// The baseline's JSON: from the cache, else built from `git archive` of its commit.
    pub fn baseline(&self, root: &Path, c: &Crate, b: &Baseline) -> Result<PathBuf, String> {
        if let Some(path) = self.cached(&c.name, &b.commit) {
            return Ok(path);
        }
        let src = self
            .dir
            .join(format!("src-{}-{}", b.commit, std::process::id()));
        let result = self.build_baseline(root, c, b, &src);
        // The source is only needed for the build; the JSON is what is kept.
        let _ = std::fs::remove_dir_all(&src);
        result.map_err(|e| {
            format!(
                "{}: cannot build the baseline at {} ({}): {e}",
                c.name,
                b.label,
                &b.commit[..b.commit.len().min(10)]
            )
        })
    }

    fn build_baseline(
        &self,
        root: &Path,
        c: &Crate,
        b: &Baseline,
        src: &Path,
    ) -> Result<PathBuf, String> {
        let _ = std::fs::remove_dir_all(src);
        std::fs::create_dir_all(src).map_err(|e| format!("{}: {e}", src.display()))?;
        let prefix = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["rev-parse", "--show-prefix"])
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let prefix = String::from_utf8_lossy(&prefix.stdout).trim().to_owned();
        let mut archive = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["archive", "--format=tar", &b.commit])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let tar_in = archive.stdout.take().ok_or("git archive: no output pipe")?;
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(src)
            .stdin(tar_in)
            .output()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        let archived = archive
            .wait_with_output()
            .map_err(|e| format!("git archive: {e}"))?;
        if !archived.status.success() || !tar.status.success() {
            return Err(format!(
                "cannot extract it: {}{}",
                tail(&archived.stderr),
                tail(&tar.stderr)
            ));
        }
        let ws_dir = src.join(prefix);
        let crate_dir = ws_dir.join(&c.dir);
        let Some(lib) = lib_name(&crate_dir, &c.name)? else {
            return Err("the crate has no library there".to_owned());
        };
        let target = self.dir.join("baseline");
        let json = target.join("doc").join(format!("{lib}.json"));
        let _ = std::fs::remove_file(&json);
        build(&ws_dir, &target, &c.name)?;
        let kept = self.baseline_path(&c.name, &b.commit);
        std::fs::create_dir_all(kept.parent().unwrap_or(&self.dir))
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        std::fs::rename(&json, &kept).map_err(|e| format!("{}: {e}", json.display()))?;
        Ok(kept)
    }

    /// The working tree's JSON of `c`, whose library is `lib`.
    pub fn current(&self, root: &Path, c: &Crate, lib: &str) -> Result<PathBuf, String> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&root, &mut hasher);
        let target = self.dir.join(format!(
            "current-{:016x}",
            std::hash::Hasher::finish(&hasher)
        ));
        build(root, &target, &c.name)
            .map_err(|e| format!("{}: cannot build its rustdoc now: {e}", c.name))?;
        let json = target.join("doc").join(format!("{lib}.json"));
        // Cargo may call the build fresh without looking at the output: say what to do when it
        // is gone rather than let cargo-semver-checks fail on a missing file.
        if !json.is_file() {
            return Err(format!(
                "{}: cargo wrote no {} (remove {} and run again)",
                c.name,
                json.display(),
                target.display()
            ));
        }
        Ok(json)
    }
}

/// Seconds since `start`, for the progress lines.
pub fn secs(start: Instant) -> String {
    format!("{:.1}s", start.elapsed().as_secs_f64())
}
