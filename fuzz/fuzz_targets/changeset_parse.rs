//! Fuzzes the changeset parser (`xtask/src/changeset/parse.rs`, included by path: it uses only
//! `std`, so this crate needs none of xtask's dependencies). Any input must give a changeset or
//! an error naming a line of the input — never a panic.

#![no_main]

#[path = "../../xtask/src/changeset/parse.rs"]
#[allow(dead_code)]
mod parse;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    match parse::parse(data) {
        Ok(cs) => {
            assert!(!cs.summary.trim().is_empty());
            assert!(cs.summary_line >= 1 && cs.summary_line <= lines);
            for (i, e) in cs.entries.iter().enumerate() {
                assert!(parse::is_crate_name(&e.name));
                assert!(e.line >= 2 && e.line < cs.summary_line);
                assert!(
                    cs.entries[..i]
                        .iter()
                        .all(|o| o.name != e.name && o.line < e.line)
                );
            }
            // What `changeset add` writes from a parsed changeset parses back the same.
            let mut text = String::from("---\n");
            for e in &cs.entries {
                text.push_str(&format!("{}: {}\n", e.name, e.bump));
            }
            text.push_str("---\n\n");
            text.push_str(&cs.summary);
            let again = parse::parse(text.as_bytes()).expect("a rewritten changeset parses");
            assert_eq!(again.summary, cs.summary);
            assert_eq!(
                again
                    .entries
                    .iter()
                    .map(|e| (&e.name, e.bump))
                    .collect::<Vec<_>>(),
                cs.entries
                    .iter()
                    .map(|e| (&e.name, e.bump))
                    .collect::<Vec<_>>()
            );
        }
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= lines.max(1),
                "line {} of {lines}",
                e.line
            );
            assert!(!e.message.is_empty());
        }
    }
});
