//! Prerelease mode, table-driven: each case enters pre mode, runs `release version` steps (each
//! adding changesets), exits and runs the final `version`, checking the versions of each step.

use semver::Version;
use xtask::changeset::{ChangesetFile, parse_config};
use xtask::release::pre::{self, check_tag, pre_version};
use xtask::release::{PreMode, PreState, rewrite_req};
use xtask::workspace::DepKind;

mod common;

use common::{Spec, workspace};

enum Step<'a> {
    /// `pre enter <tag>`.
    Enter(&'a str),
    /// Adds the changesets, runs `release version`; the bumped crates and their new versions.
    Version(&'a [&'a str], &'a [(&'a str, &'a str)]),
    /// `pre exit`.
    Exit,
}

struct Case<'a> {
    name: &'a str,
    crates: &'a [Spec<'a>],
    config: &'a str,
    steps: &'a [Step<'a>],
}

use DepKind::Normal;
use Step::{Enter, Exit, Version as V};

const CASES: &[Case<'static>] = &[
    Case {
        name: "two version runs: beta.0 then beta.1, then the final version",
        crates: &[("a", "0.1.0", &[]), ("z", "3.0.0", &[])],
        config: "",
        steps: &[
            Enter("beta"),
            V(&["---\na: minor\n---\nfeature"], &[("a", "0.2.0-beta.0")]),
            V(&["---\na: patch\n---\nfix"], &[("a", "0.2.0-beta.1")]),
            Exit,
            V(&[], &[("a", "0.2.0")]),
        ],
    },
    Case {
        name: "a bigger bump mid-pre changes the base (and N starts again)",
        crates: &[("a", "1.2.3", &[])],
        config: "",
        steps: &[
            Enter("rc"),
            V(&["---\na: patch\n---\nfix"], &[("a", "1.2.4-rc.0")]),
            V(&["---\na: major\n---\nbreak"], &[("a", "2.0.0-rc.0")]),
            V(&["---\na: patch\n---\nfix 2"], &[("a", "2.0.0-rc.1")]),
            Exit,
            V(&["---\na: minor\n---\nlast"], &[("a", "2.0.0")]),
        ],
    },
    Case {
        name: "a crate prereleased stays in every later prerelease, as in the JS tool",
        crates: &[("a", "1.0.0", &[]), ("b", "1.0.0", &[])],
        config: "",
        steps: &[
            Enter("beta"),
            V(&["---\na: minor\n---\nx"], &[("a", "1.1.0-beta.0")]),
            V(
                &["---\nb: patch\n---\ny"],
                &[("a", "1.1.0-beta.1"), ("b", "1.0.1-beta.0")],
            ),
            Exit,
            V(&[], &[("a", "1.1.0"), ("b", "1.0.1")]),
        ],
    },
    Case {
        name: "fixed groups and out-of-range dependents follow, with prerelease versions",
        crates: &[
            ("core", "0.1.0", &[]),
            ("yew", "0.1.0", &[("core", Some("0.1"), Normal)]),
            ("ssr", "0.1.0", &[]),
            ("app", "1.0.0", &[("yew", Some("0.1"), Normal)]),
        ],
        config: "fixed = [[\"yew\", \"ssr\"]]",
        steps: &[
            Enter("alpha"),
            V(
                &["---\ncore: minor\n---\nx"],
                &[
                    ("app", "1.0.1-alpha.0"),
                    ("core", "0.2.0-alpha.0"),
                    ("ssr", "0.1.1-alpha.0"),
                    ("yew", "0.1.1-alpha.0"),
                ],
            ),
            V(
                &["---\nyew: minor\n---\ny"],
                &[
                    ("app", "1.0.1-alpha.1"),
                    ("core", "0.2.0-alpha.1"),
                    ("ssr", "0.2.0-alpha.0"),
                    ("yew", "0.2.0-alpha.0"),
                ],
            ),
            Exit,
            V(
                &[],
                &[
                    ("app", "1.0.1"),
                    ("core", "0.2.0"),
                    ("ssr", "0.2.0"),
                    ("yew", "0.2.0"),
                ],
            ),
        ],
    },
    Case {
        name: "`none` releases nothing in pre mode either",
        crates: &[("a", "1.0.0", &[])],
        config: "",
        steps: &[
            Enter("beta"),
            V(&["---\na: none\n---\ndocs"], &[]),
            Exit,
            V(&[], &[]),
        ],
    },
];

/// Runs a case; the first mismatch, if any.
fn run(case: &Case<'_>) -> Result<(), String> {
    let mut ws = workspace(case.crates);
    let config = parse_config(case.config).map_err(|e| e.message)?;
    let mut state: Option<PreState> = None;
    let mut changesets: Vec<ChangesetFile> = Vec::new();
    for (i, step) in case.steps.iter().enumerate() {
        match step {
            Enter(tag) => state = Some(PreState::enter(&ws, tag)?),
            Exit => {
                state.as_mut().ok_or("exit while not in pre mode")?.mode = PreMode::Exit;
            }
            V(added, want) => {
                for text in *added {
                    let id = format!("c{}", changesets.len());
                    changesets.push(ChangesetFile::parse(&id, text.as_bytes()).expect("changeset"));
                }
                let s = state.as_mut().ok_or("version outside pre mode")?;
                let plan = pre::plan(&ws, &config, &changesets, s)?;
                let got: Vec<(String, String)> = plan
                    .bumped()
                    .map(|r| (r.name.clone(), r.new_version.to_string()))
                    .collect();
                let want: Vec<(String, String)> = want
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect();
                if got != want {
                    return Err(format!("step {i}: got {got:?}, want {want:?}"));
                }
                // Apply: versions, requirements, the pre state.
                for r in plan.bumped() {
                    for c in &mut ws.crates {
                        if c.name == r.name {
                            c.version = r.new_version.clone();
                        }
                        for d in &mut c.deps {
                            if d.name == r.name
                                && let Some(req) = &mut d.req
                            {
                                *req = rewrite_req(req, &r.new_version);
                            }
                        }
                    }
                }
                if s.mode == PreMode::Exit {
                    state = None;
                    changesets.clear();
                } else {
                    s.changesets = changesets.iter().map(|c| c.id.clone()).collect();
                }
            }
        }
    }
    Ok(())
}

#[test]
fn prerelease_scenarios() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|c| run(c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn prerelease_versions() {
    let v = |s: &str| Version::parse(s).expect("version");
    for (current, base, want) in [
        ("0.1.0", "0.2.0", "0.2.0-beta.0"),
        ("0.2.0-beta.0", "0.2.0", "0.2.0-beta.1"),
        ("0.2.0-beta.9", "0.2.0", "0.2.0-beta.10"),
        ("0.2.0-beta.3", "1.0.0", "1.0.0-beta.0"),
        ("0.2.0-alpha.3", "0.2.0", "0.2.0-beta.0"),
        ("0.2.0-betax.3", "0.2.0", "0.2.0-beta.0"),
    ] {
        assert_eq!(
            pre_version(&v(current), &v(base), "beta"),
            v(want),
            "{current}"
        );
    }
    // Cargo's rules: a plain requirement does not match a prerelease of a later version, the
    // rewritten one matches the next prereleases and the final version.
    let req = |s: &str| semver::VersionReq::parse(s).expect("req");
    assert!(!req("0.2.0").matches(&v("0.3.0-beta.0")));
    let rewritten = rewrite_req("0.2.0", &v("0.3.0-beta.0"));
    assert_eq!(rewritten, "0.3.0-beta.0");
    for next in ["0.3.0-beta.0", "0.3.0-beta.1", "0.3.0"] {
        assert!(req(&rewritten).matches(&v(next)), "{next}");
    }
    assert_eq!(rewrite_req("=0.2.0", &v("0.3.0-rc.1")), "=0.3.0-rc.1");
}

#[test]
fn tags() {
    for ok in ["beta", "rc", "next-1", "1a", "RC2"] {
        assert_eq!(check_tag(ok), Ok(()), "{ok}");
    }
    for bad in ["", "1", "007", "be.ta", "beta 1", "beta+1", "bêta", "-/-"] {
        let e = check_tag(bad).expect_err(bad);
        assert!(e.contains("bad prerelease tag"), "{bad}: {e}");
    }
}

#[test]
fn pre_json_round_trips_in_the_js_shape() {
    let ws = workspace(&[("a", "0.1.0", &[]), ("b", "1.2.3", &[])]);
    let mut s = PreState::enter(&ws, "beta").expect("enter");
    assert_eq!(
        s.to_json(),
        "{\n  \"mode\": \"pre\",\n  \"tag\": \"beta\",\n  \"initialVersions\": {\n    \"a\": \"0.1.0\",\n    \"b\": \"1.2.3\"\n  },\n  \"changesets\": []\n}\n"
    );
    s.changesets = vec!["x-y".to_owned(), "z".to_owned()];
    s.mode = PreMode::Exit;
    let json: serde_json::Value = serde_json::from_str(&s.to_json()).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"mode": "exit", "tag": "beta",
            "initialVersions": {"a": "0.1.0", "b": "1.2.3"}, "changesets": ["x-y", "z"]})
    );
    assert_eq!(PreState::parse(&s.to_json()), Ok(s));
    for (bad, words) in [
        ("{", "not JSON"),
        (
            r#"{"mode":"x","tag":"b","initialVersions":{},"changesets":[]}"#,
            "`mode`",
        ),
        (
            r#"{"mode":"pre","tag":"1","initialVersions":{},"changesets":[]}"#,
            "tag",
        ),
        (
            r#"{"mode":"pre","tag":"b","initialVersions":{"a":"x"},"changesets":[]}"#,
            "initialVersions.a",
        ),
        (
            r#"{"mode":"pre","tag":"b","initialVersions":{},"changesets":[1]}"#,
            "`changesets`",
        ),
    ] {
        let e = PreState::parse(bad).expect_err(bad);
        assert!(e.contains(words), "{bad}: {e}");
    }
}
