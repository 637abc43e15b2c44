//! Bad inputs: each `changeset check` error names its file and line, and `release version`
//! writes nothing while any changeset or the config is bad. Also `changeset add` and `--since`.

mod common;

use common::{Scratch, lib_crate};

fn scratch() -> Scratch {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    for name in ["a", "b", "quiet"] {
        lib_crate(
            &s,
            &format!("crates/{name}"),
            &format!(
                "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\n"
            ),
        );
    }
    s.write("changesets/config.toml", "ignore = [\"quiet\"]\n");
    s.write("changesets/good.md", "---\na: minor\n---\n\nA feature.\n");
    s
}

/// `(file content, line, words of the message)`.
const BAD: &[(&[u8], usize, &str)] = &[
    (
        b"---\na: minor\nzz: patch\n---\n\nx\n",
        3,
        "unknown crate `zz`",
    ),
    (
        b"---\na: mnior\n---\n\nx\n",
        2,
        "`mnior` is not a bump for `a`",
    ),
    (b"Just text, no front matter.\n", 1, "missing front matter"),
    (b"---\na: minor\n", 1, "never closed"),
    (b"---\na: minor\n---\n\n   \n", 3, "empty summary"),
    (
        b"---\na: patch\nquiet: patch\n---\n\nx\n",
        3,
        "`quiet` is in `ignore`",
    ),
    (
        b"---\na: patch\n---\n\nline 5\ncaf\xe9\n",
        6,
        "not valid UTF-8",
    ),
    (
        b"---\na: patch\nb: minor\n\"a\": major\n---\n\nx\n",
        4,
        "`a` is listed twice (first on line 2)",
    ),
    (b"---\na = patch\n---\n\nx\n", 2, "expected `crate: bump`"),
];

#[test]
fn each_error_names_file_and_line_and_nothing_is_written() {
    for (content, line, words) in BAD {
        let s = scratch();
        s.write("changesets/bad.md", content);
        let before = s.snapshot();

        let check = s.xtask(&["changeset", "check"]);
        assert!(
            !check.ok,
            "check passed on {:?}",
            String::from_utf8_lossy(content)
        );
        let want = format!("changesets/bad.md:{line}: ");
        let found = check.stderr.lines().find(|l| l.starts_with(&want));
        assert!(
            found.is_some_and(|l| l.contains(words)),
            "want `{want}…{words}…` in\n{}",
            check.stderr
        );
        assert!(
            !check.stderr.contains("good.md"),
            "the good changeset is fine: {}",
            check.stderr
        );

        for args in [
            &["release", "version"][..],
            &["release", "status"],
            &["release"],
        ] {
            let run = s.xtask(args);
            assert!(!run.ok, "{args:?} passed with a bad changeset");
            assert!(run.stderr.contains(&want), "{args:?}: {}", run.stderr);
            assert!(
                s.snapshot() == before,
                "{args:?} wrote files despite {want}"
            );
        }
    }
}

#[test]
fn config_errors_name_the_line() {
    for (config, want) in [
        (
            "fixed = [[\"a\", \"b\"]]\nlinked = [[\"a\"]]\n",
            "changesets/config.toml:2: `a` is already in a fixed group",
        ),
        (
            "fixed = [[\"a\", \"nope\"]]\n",
            "changesets/config.toml:1: unknown crate `nope`",
        ),
        (
            "ignore = [\"a\"]\nzero-major = 1\n",
            "changesets/config.toml:2: `zero-major` must be",
        ),
    ] {
        let s = scratch();
        s.write("changesets/config.toml", config);
        let before = s.snapshot();
        let check = s.xtask(&["changeset", "check"]);
        assert!(
            !check.ok && check.stderr.contains(want),
            "want {want} in {check:?}"
        );
        let version = s.xtask(&["release", "version"]);
        assert!(!version.ok && s.snapshot() == before, "{version:?}");
    }
}

#[test]
fn the_existing_changesets_pass() {
    let s = scratch();
    let check = s.xtask(&["changeset", "check"]);
    assert!(check.ok, "{check:?}");
    assert!(check.stdout.contains("1 pending, all valid"), "{check:?}");
}

#[test]
fn since_requires_a_changeset_for_changed_publishable_crates() {
    let s = scratch();
    s.commit_all("base");
    s.write("crates/b/src/lib.rs", "//! Changed.\n");
    s.write("crates/quiet/src/lib.rs", "//! Changed too, but ignored.\n");
    let run = s.xtask(&["changeset", "check", "--since", "HEAD"]);
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr
            .contains("b changed since HEAD (crates/b/src/lib.rs)"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("quiet changed"),
        "ignored crates need no changeset: {run:?}"
    );
    // The old pending changeset for `a` does not count for b; a new one naming b does.
    let add = s.xtask(&[
        "changeset",
        "add",
        "--bump",
        "b=none",
        "--summary",
        "Refactor b",
    ]);
    assert!(add.ok, "{add:?}");
    let run = s.xtask(&["changeset", "check", "--since", "HEAD"]);
    assert!(run.ok, "{run:?}");
    let bad_rev = s.xtask(&["changeset", "check", "--since", "no-such-rev"]);
    assert!(
        !bad_rev.ok && bad_rev.stderr.contains("no-such-rev"),
        "{bad_rev:?}"
    );
}

#[test]
fn since_in_prerelease_mode_counts_the_changesets_a_prerelease_consumed() {
    let s = scratch();
    let enter = s.xtask(&["release", "pre", "enter", "beta"]);
    assert!(enter.ok, "{enter:?}");
    s.commit_all("pre mode, a's changeset pending");
    // The prerelease's version commit changes a's manifest and changelog; good.md, which names
    // a, was added before HEAD but is consumed (listed in pre.json) and stays.
    let version = s.xtask(&["release", "version"]);
    assert!(version.ok, "{version:?}");
    assert!(s.read("crates/a/Cargo.toml").contains("0.2.0-beta.0"));
    assert!(s.read("changesets/pre.json").contains("\"good\""));
    let run = s.xtask(&["changeset", "check", "--since", "HEAD"]);
    assert!(run.ok, "{run:?}");
    // It covers only the crates it names.
    s.write("crates/b/src/lib.rs", "//! Changed.\n");
    let run = s.xtask(&["changeset", "check", "--since", "HEAD"]);
    assert!(
        !run.ok && run.stderr.contains("b changed since HEAD") && !run.stderr.contains("a changed"),
        "{run:?}"
    );
}

#[test]
fn add_writes_a_readable_unique_file_that_checks() {
    let s = scratch();
    let args = [
        "changeset",
        "add",
        "--bump",
        "a=minor",
        "--bump",
        "b=patch",
        "--summary",
        "Faster sign-in\n\nDetails.",
    ];
    let first = s.xtask(&args);
    assert!(first.ok, "{first:?}");
    assert!(
        first.stdout.contains("wrote changesets/faster-sign-in.md"),
        "{first:?}"
    );
    assert_eq!(
        s.read("changesets/faster-sign-in.md"),
        "---\na: minor\nb: patch\n---\n\nFaster sign-in\n\nDetails.\n"
    );
    let second = s.xtask(&args);
    assert!(
        second
            .stdout
            .contains("wrote changesets/faster-sign-in-2.md"),
        "{second:?}"
    );
    assert!(s.xtask(&["changeset", "check"]).ok);

    let before = s.snapshot();
    for (bad, words) in [
        (
            &["--bump", "zz=minor", "--summary", "x"][..],
            "unknown crate `zz`",
        ),
        (
            &["--bump", "a=huge", "--summary", "x"],
            "`huge` is not a bump",
        ),
        (&["--bump", "a=minor", "--summary", "  "], "empty summary"),
        (
            &[
                "--bump",
                "a=minor",
                "--bump",
                "quiet=patch",
                "--summary",
                "x",
            ],
            "`quiet` is in `ignore`",
        ),
        (&["--bump", "a=minor"], "--summary"),
    ] {
        let run = s.xtask(&[&["changeset", "add"][..], bad].concat());
        assert!(!run.ok && run.stderr.contains(words), "{bad:?}: {run:?}");
    }
    assert!(s.snapshot() == before, "a refused changeset was written");
}
