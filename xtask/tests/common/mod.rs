//! Scratch workspaces for the changesets tests: real directories, real git, the real binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use semver::Version;
use xtask::workspace::{Crate, DepKind, Dependency, Workspace};

/// A workspace in a temporary directory, removed on drop.
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// An empty directory.
    pub(crate) fn new() -> Self {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("xtask-changesets-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// Its root.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `rel` (creating folders).
    pub(crate) fn write(&self, rel: &str, text: impl AsRef<[u8]>) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }

    /// Reads `rel`.
    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Whether `rel` exists.
    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.root().join(rel).exists()
    }

    /// Every file (but `.git/` and `target/`) with its bytes, sorted: to prove nothing changed.
    pub(crate) fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).expect("read_dir") {
                let path = e.expect("entry").path();
                let rel = path.strip_prefix(root).expect("inside").to_path_buf();
                if rel == Path::new(".git") || rel == Path::new("target") {
                    continue;
                }
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push((rel, std::fs::read(&path).expect("read")));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root(), self.root(), &mut out);
        out.sort();
        out
    }

    /// Runs `git args…` in the workspace; panics on failure.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(self.root())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `git init` and a first commit of everything.
    pub(crate) fn commit_all(&self, message: &str) {
        if !self.exists(".git") {
            self.git(&["init", "-q"]);
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// Runs `cargo xtask ARGS --root <this>`.
    pub(crate) fn xtask(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .arg("--root")
            .arg(self.root())
            // The semver check builds under the workspace's target/: keep it in the scratch
            // directory, removed with it, whatever the environment says.
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .expect("xtask runs");
        Run::from(out)
    }
}

/// What a command printed.
pub(crate) struct Run {
    /// Exit status success.
    pub(crate) ok: bool,
    /// stdout.
    pub(crate) stdout: String,
    /// stderr.
    pub(crate) stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.ok, self.stdout, self.stderr
        )
    }
}

/// A library crate's manifest body and `src/lib.rs`.
pub(crate) fn lib_crate(s: &Scratch, dir: &str, manifest: &str) {
    s.write(&format!("{dir}/Cargo.toml"), manifest);
    s.write(&format!("{dir}/src/lib.rs"), "//! A scratch crate.\n");
}

/// A crate of an in-memory workspace: `(name, version, [(dependency, requirement, kind)])`.
pub(crate) type Spec<'a> = (&'a str, &'a str, &'a [(&'a str, Option<&'a str>, DepKind)]);

/// An in-memory workspace of the given crates (for the planning tests; nothing on disk).
pub(crate) fn workspace(crates: &[Spec<'_>]) -> Workspace {
    Workspace {
        root: "/nonexistent".into(),
        version: None,
        crates: crates
            .iter()
            .map(|(name, version, deps)| Crate {
                name: (*name).to_owned(),
                dir: format!("crates/{name}").into(),
                version: Version::parse(version).expect("test version"),
                inherits_version: false,
                publishable: true,
                deps: deps
                    .iter()
                    .map(|(n, req, kind)| Dependency {
                        name: (*n).to_owned(),
                        kind: *kind,
                        req: req.map(str::to_owned),
                    })
                    .collect(),
            })
            .collect(),
    }
}
