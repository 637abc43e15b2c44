//! `changesets/config.toml`: fixed and linked groups, ignored crates, the 0.x policy.
//!
//! ```toml
//! fixed = [["nhost-yew", "nhost-ssr"]]  # always released together, at one version
//! linked = []                            # share a version when released together
//! ignore = []                            # never released by changesets
//! zero-major = "minor"                   # `major` below 1.0.0 bumps the minor number
//! semver-check = true                    # bumps checked against the API (cargo-semver-checks)
//! ```

use super::parse::ParseError;
use toml_edit::{Document, Item, Value};

/// A crate name in the config and the line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The crate.
    pub name: String,
    /// Its line in `config.toml` (1-based; 0 for a config built in code).
    pub line: usize,
}

/// What `major` means for a crate whose version is below 1.0.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZeroMajor {
    /// `major` bumps the minor number (0.1.3 → 0.2.0), the breaking step of Cargo's semver
    /// rules, as knope and release-plz do; `minor` also bumps the minor number, `patch` the patch.
    /// 1.0.0 is a deliberate, manual step.
    #[default]
    Minor,
    /// Plain semver, as the JS changesets tool does: `major` on 0.1.3 gives 1.0.0.
    Major,
}

/// The parsed config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Groups whose crates always release together, at one shared version.
    pub fixed: Vec<Vec<Named>>,
    /// Groups whose released crates share the highest bump and version.
    pub linked: Vec<Vec<Named>>,
    /// Crates that changesets never release.
    pub ignore: Vec<Named>,
    /// The 0.x policy.
    pub zero_major: ZeroMajor,
    /// Whether `changeset check` and `release version` check the bumps against the public API
    /// (`semver-check = false` turns it off; on by default).
    pub semver_check: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fixed: Vec::new(),
            linked: Vec::new(),
            ignore: Vec::new(),
            zero_major: ZeroMajor::default(),
            semver_check: true,
        }
    }
}

impl Config {
    /// The fixed group `name` is in, if any.
    pub fn fixed_group(&self, name: &str) -> Option<&[Named]> {
        self.fixed
            .iter()
            .find(|g| g.iter().any(|n| n.name == name))
            .map(Vec::as_slice)
    }

    /// Whether `name` is in `ignore`.
    pub fn is_ignored(&self, name: &str) -> bool {
        self.ignore.iter().any(|n| n.name == name)
    }

    /// Every crate name the config mentions.
    pub fn names(&self) -> impl Iterator<Item = &Named> {
        self.fixed
            .iter()
            .chain(&self.linked)
            .flatten()
            .chain(&self.ignore)
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> usize {
    span.map_or(1, |s| {
        text[..s.start.min(text.len())].matches('\n').count() + 1
    })
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// Parses `config.toml`; a crate in two groups, or ignored and grouped, is an error.
pub fn parse_config(text: &str) -> Result<Config, ParseError> {
    let doc = Document::parse(text).map_err(|e| ParseError {
        line: line_of(text, e.span()),
        message: format!("invalid TOML: {}", e.message()),
    })?;
    let mut config = Config::default();
    let Some(root) = doc.as_item().as_table() else {
        return Ok(config);
    };
    for (key, item) in root.iter() {
        let line = line_of(text, item.span());
        match key {
            "fixed" => config.fixed = groups(text, key, item)?,
            "linked" => config.linked = groups(text, key, item)?,
            "ignore" => {
                let Some(array) = item.as_array() else {
                    return err(line, "`ignore` must be an array of crate names");
                };
                config.ignore = names(text, key, array.iter())?;
            }
            "zero-major" => {
                config.zero_major = match item.as_str() {
                    Some("minor") => ZeroMajor::Minor,
                    Some("major") => ZeroMajor::Major,
                    _ => return err(line, "`zero-major` must be \"minor\" or \"major\""),
                }
            }
            "semver-check" => {
                let Some(on) = item.as_bool() else {
                    return err(line, "`semver-check` must be true or false");
                };
                config.semver_check = on;
            }
            other => {
                return err(
                    line,
                    format!(
                        "unknown setting `{other}` (known: fixed, linked, ignore, zero-major, semver-check)"
                    ),
                );
            }
        }
    }

    let mut seen: Vec<(&Named, &str)> = Vec::new();
    for (kind, group) in config
        .fixed
        .iter()
        .map(|g| ("fixed", g))
        .chain(config.linked.iter().map(|g| ("linked", g)))
    {
        for n in group {
            if let Some((first, first_kind)) = seen.iter().find(|(f, _)| f.name == n.name) {
                return err(
                    n.line,
                    format!(
                        "`{}` is already in a {first_kind} group (line {}): a crate can be in one group only",
                        n.name, first.line
                    ),
                );
            }
            if let Some(ignored) = config.ignore.iter().find(|i| i.name == n.name) {
                return err(
                    n.line,
                    format!(
                        "`{}` is in a {kind} group and in `ignore` (line {}): it cannot be both",
                        n.name, ignored.line
                    ),
                );
            }
            seen.push((n, kind));
        }
    }
    Ok(config)
}

fn groups(text: &str, key: &str, item: &Item) -> Result<Vec<Vec<Named>>, ParseError> {
    let line = line_of(text, item.span());
    let Some(outer) = item.as_array() else {
        return err(
            line,
            format!("`{key}` must be an array of arrays of crate names"),
        );
    };
    outer
        .iter()
        .map(|group| match group.as_array() {
            Some(inner) => names(text, key, inner.iter()),
            None => err(
                line_of(text, group.span()),
                format!("each `{key}` group must be an array of crate names"),
            ),
        })
        .collect()
}

fn names<'a>(
    text: &str,
    key: &str,
    values: impl Iterator<Item = &'a Value>,
) -> Result<Vec<Named>, ParseError> {
    values
        .map(|v| {
            let line = line_of(text, v.span());
            match v.as_str() {
                Some(name) => Ok(Named {
                    name: name.to_owned(),
                    line,
                }),
                None => err(line, format!("`{key}` holds crate names (strings)")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_groups_with_lines() {
        let c = parse_config("# c\nfixed = [[\"a\", \"b\"]]\nlinked = [[\"c\",\n \"d\"]]\nignore = [\"e\"]\nzero-major = \"major\"\nsemver-check = false\n")
            .expect("valid");
        assert!(!c.semver_check);
        assert!(Config::default().semver_check);
        assert_eq!(c.fixed[0][1].name, "b");
        assert_eq!(c.linked[0][1].line, 4);
        assert_eq!(c.ignore[0].line, 5);
        assert_eq!(c.zero_major, ZeroMajor::Major);
        assert_eq!(parse_config("").expect("empty is fine"), Config::default());
    }

    #[test]
    fn bad_configs_name_the_line() {
        for (text, line, needle) in [
            (
                "fixed = [[\"a\", \"b\"]]\nlinked = [[\"b\"]]\n",
                2,
                "already in a fixed group (line 1)",
            ),
            ("fixed = [[\"a\"], [\"b\",\n\"a\"]]\n", 2, "one group only"),
            (
                "fixed = [[\"a\"]]\nignore = [\"a\"]\n",
                1,
                "in `ignore` (line 2)",
            ),
            ("fixd = []\n", 1, "unknown setting `fixd`"),
            ("zero-major = \"maybe\"\n", 1, "zero-major"),
            (
                "semver-check = \"no\"\n",
                1,
                "`semver-check` must be true or false",
            ),
            ("fixed = [\"a\"]\n", 1, "each `fixed` group"),
            ("ignore = [1]\n", 1, "crate names"),
            ("fixed = [[\n", 1, "invalid TOML"),
        ] {
            let e = parse_config(text).expect_err(text);
            assert_eq!(e.line, line, "{e} for {text:?}");
            assert!(e.message.contains(needle), "{e} lacks {needle:?}");
        }
    }
}
