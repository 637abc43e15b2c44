//! Prerelease mode end to end on a scratch git workspace: `release pre enter`, `release version`
//! (prerelease versions, changesets kept), `release pre exit`, `release version` (final
//! versions, changesets and `pre.json` removed); and the bad inputs, which write nothing.

mod common;

use common::{Scratch, lib_crate};

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn scratch_workspace() -> Scratch {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        r#"[workspace]
resolver = "3"
members = ["crates/*"]

[workspace.package]
version = "0.1.0" # shared
edition = "2021"
license = "MIT"

[workspace.dependencies]
alpha = { path = "crates/alpha", version = "0.1.0" } # keep this comment
"#,
    );
    lib_crate(
        &s,
        "crates/alpha",
        "[package]\nname = \"alpha\"\ndescription = \"scratch alpha\"\nversion.workspace = true\nedition.workspace = true\nlicense.workspace = true\n",
    );
    lib_crate(
        &s,
        "crates/beta",
        "[package]\nname = \"beta\"\ndescription = \"scratch beta\"\nversion = \"1.4.2\"   # its own version\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\nalpha.workspace = true\n",
    );
    lib_crate(
        &s,
        "crates/gamma",
        "[package]\nname = \"gamma\"\ndescription = \"scratch gamma\"\nversion = \"2.0.0\"\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\nbeta = { path = \"../beta\", version = \"1.4\" }   # keep me\n",
    );
    s.write("changesets/config.toml", "");
    s.write(".gitignore", "target/\n");
    let lock = std::process::Command::new(cargo())
        .args(["generate-lockfile", "--offline"])
        .current_dir(s.root())
        .output()
        .expect("cargo runs");
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    s.commit_all("scratch workspace");
    s
}

/// Cargo accepts the workspace (every requirement matches its path dependency).
fn cargo_accepts(s: &Scratch) {
    let out = std::process::Command::new(cargo())
        .args(["metadata", "--offline", "--format-version", "1", "--locked"])
        .current_dir(s.root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn locked(s: &Scratch, name: &str, version: &str) -> bool {
    s.read("Cargo.lock")
        .contains(&format!("name = \"{name}\"\nversion = \"{version}\""))
}

#[test]
fn enter_version_exit_version() {
    let s = scratch_workspace();

    let enter = s.xtask(&["release", "pre", "enter", "beta"]);
    assert!(enter.ok, "{enter:?}");
    assert_eq!(
        s.read("changesets/pre.json"),
        "{\n  \"mode\": \"pre\",\n  \"tag\": \"beta\",\n  \"initialVersions\": {\n    \"alpha\": \"0.1.0\",\n    \"beta\": \"1.4.2\",\n    \"gamma\": \"2.0.0\"\n  },\n  \"changesets\": []\n}\n"
    );
    let check = s.xtask(&["changeset", "check"]);
    assert!(check.ok, "pre.json is not a changeset: {check:?}");

    let add = s.xtask(&[
        "changeset",
        "add",
        "--bump",
        "alpha=minor",
        "--summary",
        "Alpha counts",
    ]);
    assert!(add.ok, "{add:?}");
    let status = s.xtask(&["release", "status"]);
    assert!(
        status.ok && status.stdout.contains("prerelease mode (tag `beta`)"),
        "{status:?}"
    );
    assert!(
        status.stdout.contains("0.1.0 -> 0.2.0-beta.0"),
        "{status:?}"
    );

    let v1 = s.xtask(&["release", "version"]);
    assert!(v1.ok && !v1.stderr.contains("warning"), "{v1:?}");
    // alpha, the only crate inheriting the shared version, moves it; beta's `0.1.0` requirement
    // is out of range: a patch prerelease; gamma's `1.4` does not match 1.4.3-beta.0: released.
    let alpha = s.read("crates/alpha/Cargo.toml");
    assert!(alpha.contains("version.workspace = true"), "{alpha}");
    let root = s.read("Cargo.toml");
    assert!(
        root.contains("version = \"0.2.0-beta.0\" # shared")
            && root.contains(
                "alpha = { path = \"crates/alpha\", version = \"0.2.0-beta.0\" } # keep this comment"
            ),
        "{root}"
    );
    let beta = s.read("crates/beta/Cargo.toml");
    assert!(
        beta.contains("version = \"1.4.3-beta.0\"   # its own version"),
        "{beta}"
    );
    let gamma = s.read("crates/gamma/Cargo.toml");
    assert!(
        gamma.contains("version = \"2.0.1-beta.0\"")
            && gamma
                .contains("beta = { path = \"../beta\", version = \"1.4.3-beta.0\" }   # keep me"),
        "{gamma}"
    );
    assert_eq!(
        s.read("crates/alpha/CHANGELOG.md"),
        "# alpha\n\n## 0.2.0-beta.0\n\n### Minor Changes\n\n- Alpha counts\n"
    );
    assert_eq!(
        s.read("crates/beta/CHANGELOG.md"),
        "# beta\n\n## 1.4.3-beta.0\n\n### Patch Changes\n\n- Updated dependencies\n  - alpha@0.2.0-beta.0\n"
    );
    assert!(s.exists("changesets/alpha-counts.md"), "kept until exit");
    let pre: serde_json::Value =
        serde_json::from_str(&s.read("changesets/pre.json")).expect("JSON");
    assert_eq!(pre["mode"], "pre");
    assert_eq!(pre["changesets"], serde_json::json!(["alpha-counts"]));
    assert_eq!(pre["initialVersions"]["alpha"], "0.1.0");
    assert!(locked(&s, "alpha", "0.2.0-beta.0") && locked(&s, "gamma", "2.0.1-beta.0"));
    cargo_accepts(&s);

    // Nothing new: nothing to version.
    let again = s.xtask(&["release", "version"]);
    assert!(
        again.ok
            && again
                .stdout
                .contains("no changesets since the last prerelease"),
        "{again:?}"
    );

    // A second changeset: the next prerelease.
    s.write(
        "changesets/alpha-fix.md",
        "---\nalpha: patch\n---\n\nAlpha stops at ten\n",
    );
    let v2 = s.xtask(&["release", "version"]);
    assert!(v2.ok, "{v2:?}");
    assert!(
        s.read("Cargo.toml")
            .contains("version = \"0.2.0-beta.1\" # shared")
    );
    assert!(
        s.read("crates/alpha/CHANGELOG.md").starts_with(
            "# alpha\n\n## 0.2.0-beta.1\n\n### Patch Changes\n\n- Alpha stops at ten\n\n## 0.2.0-beta.0\n"
        ),
        "{}",
        s.read("crates/alpha/CHANGELOG.md")
    );
    let pre: serde_json::Value =
        serde_json::from_str(&s.read("changesets/pre.json")).expect("JSON");
    assert_eq!(
        pre["changesets"],
        serde_json::json!(["alpha-counts", "alpha-fix"])
    );
    cargo_accepts(&s);

    // Exit, then the final versions.
    let exit = s.xtask(&["release", "pre", "exit"]);
    assert!(exit.ok, "{exit:?}");
    assert!(s.read("changesets/pre.json").contains("\"mode\": \"exit\""));
    let status = s.xtask(&["release", "status"]);
    assert!(
        status.ok && status.stdout.contains("exiting prerelease mode"),
        "{status:?}"
    );
    let last = s.xtask(&["release", "version"]);
    assert!(last.ok && !last.stderr.contains("warning"), "{last:?}");
    for (path, version) in [
        ("Cargo.toml", "version = \"0.2.0\" # shared"),
        (
            "crates/beta/Cargo.toml",
            "version = \"1.4.3\"   # its own version",
        ),
        ("crates/gamma/Cargo.toml", "version = \"2.0.1\"\n"),
    ] {
        let text = s.read(path);
        assert!(text.contains(version), "{path}: {text}");
    }
    assert!(
        s.read("crates/gamma/Cargo.toml")
            .contains("beta = { path = \"../beta\", version = \"1.4.3\" }   # keep me")
    );
    assert!(
        s.read("crates/alpha/CHANGELOG.md").starts_with(
            "# alpha\n\n## 0.2.0\n\n### Minor Changes\n\n- Alpha counts\n\n### Patch Changes\n\n- Alpha stops at ten\n\n## 0.2.0-beta.1\n"
        ),
        "{}",
        s.read("crates/alpha/CHANGELOG.md")
    );
    for gone in [
        "changesets/pre.json",
        "changesets/alpha-counts.md",
        "changesets/alpha-fix.md",
    ] {
        assert!(!s.exists(gone), "{gone} is still there");
    }
    assert!(locked(&s, "alpha", "0.2.0") && locked(&s, "beta", "1.4.3"));
    cargo_accepts(&s);
    let done = s.xtask(&["release", "status"]);
    assert!(
        done.ok
            && done.stdout.contains("nothing to release")
            && !done.stdout.contains("prerelease"),
        "{done:?}"
    );
}

#[test]
fn bad_inputs_write_nothing() {
    let s = scratch_workspace();
    let before = s.snapshot();
    for (args, words) in [
        (&["release", "pre", "exit"][..], "not in prerelease mode"),
        (
            &["release", "pre", "enter", "123"][..],
            "bad prerelease tag `123`",
        ),
        (
            &["release", "pre", "enter", "be.ta"][..],
            "bad prerelease tag `be.ta`",
        ),
        (&["release", "pre", "enter"][..], "needs a tag"),
        (
            &["release", "pre", "leave"][..],
            "unknown `release pre` command",
        ),
    ] {
        let run = s.xtask(args);
        assert!(!run.ok && run.stderr.contains(words), "{args:?}: {run:?}");
        assert!(s.snapshot() == before, "{args:?} wrote files");
    }

    let enter = s.xtask(&["release", "pre", "enter", "rc"]);
    assert!(enter.ok, "{enter:?}");
    let entered = s.snapshot();
    let twice = s.xtask(&["release", "pre", "enter", "beta"]);
    assert!(
        !twice.ok
            && twice
                .stderr
                .contains("already in prerelease mode (tag `rc`)"),
        "{twice:?}"
    );
    assert!(s.snapshot() == entered, "entering twice wrote files");

    // A broken pre.json is named, and stops `version`.
    s.write("changesets/pre.json", "{\"mode\": \"sideways\"}");
    s.write("changesets/x.md", "---\nalpha: patch\n---\n\nx\n");
    let broken = s.snapshot();
    let run = s.xtask(&["release", "version"]);
    assert!(
        !run.ok && run.stderr.contains("changesets/pre.json: `mode`"),
        "{run:?}"
    );
    assert!(s.snapshot() == broken, "a bad pre.json let version write");
}
