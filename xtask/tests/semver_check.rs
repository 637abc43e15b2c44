//! Semver-checked bumps, end to end on scratch git workspaces with the real cargo-semver-checks
//! (the pinned version; `.ci/run` installs it): `changeset check` and `release version` refuse a
//! declared bump lower than the public API change since the crate's last release requires.

mod common;

use common::{Scratch, lib_crate};

const LIB: &str = "//! A scratch crate.

/// Stays.
pub fn kept() -> u32 {
    helper()
}

/// Goes away in the tests.
pub fn removed() {}

fn helper() -> u32 {
    1
}
";

/// `a` 0.1.0 and `big` 1.2.0, each tagged at its release; `fresh` 0.3.0, never released.
fn scratch() -> Scratch {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\nedition = \"2021\"\n",
    );
    for (name, version) in [("a", "0.1.0"), ("big", "1.2.0"), ("fresh", "0.3.0")] {
        lib_crate(
            &s,
            &format!("crates/{name}"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition.workspace = true\n"
            ),
        );
        s.write(&format!("crates/{name}/src/lib.rs"), LIB);
    }
    s.write("changesets/config.toml", "");
    s.write(".gitignore", "target/\n");
    s.commit_all("first releases");
    s.git(&["tag", "a-v0.1.0"]);
    s.git(&["tag", "big-v1.2.0"]);
    s
}

fn remove_pub_fn(s: &Scratch, name: &str) {
    let path = format!("crates/{name}/src/lib.rs");
    let text = s.read(&path);
    s.write(
        &path,
        text.replace("/// Goes away in the tests.\npub fn removed() {}\n", ""),
    );
}

fn changeset(s: &Scratch, name: &str, bump: &str) {
    s.write(
        "changesets/change.md",
        format!("---\n{name}: {bump}\n---\n\nA change.\n"),
    );
}

#[test]
fn a_removed_pub_fn_needs_minor_on_0x_and_the_report_names_it() {
    let s = scratch();
    remove_pub_fn(&s, "a");
    changeset(&s, "a", "patch");
    let check = s.xtask(&["changeset", "check"]);
    assert!(!check.ok, "{check:?}");
    assert!(
        check
            .stderr
            .contains("semver check: a: declared patch, minor required (0.x) (against a-v0.1.0):"),
        "{check:?}"
    );
    assert!(
        check.stderr.contains("function_missing (breaking)")
            && check
                .stderr
                .contains("function a::removed, previously in file crates/a/src/lib.rs:9"),
        "the offending item with its file and line: {check:?}"
    );
    // Progress: which crate, which step.
    assert!(
        check
            .stderr
            .contains("semver: a 0.1.0: baseline a-v0.1.0 (")
            && check
                .stderr
                .contains("semver: a: comparing with cargo-semver-checks"),
        "{check:?}"
    );
    assert!(
        check
            .stdout
            .contains("semver check: fresh: skipped, no earlier release"),
        "{check:?}"
    );

    // `release version` refuses too, and writes nothing.
    let before = s.snapshot();
    let version = s.xtask(&["release", "version"]);
    assert!(
        !version.ok && version.stderr.contains("minor required (0.x)"),
        "{version:?}"
    );
    assert!(s.snapshot() == before, "release version wrote files");

    changeset(&s, "a", "minor");
    let check = s.xtask(&["changeset", "check"]);
    assert!(check.ok, "{check:?}");
    assert!(
        check.stdout.contains(
            "semver check: a: declared minor, minor required (0.x) (against a-v0.1.0): ok"
        ),
        "{check:?}"
    );
    // The second run reads the baseline's rustdoc from the cache.
    assert!(check.stderr.contains("rustdoc from the cache"), "{check:?}");
    let version = s.xtask(&["release", "version"]);
    assert!(version.ok, "{version:?}");
    assert!(
        s.read("crates/a/Cargo.toml")
            .contains("version = \"0.2.0\"")
    );
}

#[test]
fn the_same_removal_at_1x_needs_major() {
    let s = scratch();
    remove_pub_fn(&s, "big");
    changeset(&s, "big", "minor");
    let check = s.xtask(&["changeset", "check"]);
    assert!(
        !check.ok
            && check.stderr.contains(
                "semver check: big: declared minor, major required (against big-v1.2.0):"
            )
            && check.stderr.contains("function big::removed"),
        "{check:?}"
    );
    changeset(&s, "big", "major");
    let check = s.xtask(&["changeset", "check"]);
    assert!(check.ok, "{check:?}");
}

#[test]
fn a_private_change_passes_with_patch_and_an_unchanged_api_needs_nothing() {
    let s = scratch();
    let path = "crates/a/src/lib.rs";
    s.write(path, s.read(path).replace("    1\n", "    2\n"));
    changeset(&s, "a", "patch");
    let check = s.xtask(&["changeset", "check"]);
    assert!(check.ok, "{check:?}");
    assert!(
        check
            .stdout
            .contains("semver check: a: declared patch, nothing required (against a-v0.1.0): ok")
            && check.stdout.contains(
                "semver check: big: declared none, nothing required (against big-v1.2.0): ok"
            ),
        "{check:?}"
    );
}

#[test]
fn without_a_tag_the_commit_that_changed_the_version_is_the_release() {
    let s = scratch();
    // `fresh` 0.3.0 was only introduced: no release. A commit moving it to 0.4.0 is one.
    let manifest = "crates/fresh/Cargo.toml";
    s.write(manifest, s.read(manifest).replace("0.3.0", "0.4.0"));
    s.commit_all("release fresh 0.4.0");
    let release = s.git(&["rev-parse", "--short=10", "HEAD"]);
    remove_pub_fn(&s, "fresh");
    changeset(&s, "fresh", "patch");
    let check = s.xtask(&["changeset", "check"]);
    assert!(
        !check.ok
            && check.stderr.contains(&format!(
                "semver check: fresh: declared patch, minor required (0.x) (against commit {})",
                release.trim()
            )),
        "{check:?}"
    );
}

#[test]
fn a_baseline_that_does_not_exist_is_an_error_naming_crate_and_revision() {
    let s = scratch();
    changeset(&s, "a", "patch");
    let before = s.snapshot();
    for args in [
        &["changeset", "check", "--baseline", "a-v9.9.9"][..],
        &["release", "version", "--baseline", "a-v9.9.9"],
    ] {
        let run = s.xtask(args);
        assert!(
            !run.ok
                && run
                    .stderr
                    .contains("a: baseline revision `a-v9.9.9` does not exist"),
            "{args:?}: {run:?}"
        );
        assert!(s.snapshot() == before, "{args:?} wrote files");
    }
    // A revision that exists is the baseline of every crate.
    remove_pub_fn(&s, "big");
    let run = s.xtask(&["changeset", "check", "--baseline", "HEAD"]);
    assert!(
        !run.ok
            && run
                .stderr
                .contains("semver check: big: declared none, major required (against HEAD):"),
        "{run:?}"
    );
}

#[test]
fn a_baseline_that_does_not_build_is_an_error_naming_crate_and_revision() {
    let s = scratch();
    // Move a's release tag to a commit whose source does not compile.
    s.write("crates/a/src/lib.rs", "pub fn broken( {\n");
    s.commit_all("broken");
    s.git(&["tag", "-f", "a-v0.1.0"]);
    let broken = s.git(&["rev-parse", "--short=10", "HEAD"]);
    s.write("crates/a/src/lib.rs", LIB);
    s.commit_all("fixed");
    changeset(&s, "a", "patch");
    let before = s.snapshot();
    for args in [&["changeset", "check"][..], &["release", "version"]] {
        let run = s.xtask(args);
        assert!(
            !run.ok
                && run.stderr.contains(&format!(
                    "a: cannot build the baseline at a-v0.1.0 ({}): `cargo rustdoc -p a` failed",
                    broken.trim()
                )),
            "{args:?}: {run:?}"
        );
        assert!(s.snapshot() == before, "{args:?} wrote files");
    }
}

#[test]
fn turning_it_off_is_loud() {
    let s = scratch();
    remove_pub_fn(&s, "a");
    changeset(&s, "a", "patch");
    let run = s.xtask(&["changeset", "check", "--no-semver-check"]);
    assert!(run.ok, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: semver check OFF (--no-semver-check)"),
        "{run:?}"
    );
    s.write("changesets/config.toml", "semver-check = false\n");
    let run = s.xtask(&["release", "version"]);
    assert!(run.ok, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: semver check OFF (semver-check = false in changesets/config.toml)"),
        "{run:?}"
    );
}

#[test]
fn a_workspace_outside_git_has_no_earlier_release() {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n",
    );
    lib_crate(
        &s,
        "crates/a",
        "[package]\nname = \"a\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
    );
    let run = s.xtask(&["changeset", "check"]);
    assert!(
        run.ok
            && run
                .stdout
                .contains("semver check: a: skipped, no earlier release (not a git repository)"),
        "{run:?}"
    );
}
