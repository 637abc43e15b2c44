//! The changeset file format, parsed strictly and without dependencies.
//!
//! ```text
//! ---
//! nhost-yew: minor
//! "nhost-ssr": 'minor'
//! ---
//!
//! One-line summary.
//!
//! Longer Markdown body.
//! ```
//!
//! The front matter is the small subset of YAML that changesets use: one `crate: bump` line per
//! crate, the crate name and the bump optionally in single or double quotes, blank lines and
//! `# comments` allowed. Everything else is an error that names its line: a missing or unclosed
//! front matter, a line that is not `crate: bump`, a bump word other than `major`, `minor`,
//! `patch` or `none`, a crate listed twice, an empty summary, bytes that are not UTF-8.
//!
//! This file uses only `std` so that the fuzz target (`fuzz/fuzz_targets/changeset_parse.rs`)
//! can include it by path.

use std::fmt;

/// How much a changeset bumps a crate. Ordered: `None < Patch < Minor < Major`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bump {
    /// Mentioned, deliberately not released.
    None,
    /// Bug fixes.
    Patch,
    /// New features.
    Minor,
    /// Breaking changes.
    Major,
}

impl Bump {
    /// Every bump, smallest first.
    pub const ALL: [Bump; 4] = [Bump::None, Bump::Patch, Bump::Minor, Bump::Major];

    /// The word used in changeset files (and the JS tool's JSON): `none`, `patch`, `minor`, `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::None => "none",
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }

    /// Reads a bump word (exactly, lowercase).
    pub fn from_word(word: &str) -> Option<Bump> {
        Bump::ALL.into_iter().find(|b| b.as_str() == word)
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `crate: bump` line of a front matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The crate's name, unquoted.
    pub name: String,
    /// The bump.
    pub bump: Bump,
    /// The line it is on (1-based).
    pub line: usize,
}

/// A parsed changeset file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changeset {
    /// The front matter's entries, in file order.
    pub entries: Vec<Entry>,
    /// The Markdown after the front matter, trimmed; its first line is the one-line summary.
    pub summary: String,
    /// The line the summary starts on (1-based).
    pub summary_line: usize,
}

/// Why a changeset could not be parsed, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// Whether `name` can be a crate name: ASCII letters, digits, `-` and `_`, starting with a letter.
pub fn is_crate_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64
}

/// Parses a changeset file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Changeset, ParseError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            return err(
                line,
                format!("not valid UTF-8 (byte {at} of the file); save it as UTF-8"),
            );
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();

    let Some(open) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return err(
            1,
            "empty file: a changeset starts with a front matter (`---`, `crate: bump` lines, `---`)",
        );
    };
    if lines[open].trim_end() != "---" {
        return err(
            open + 1,
            "missing front matter: a changeset starts with `---`, then `crate: bump` lines, then `---`",
        );
    }
    let Some(close) = lines
        .iter()
        .skip(open + 1)
        .position(|l| l.trim_end() == "---")
        .map(|i| i + open + 1)
    else {
        return err(
            open + 1,
            "the front matter opened here is never closed by a `---` line",
        );
    };

    let mut entries: Vec<Entry> = Vec::new();
    for (i, raw) in lines[open + 1..close].iter().enumerate() {
        let line = open + 2 + i;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (key, rest) = split_key(l, line)?;
        if !is_crate_name(&key) {
            return err(
                line,
                format!("`{key}` is not a crate name (expected `crate: bump`)"),
            );
        }
        let value = strip_comment(rest.trim());
        let word = unquote(value, line)?;
        if word.is_empty() {
            return err(
                line,
                format!("no bump for `{key}`: write `{key}: patch` (or major, minor, none)"),
            );
        }
        let Some(bump) = Bump::from_word(word) else {
            return err(
                line,
                format!("`{word}` is not a bump for `{key}`: use major, minor, patch or none"),
            );
        };
        if let Some(first) = entries.iter().find(|e| e.name == key) {
            return err(
                line,
                format!("`{key}` is listed twice (first on line {})", first.line),
            );
        }
        entries.push(Entry {
            name: key,
            bump,
            line,
        });
    }

    let Some(start) = lines
        .iter()
        .skip(close + 1)
        .position(|l| !l.trim().is_empty())
        .map(|i| i + close + 1)
    else {
        return err(
            close + 1,
            "empty summary: write what changed, for the changelog, below the front matter",
        );
    };
    let summary = lines[start..].join("\n").trim_end().to_owned();
    Ok(Changeset {
        entries,
        summary,
        summary_line: start + 1,
    })
}

/// Splits `key: rest`, the key optionally quoted.
fn split_key(l: &str, line: usize) -> Result<(String, &str), ParseError> {
    let (key, after) = match l.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &l[1..];
            let Some(end) = inner.find(q) else {
                return err(line, format!("unterminated {q} quote"));
            };
            (inner[..end].to_owned(), inner[end + 1..].trim_start())
        }
        _ => match l.find(':') {
            Some(i) => (l[..i].trim_end().to_owned(), &l[i..]),
            None => {
                return err(
                    line,
                    format!("expected `crate: bump`, found `{l}` (no colon)"),
                );
            }
        },
    };
    let Some(rest) = after.strip_prefix(':') else {
        return err(line, format!("expected `:` after `{key}`, found `{after}`"));
    };
    if key.is_empty() {
        return err(line, "missing crate name before `:`");
    }
    Ok((key, rest))
}

/// Drops a trailing ` # comment` (YAML: a `#` after whitespace).
fn strip_comment(value: &str) -> &str {
    if value.starts_with('#') {
        return "";
    }
    match value.find(" #").or_else(|| value.find("\t#")) {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

/// `'minor'`, `"minor"` or `minor` → `minor`.
fn unquote(value: &str, line: usize) -> Result<&str, ParseError> {
    match value.chars().next() {
        Some(q @ ('"' | '\'')) => {
            if value.len() >= 2 && value.ends_with(q) {
                Ok(&value[1..value.len() - 1])
            } else {
                err(line, format!("unterminated {q} quote in `{value}`"))
            }
        }
        _ => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_comments_crlf_and_bom() {
        let text = "\u{feff}---\r\na: minor\r\n'b': \"patch\"\r\n# c: major\r\n\"c\": 'none' # later\r\n---\r\n\r\nHello\r\n\r\nbody\r\n";
        let cs = parse(text.as_bytes()).expect("parses");
        let got: Vec<_> = cs
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.bump, e.line))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Bump::Minor, 2),
                ("b", Bump::Patch, 3),
                ("c", Bump::None, 5)
            ]
        );
        assert_eq!(cs.summary, "Hello\n\nbody");
        assert_eq!(cs.summary_line, 8);
    }

    #[test]
    fn carriage_returns_never_reach_the_summary() {
        // Found by the fuzz target: a line ending in `\r\r\n` lost one `\r` per round trip.
        let cs = parse(b"---\na: patch\n---\nx\r\r\r\ny\r").expect("parses");
        assert_eq!(cs.summary, "x\ny");
    }

    #[test]
    fn empty_front_matter_is_an_empty_changeset() {
        let cs = parse(b"---\n---\nInternal refactor.\n").expect("parses");
        assert!(cs.entries.is_empty());
    }

    #[test]
    fn errors_name_their_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 1, "empty file"),
            (b"hello\n", 1, "missing front matter"),
            (b"\n\n---\na: minor\n", 3, "never closed"),
            (b"---\na: mayor\n---\nx\n", 2, "`mayor` is not a bump"),
            (b"---\na minor\n---\nx\n", 2, "no colon"),
            (b"---\na:\n---\nx\n", 2, "no bump for `a`"),
            (
                b"---\na: minor\nb: patch\na: patch\n---\nx\n",
                4,
                "listed twice (first on line 2)",
            ),
            (b"---\n'a: minor\n---\nx\n", 2, "unterminated"),
            (b"---\na: 'minor\n---\nx\n", 2, "unterminated"),
            (b"---\na b: minor\n---\nx\n", 2, "not a crate name"),
            (b"---\na: minor\n---\n\n  \n", 3, "empty summary"),
            (b"---\na: minor\n---\nok\n\xff\n", 5, "not valid UTF-8"),
            (b"---\n: minor\n---\nx\n", 2, "missing crate name"),
        ];
        for (input, line, needle) in cases {
            let e = parse(input).expect_err(&String::from_utf8_lossy(input));
            assert_eq!(
                e.line,
                *line,
                "{e} for {:?}",
                String::from_utf8_lossy(input)
            );
            assert!(e.message.contains(needle), "{e} lacks {needle:?}");
        }
    }
}
