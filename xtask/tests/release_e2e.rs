//! End to end on a scratch git workspace: `release status`, `release version`, then
//! `release publish` (dry run, offline: the scratch crates have no registry dependencies).

mod common;

use common::{Scratch, lib_crate};

fn scratch_workspace() -> Scratch {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        r#"[workspace]
resolver = "3"
members = ["crates/*", "tools"]

[workspace.package]
version = "0.1.0" # shared by the crates that inherit it
edition = "2021"
license = "MIT"

[workspace.dependencies]
# The core crate, with the requirement cargo publish needs.
alpha = { path = "crates/alpha", version = "0.1.0" } # keep this comment
"#,
    );
    lib_crate(
        &s,
        "crates/alpha",
        r#"[package]
name = "alpha"
description = "scratch alpha"
version.workspace = true
edition.workspace = true
license.workspace = true
"#,
    );
    lib_crate(
        &s,
        "crates/beta",
        r#"[package]
name = "beta"
description = "scratch beta"
# beta moves with delta
version.workspace = true
edition.workspace = true
license.workspace = true

[dependencies]
alpha.workspace = true
"#,
    );
    lib_crate(
        &s,
        "crates/delta",
        r#"[package]
name = "delta"
description = "scratch delta"
version.workspace = true
edition.workspace = true
license.workspace = true
"#,
    );
    lib_crate(
        &s,
        "crates/gamma",
        r#"[package]
name = "gamma"
description = "scratch gamma"
version = "1.4.2"   # its own version
edition.workspace = true
license.workspace = true

[dependencies]
beta = { path = "../beta", version = "0.1" }   # keep me

[dev-dependencies]
alpha = { path = "../alpha", version = "0.1.0" }
"#,
    );
    s.write(
        "crates/gamma/CHANGELOG.md",
        "# gamma\n\n## 1.4.2\n\n### Patch Changes\n\n- An old fix.\n",
    );
    lib_crate(
        &s,
        "tools",
        r#"[package]
name = "tools"
version = "0.0.0"
edition.workspace = true
publish = false

[dependencies]
alpha = { path = "../crates/alpha" }
"#,
    );
    s.write(
        "changesets/config.toml",
        "fixed = [[\"beta\", \"delta\"]]\n",
    );
    s.write(
        "changesets/alpha-counts.md",
        "---\nalpha: minor\n---\n\nAlpha learns to count\n\nIt counts to `u64::MAX`.\n",
    );
    s.write(
        "changesets/gamma-fix.md",
        "---\n'gamma': \"patch\"\n---\n\nGamma no longer panics\n",
    );
    s.write(
        "changesets/alpha-docs.md",
        "---\nalpha: none\n---\n\nDocs only.\n",
    );
    s.write(".gitignore", "target/\n");
    let lock =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
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

#[test]
fn status_version_and_publish_dry_run() {
    let s = scratch_workspace();

    let check = s.xtask(&["changeset", "check"]);
    assert!(check.ok, "{check:?}");

    let status = s.xtask(&["release", "status", "--json"]);
    assert!(status.ok, "{status:?}");
    let json: serde_json::Value =
        serde_json::from_str(&status.stdout).expect("status --json is JSON");
    let releases: Vec<(String, String, String, String)> = json["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (f("name"), f("type"), f("oldVersion"), f("newVersion"))
        })
        .collect();
    let want = [
        ("alpha", "minor", "0.1.0", "0.2.0"),
        ("beta", "patch", "0.1.0", "0.1.1"),
        ("delta", "patch", "0.1.0", "0.1.1"),
        ("gamma", "patch", "1.4.2", "1.4.3"),
    ];
    assert_eq!(
        releases,
        want.map(|(a, b, c, d)| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())),
        "{}",
        status.stdout
    );
    assert_eq!(
        json["releases"][0]["changesets"],
        serde_json::json!(["alpha-counts", "alpha-docs"])
    );
    assert_eq!(json["changesets"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        json["changesets"][0]["releases"][0],
        serde_json::json!({"name": "alpha", "type": "minor"})
    );

    // --dry-run prints the diff and writes nothing.
    let before = s.snapshot();
    let dry = s.xtask(&["release", "version", "--dry-run"]);
    assert!(dry.ok, "{dry:?}");
    assert!(
        dry.stdout.contains("+version = \"0.2.0\""),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("-alpha = { path = \"crates/alpha\", version = \"0.1.0\" }"),
        "{}",
        dry.stdout
    );
    assert!(s.snapshot() == before, "--dry-run wrote files");

    let version = s.xtask(&["release", "version"]);
    assert!(version.ok, "{version:?}");

    // Manifests: versions, requirements, comments and layout kept.
    let root = s.read("Cargo.toml");
    assert!(
        root.contains("version = \"0.1.0\" # shared by the crates that inherit it"),
        "{root}"
    );
    assert!(root.contains("# The core crate, with the requirement cargo publish needs.\nalpha = { path = \"crates/alpha\", version = \"0.2.0\" } # keep this comment"), "{root}");
    let alpha = s.read("crates/alpha/Cargo.toml");
    assert!(alpha.contains("name = \"alpha\"\ndescription = \"scratch alpha\"\nversion = \"0.2.0\"\nedition.workspace = true"), "{alpha}");
    let beta = s.read("crates/beta/Cargo.toml");
    assert!(
        beta.contains("# beta moves with delta\nversion = \"0.1.1\"\n"),
        "{beta}"
    );
    assert!(
        s.read("crates/delta/Cargo.toml")
            .contains("version = \"0.1.1\"\n")
    );
    let gamma = s.read("crates/gamma/Cargo.toml");
    assert!(
        gamma.contains("version = \"1.4.3\"   # its own version"),
        "{gamma}"
    );
    assert!(
        gamma.contains("beta = { path = \"../beta\", version = \"0.1.1\" }   # keep me"),
        "{gamma}"
    );
    assert!(
        gamma.contains("alpha = { path = \"../alpha\", version = \"0.2.0\" }"),
        "{gamma}"
    );
    assert!(s.read("tools/Cargo.toml").contains("version = \"0.0.0\""));

    // Changelogs.
    assert_eq!(
        s.read("crates/alpha/CHANGELOG.md"),
        "# alpha\n\n## 0.2.0\n\n### Minor Changes\n\n- Alpha learns to count\n\n  It counts to `u64::MAX`.\n"
    );
    assert_eq!(
        s.read("crates/beta/CHANGELOG.md"),
        "# beta\n\n## 0.1.1\n\n### Patch Changes\n\n- Updated dependencies\n  - alpha@0.2.0\n"
    );
    assert_eq!(s.read("crates/delta/CHANGELOG.md"), "# delta\n\n## 0.1.1\n");
    assert_eq!(
        s.read("crates/gamma/CHANGELOG.md"),
        "# gamma\n\n## 1.4.3\n\n### Patch Changes\n\n- Gamma no longer panics\n- Updated dependencies\n  - beta@0.1.1\n\n## 1.4.2\n\n### Patch Changes\n\n- An old fix.\n"
    );
    assert!(!s.exists("crates/tools/CHANGELOG.md") && !s.exists("tools/CHANGELOG.md"));

    // Consumed changesets are gone; the config stays.
    for id in ["alpha-counts", "gamma-fix", "alpha-docs"] {
        assert!(
            !s.exists(&format!("changesets/{id}.md")),
            "{id} was not removed"
        );
    }
    assert!(s.exists("changesets/config.toml"));

    // Cargo.lock follows.
    let lock = s.read("Cargo.lock");
    for (name, v) in [
        ("alpha", "0.2.0"),
        ("beta", "0.1.1"),
        ("delta", "0.1.1"),
        ("gamma", "1.4.3"),
        ("tools", "0.0.0"),
    ] {
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"{v}\"")),
            "{name} {v} in\n{lock}"
        );
    }

    // Nothing left to release.
    let again = s.xtask(&["release", "status"]);
    assert!(
        again.ok && again.stdout.contains("nothing to release"),
        "{again:?}"
    );

    // Publish, dry run, offline: cargo publish --dry-run of each crate, in dependency order.
    s.commit_all("release");
    let publish = s.xtask(&["release", "publish", "--offline"]);
    assert!(publish.ok, "{publish:?}");
    let order = "alpha@0.2.0, beta@0.1.1, delta@0.1.1, gamma@1.4.3";
    assert!(
        publish.stdout.contains(&format!(
            "dry run of cargo publish in dependency order: {order}"
        )),
        "{publish:?}"
    );
    let tags: Vec<&str> = publish
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("would create tag "))
        .collect();
    assert_eq!(
        tags,
        [
            "alpha-v0.2.0",
            "beta-v0.1.1",
            "delta-v0.1.1",
            "gamma-v1.4.3"
        ]
    );
    assert!(
        !publish.stdout.contains("tools"),
        "a publish = false crate is never published"
    );
    assert!(
        s.git(&["tag", "--list"]).trim().is_empty(),
        "a dry run creates no tag"
    );
    assert!(
        s.git(&["status", "--porcelain"]).trim().is_empty(),
        "a dry run changes no file"
    );
}

#[test]
fn shared_version_is_bumped_when_every_inheritor_moves_together() {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\n# one version for all\nversion = \"1.0.0\"\nedition = \"2021\"\n",
    );
    for name in ["one", "two"] {
        lib_crate(
            &s,
            &format!("crates/{name}"),
            &format!(
                "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\n"
            ),
        );
    }
    s.write("changesets/config.toml", "fixed = [[\"one\", \"two\"]]\n");
    s.write("changesets/x.md", "---\none: major\n---\n\nBreaking.\n");
    let run = s.xtask(&["release", "version"]);
    assert!(run.ok, "{run:?}");
    assert!(
        s.read("Cargo.toml")
            .contains("# one version for all\nversion = \"2.0.0\"\n")
    );
    assert!(
        s.read("crates/two/Cargo.toml")
            .contains("version.workspace = true")
    );
    assert!(
        s.read("crates/two/CHANGELOG.md")
            .starts_with("# two\n\n## 2.0.0\n")
    );
}

#[test]
fn the_whole_flow_prints_each_step() {
    let s = scratch_workspace();
    let run = s.xtask(&["release", "--offline"]);
    assert!(run.ok, "{run:?}");
    let steps: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("==> "))
        .collect();
    assert_eq!(
        steps,
        [
            "==> cargo xtask release status",
            "==> cargo xtask release version",
            "==> cargo xtask release publish (dry run)"
        ]
    );
    assert!(
        run.stdout.contains("alpha  minor  0.1.0 -> 0.2.0"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("would create tag gamma-v1.4.3"),
        "{run:?}"
    );
    assert!(!s.exists("changesets/alpha-counts.md"));
}
