//! Property tests of the changeset file format (issue 13): what `changeset add` prints parses
//! back to the same changeset, and the parser never panics — any bytes give a changeset or an
//! error naming a line of the input.
//!
//! Case counts are set per property (each runs in about a second in a debug build);
//! `PROPTEST_CASES=100000 cargo test -p xtask --test changeset_properties` runs longer. A failure
//! prints the shrunk input and saves its seed under `xtask/proptest-regressions/` (committed: it
//! is replayed first on every later run).

mod common;

use common::{Scratch, lib_crate};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::path::Path;
use std::sync::OnceLock;
use xtask::changeset::parse::is_crate_name;
use xtask::changeset::{Bump, Changeset, Entry, parse};

fn config(cases: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(cases)
    }
}

/// Crate names a changeset may name: this workspace's members (those of
/// `changesets/config.toml` among them) and valid names of unusual shapes.
fn crate_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(load_crate_names)
}

fn load_crate_names() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let ws = xtask::workspace::load(root).expect("this workspace");
    let mut names: Vec<String> = ws.crates.iter().map(|c| c.name.clone()).collect();
    let config = std::fs::read_to_string(root.join("changesets/config.toml")).expect("config");
    let config = xtask::changeset::parse_config(&config).expect("config parses");
    names.extend(config.names().map(|n| n.name.clone()));
    names.extend(
        [
            "a",
            "Z9",
            "under_score-and-dash",
            &format!("x{}", "-_9".repeat(21)),
        ]
        .map(str::to_owned),
    );
    names.sort();
    names.dedup();
    assert!(names.iter().all(|n| is_crate_name(n)), "{names:?}");
    names
}

fn arb_bump() -> impl Strategy<Value = Bump> {
    prop::sample::select(Bump::ALL.to_vec())
}

/// A summary line: Markdown (headings, lists, fences, quotes, rules — `---` included, which
/// must not be read as front matter once the front matter is closed), lines that look like
/// front matter, blank and indented lines, and any printable Unicode.
fn arb_summary_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,60}",
        1 => prop::sample::select(vec![
            "", "   ", "---", "# Heading", "## `use_anonymous_sign_in`", "- a *list* item",
            "  1. nested **item**", "```rust", "```", "> a quote", "nhost-core: major",
            "'a': \"minor\" # comment", "[link](https://example.com/a_b)", "| a | b |",
            "Ünïcødé — 中文 🦀", "\u{feff}BOM inside", "trailing spaces   ", "\ttab",
        ])
        .prop_map(str::to_owned),
    ]
}

/// The summary as the printer writes it and the parser reads it: trimmed, and not empty.
fn arb_summary() -> impl Strategy<Value = String> {
    prop::collection::vec(arb_summary_line(), 1..12)
        .prop_map(|lines| lines.join("\n").trim().to_owned())
        .prop_filter("a summary", |s| !s.is_empty())
}

/// A valid changeset: distinct crate names of this workspace, any bumps, a Markdown summary —
/// with the lines it has once printed.
fn arb_changeset(names: Vec<String>) -> impl Strategy<Value = Changeset> {
    let n = names.len();
    (
        prop::sample::subsequence(names, 0..=n.min(6)).prop_shuffle(),
        prop::collection::vec(arb_bump(), 6),
        arb_summary(),
    )
        .prop_map(|(names, bumps, summary)| {
            let entries: Vec<Entry> = names
                .into_iter()
                .zip(bumps)
                .enumerate()
                .map(|(i, (name, bump))| Entry {
                    name,
                    bump,
                    line: i + 2,
                })
                .collect();
            Changeset {
                summary_line: entries.len() + 4,
                entries,
                summary,
            }
        })
}

/// A scratch workspace whose members are `names`.
fn scratch(names: &[String]) -> Scratch {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    for (i, name) in names.iter().enumerate() {
        lib_crate(
            &s,
            &format!("crates/c{i}"),
            &format!(
                "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\n"
            ),
        );
    }
    s
}

/// Writes `cs` with the real printer, `cargo xtask changeset add` (in process), and returns the
/// file it wrote.
fn print_with_changeset_add(s: &Scratch, cs: &Changeset) -> Vec<u8> {
    let mut args = vec!["add".to_owned()];
    for e in &cs.entries {
        args.push(format!("--bump={}={}", e.name, e.bump));
    }
    if cs.entries.is_empty() {
        args.push("--empty".to_owned());
    }
    args.push(format!("--summary={}", cs.summary));
    args.push(format!("--root={}", s.root().display()));
    xtask::changeset::run(args).unwrap_or_else(|e| panic!("changeset add: {e}"));
    let dir = s.root().join("changesets");
    let mut written: Vec<_> = std::fs::read_dir(&dir)
        .expect("changesets/")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let path = written.pop().expect("one file");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::remove_file(&path).expect("remove");
    bytes
}

/// Lines that look like a changeset, or almost: front-matter fences, entries with and without
/// quotes, comments, bad bumps, duplicates, CRs, a BOM, a byte that is not UTF-8.
fn arb_changeset_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => prop::sample::select(vec![
            "---", "--- ", " ---", "", "  ", "a: minor", "a: minor", "b: 'patch'", "\"c\": none",
            "'d': \"major\" # why", "a: mayor", "a:", ": minor", "a minor", "'a: minor",
            "a: 'minor", "a b: minor", "# comment", "a: # only a comment", "x\r", "\r",
            "\u{feff}---", "Summary.", "1-bad: minor", "ü: minor", "a: minor\t# tab comment",
        ])
        .prop_map(|l| l.as_bytes().to_vec()),
        1 => "\\PC{0,30}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    (
        any::<bool>(),
        prop::collection::vec(line, 0..16),
        prop::sample::select(vec!["\n", "\r\n", "\r\r\n"]),
    )
        .prop_map(|(bom, lines, end)| {
            let mut text = if bom {
                "\u{feff}".as_bytes().to_vec()
            } else {
                Vec::new()
            };
            text.extend(lines.join(end.as_bytes()));
            text
        })
}

/// Checks what `parse` said about `input`, as the fuzz target does.
fn check_parse(input: &[u8]) -> Result<(), TestCaseError> {
    let lines = input.split(|&b| b == b'\n').count();
    match parse(input) {
        Ok(cs) => {
            prop_assert!(!cs.summary.trim().is_empty());
            prop_assert!(cs.summary_line >= 1 && cs.summary_line <= lines);
            for (i, e) in cs.entries.iter().enumerate() {
                prop_assert!(is_crate_name(&e.name), "{:?}", e.name);
                prop_assert!(e.line >= 2 && e.line < cs.summary_line);
                prop_assert!(
                    cs.entries[..i]
                        .iter()
                        .all(|o| o.name != e.name && o.line < e.line)
                );
            }
        }
        Err(e) => {
            prop_assert!(
                e.line >= 1 && e.line <= lines.max(1),
                "line {} of {lines}: {}",
                e.line,
                e.message
            );
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

/// Any valid changeset — distinct crate names of this workspace (and of its
/// `changesets/config.toml`), any bumps, a Markdown summary with Unicode, `---` rules and lines
/// that look like front matter — printed by `changeset add` and parsed back is the same
/// changeset, line numbers included.
#[test]
fn print_then_parse_gives_back_the_changeset() {
    // One scratch workspace for every case (the runner by hand, as `proptest!` does, to share it).
    let s = scratch(crate_names());
    let mut runner = TestRunner::new(ProptestConfig {
        source_file: Some(file!()),
        test_name: Some("print_then_parse_gives_back_the_changeset"),
        ..config(1_024)
    });
    let result = runner.run(&arb_changeset(crate_names().to_vec()), |cs| {
        let printed = print_with_changeset_add(&s, &cs);
        let parsed = parse(&printed).map_err(|e| {
            TestCaseError::fail(format!("{e} in {:?}", String::from_utf8_lossy(&printed)))
        })?;
        prop_assert_eq!(
            parsed,
            cs,
            "printed as {:?}",
            String::from_utf8_lossy(&printed)
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

proptest! {
    #![proptest_config(config(4_000))]

    /// Any bytes: `parse` does not panic; it gives a changeset whose entries are distinct valid
    /// crate names on lines between the fences and whose summary is not empty, or an error
    /// with a message and a line of the input.
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..512)) {
        check_parse(&input)?;
    }

    /// The same for text that looks like a changeset (or almost): fences, entries, quotes,
    /// comments, CR line ends, a BOM, stray bytes — the inputs that reach the parser's deeper
    /// branches, which arbitrary bytes rarely do.
    #[test]
    fn parse_never_panics_on_changeset_like_text(input in arb_changeset_like()) {
        check_parse(&input)?;
    }
}
