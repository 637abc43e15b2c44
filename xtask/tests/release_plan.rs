//! The release plan, table-driven: the changesets tool's documented scenarios, adapted to Cargo.

use semver::Version;
use xtask::changeset::{Bump, ChangesetFile, ZeroMajor, parse_config};
use xtask::release::{bump_version, plan, rewrite_req};
use xtask::workspace::DepKind;

mod common;

use common::{Spec, workspace};

/// `(crate, bump, new version, changesets)`.
type Expected<'a> = (&'a str, &'a str, &'a str, &'a [&'a str]);
/// `(crate, bump, new version, changesets)`, as planned.
type Got = (String, String, String, Vec<String>);

struct Case<'a> {
    name: &'a str,
    crates: &'a [Spec<'a>],
    config: &'a str,
    changesets: &'a [&'a str],
    /// `(crate, bump, new version, changesets)`, sorted by crate; or an error's words.
    expect: Result<&'a [Expected<'a>], &'a str>,
}

use DepKind::{Dev, Normal};

const CASES: &[Case<'static>] = &[
    Case {
        name: "several changesets for one crate: the highest bump wins",
        crates: &[("a", "1.0.0", &[])],
        config: "",
        changesets: &[
            "---\na: patch\n---\nfix",
            "---\na: minor\n---\nfeature",
            "---\na: patch\n---\nfix 2",
        ],
        expect: Ok(&[("a", "minor", "1.1.0", &["c0", "c1", "c2"])]),
    },
    Case {
        name: "none is listed and releases nothing",
        crates: &[("a", "1.0.0", &[]), ("b", "1.0.0", &[])],
        config: "",
        changesets: &["---\na: none\n---\ninternal"],
        expect: Ok(&[("a", "none", "1.0.0", &["c0"])]),
    },
    Case {
        name: "an empty changeset releases nothing",
        crates: &[("a", "1.0.0", &[])],
        config: "",
        changesets: &["---\n---\nCI only"],
        expect: Ok(&[]),
    },
    Case {
        name: "fixed: one bump releases the whole group at one version (the highest, bumped)",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.2.0", &[]),
            ("c", "1.0.0", &[]),
        ],
        config: "fixed = [[\"a\", \"b\"]]",
        changesets: &["---\na: minor\n---\nfeature"],
        expect: Ok(&[
            ("a", "minor", "1.3.0", &["c0"]),
            ("b", "minor", "1.3.0", &[]),
        ]),
    },
    Case {
        name: "fixed: the group's highest bump applies to every member",
        crates: &[("a", "1.0.0", &[]), ("b", "1.0.0", &[])],
        config: "fixed = [[\"a\", \"b\"]]",
        changesets: &["---\na: patch\n---\nfix", "---\nb: major\n---\nbreak"],
        expect: Ok(&[
            ("a", "major", "2.0.0", &["c0"]),
            ("b", "major", "2.0.0", &["c1"]),
        ]),
    },
    Case {
        name: "fixed: `none` alone does not release the group",
        crates: &[("a", "1.0.0", &[]), ("b", "1.0.0", &[])],
        config: "fixed = [[\"a\", \"b\"]]",
        changesets: &["---\na: none\n---\ndocs"],
        expect: Ok(&[("a", "none", "1.0.0", &["c0"])]),
    },
    Case {
        name: "linked: released members share the highest bump and version; others stay",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "2.0.0", &[]),
            ("c", "1.0.0", &[]),
        ],
        config: "linked = [[\"a\", \"b\", \"c\"]]",
        changesets: &["---\na: patch\n---\nfix", "---\nb: minor\n---\nfeature"],
        expect: Ok(&[
            ("a", "minor", "2.1.0", &["c0"]),
            ("b", "minor", "2.1.0", &["c1"]),
        ]),
    },
    Case {
        name: "linked: the version base is the highest of the whole group, released or not",
        crates: &[("a", "1.2.0", &[]), ("b", "1.0.0", &[])],
        config: "linked = [[\"a\", \"b\"]]",
        changesets: &["---\nb: minor\n---\nfeature"],
        expect: Ok(&[("b", "minor", "1.3.0", &["c0"])]),
    },
    Case {
        name: "dependent out of range: patch bump",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[("a", Some("1.0.0"), Normal)]),
        ],
        config: "",
        changesets: &["---\na: major\n---\nbreak"],
        expect: Ok(&[
            ("a", "major", "2.0.0", &["c0"]),
            ("b", "patch", "1.0.1", &[]),
        ]),
    },
    Case {
        name: "dependent in range: not released",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[("a", Some("1.0"), Normal)]),
        ],
        config: "",
        changesets: &["---\na: minor\n---\nfeature"],
        expect: Ok(&[("a", "minor", "1.1.0", &["c0"])]),
    },
    Case {
        name: "dependents, transitively",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[("a", Some("1"), Normal)]),
            ("c", "3.0.0", &[("b", Some("=1.0.0"), Normal)]),
            ("d", "1.0.0", &[("c", Some("3"), Normal)]),
        ],
        config: "",
        changesets: &["---\na: major\n---\nbreak"],
        expect: Ok(&[
            ("a", "major", "2.0.0", &["c0"]),
            ("b", "patch", "1.0.1", &[]),
            ("c", "patch", "3.0.1", &[]),
        ]),
    },
    Case {
        name: "a dependent already released keeps its own higher bump",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[("a", Some("1"), Normal)]),
        ],
        config: "",
        changesets: &["---\na: major\nb: minor\n---\nboth"],
        expect: Ok(&[
            ("a", "major", "2.0.0", &["c0"]),
            ("b", "minor", "1.1.0", &["c0"]),
        ]),
    },
    Case {
        name: "dev-dependencies never cause a release",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[("a", Some("1"), Dev)]),
        ],
        config: "",
        changesets: &["---\na: major\n---\nbreak"],
        expect: Ok(&[("a", "major", "2.0.0", &["c0"])]),
    },
    Case {
        name: "a path dependency without a requirement is never out of range",
        crates: &[("a", "1.0.0", &[]), ("b", "1.0.0", &[("a", None, Normal)])],
        config: "",
        changesets: &["---\na: major\n---\nbreak"],
        expect: Ok(&[("a", "major", "2.0.0", &["c0"])]),
    },
    Case {
        name: "a dependent pulls its fixed group along",
        crates: &[
            ("core", "0.1.0", &[]),
            ("yew", "0.1.0", &[("core", Some("0.1"), Normal)]),
            ("ssr", "0.1.0", &[]),
        ],
        config: "fixed = [[\"yew\", \"ssr\"]]",
        changesets: &["---\ncore: minor\n---\nfeature"],
        expect: Ok(&[
            ("core", "minor", "0.2.0", &["c0"]),
            ("ssr", "patch", "0.1.1", &[]),
            ("yew", "patch", "0.1.1", &[]),
        ]),
    },
    Case {
        name: "0.x policy `minor` (default): major bumps the minor number",
        crates: &[
            ("a", "0.3.1", &[]),
            ("b", "0.3.1", &[]),
            ("c", "0.3.1", &[]),
        ],
        config: "",
        changesets: &["---\na: major\nb: minor\nc: patch\n---\nx"],
        expect: Ok(&[
            ("a", "major", "0.4.0", &["c0"]),
            ("b", "minor", "0.4.0", &["c0"]),
            ("c", "patch", "0.3.2", &["c0"]),
        ]),
    },
    Case {
        name: "0.x policy `major`: plain semver",
        crates: &[("a", "0.3.1", &[])],
        config: "zero-major = \"major\"",
        changesets: &["---\na: major\n---\nx"],
        expect: Ok(&[("a", "major", "1.0.0", &["c0"])]),
    },
    Case {
        name: "0.x: a minor step leaves a `0.3` requirement behind",
        crates: &[
            ("a", "0.3.1", &[]),
            ("b", "1.0.0", &[("a", Some("0.3"), Normal)]),
        ],
        config: "",
        changesets: &["---\na: minor\n---\nx"],
        expect: Ok(&[
            ("a", "minor", "0.4.0", &["c0"]),
            ("b", "patch", "1.0.1", &[]),
        ]),
    },
    Case {
        name: "ignored crates are never released",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[("a", Some("1"), Normal)]),
        ],
        config: "ignore = [\"b\"]",
        changesets: &["---\na: major\n---\nx"],
        expect: Ok(&[("a", "major", "2.0.0", &["c0"])]),
    },
    Case {
        name: "a crate in two groups is a config error",
        crates: &[
            ("a", "1.0.0", &[]),
            ("b", "1.0.0", &[]),
            ("c", "1.0.0", &[]),
        ],
        config: "fixed = [[\"a\", \"b\"]]\nlinked = [[\"b\", \"c\"]]",
        changesets: &["---\na: patch\n---\nx"],
        expect: Err(
            "config.toml:2: `b` is already in a fixed group (line 1): a crate can be in one group only",
        ),
    },
    Case {
        name: "a crate in two fixed groups is a config error",
        crates: &[("a", "1.0.0", &[]), ("b", "1.0.0", &[])],
        config: "fixed = [[\"a\", \"b\"], [\"a\"]]",
        changesets: &[],
        expect: Err("one group only"),
    },
    Case {
        name: "a group naming an unknown crate is an error",
        crates: &[("a", "1.0.0", &[])],
        config: "fixed = [[\"a\", \"zz\"]]",
        changesets: &[],
        expect: Err("`zz`, which is not a workspace crate"),
    },
];

fn run(case: &Case<'_>) -> Result<Vec<Got>, String> {
    let ws = workspace(case.crates);
    let config =
        parse_config(case.config).map_err(|e| format!("config.toml:{}: {}", e.line, e.message))?;
    let changesets: Vec<ChangesetFile> = case
        .changesets
        .iter()
        .enumerate()
        .map(|(i, text)| {
            ChangesetFile::parse(&format!("c{i}"), text.as_bytes()).expect("test changeset")
        })
        .collect();
    let plan = plan(&ws, &config, &changesets)?;
    Ok(plan
        .releases
        .into_iter()
        .map(|r| {
            (
                r.name,
                r.bump.to_string(),
                r.new_version.to_string(),
                r.changesets,
            )
        })
        .collect())
}

#[test]
fn planning_scenarios() {
    let mut failures = Vec::new();
    for case in CASES {
        let got = run(case);
        let ok = match (&got, &case.expect) {
            (Ok(got), Ok(want)) => {
                got.len() == want.len()
                    && got.iter().zip(want.iter()).all(|(g, w)| {
                        g.0 == w.0
                            && g.1 == w.1
                            && g.2 == w.2
                            && g.3.iter().map(String::as_str).eq(w.3.iter().copied())
                    })
            }
            (Err(e), Err(needle)) => e.contains(needle),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}:\n  got  {got:?}\n  want {:?}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bumps() {
    let v = |s: &str| Version::parse(s).expect("version");
    for (old, bump, policy, new) in [
        ("1.2.3", Bump::Patch, ZeroMajor::Minor, "1.2.4"),
        ("1.2.3", Bump::Minor, ZeroMajor::Minor, "1.3.0"),
        ("1.2.3", Bump::Major, ZeroMajor::Minor, "2.0.0"),
        ("1.2.3", Bump::None, ZeroMajor::Minor, "1.2.3"),
        ("0.2.3", Bump::Major, ZeroMajor::Minor, "0.3.0"),
        ("0.2.3", Bump::Major, ZeroMajor::Major, "1.0.0"),
        ("0.0.3", Bump::Major, ZeroMajor::Minor, "0.1.0"),
        ("2.0.0-beta.1", Bump::Major, ZeroMajor::Minor, "2.0.0"),
        ("2.0.0-beta.1", Bump::Patch, ZeroMajor::Minor, "2.0.0"),
        ("2.0.1-beta.1", Bump::Minor, ZeroMajor::Minor, "2.1.0"),
    ] {
        assert_eq!(
            bump_version(&v(old), bump, policy),
            v(new),
            "{old} + {bump} ({policy:?})"
        );
    }
}

#[test]
fn requirements_are_rewritten_in_their_style() {
    let new = Version::parse("0.2.0").expect("version");
    for (old, want) in [
        ("0.1", "0.2.0"),
        ("0.1.0", "0.2.0"),
        ("^0.1", "^0.2.0"),
        ("~0.1.3", "~0.2.0"),
        ("=0.1.0", "=0.2.0"),
        (">=0.1, <0.3", ">=0.1, <0.3"),
        (">=0.1, <0.2", "0.2.0"),
        ("*", "*"),
    ] {
        assert_eq!(rewrite_req(old, &new), want, "{old}");
    }
}
