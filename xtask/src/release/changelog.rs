//! Each released crate's `CHANGELOG.md`, in the JS changesets tool's layout:
//!
//! ```markdown
//! # nhost-yew
//!
//! ## 0.2.0
//!
//! ### Minor Changes
//!
//! - Introducing `use_anonymous_sign_in`
//!
//!   The body, indented under its item.
//!
//! ### Patch Changes
//!
//! - Updated dependencies
//!   - nhost-core@0.2.0
//! ```

use super::plan::{Plan, Release};
use crate::changeset::{Bump, Pending};
use crate::workspace::{DepKind, Workspace};

/// The `## x.y.z` section for `release`.
pub(super) fn section(ws: &Workspace, pending: &Pending, plan: &Plan, release: &Release) -> String {
    let mut groups: [(Bump, &str, Vec<String>); 3] = [
        (Bump::Major, "Major Changes", Vec::new()),
        (Bump::Minor, "Minor Changes", Vec::new()),
        (Bump::Patch, "Patch Changes", Vec::new()),
    ];
    for cs in &pending.changesets {
        let Some(e) = cs.changeset.entries.iter().find(|e| e.name == release.name) else {
            continue;
        };
        if let Some((_, _, items)) = groups.iter_mut().find(|(b, _, _)| *b == e.bump) {
            items.push(item(&cs.changeset.summary).trim_end().to_owned());
        }
    }
    let updated: Vec<String> = ws
        .get(&release.name)
        .map(|c| {
            let mut names: Vec<&str> = c
                .deps
                .iter()
                .filter(|d| d.kind != DepKind::Dev)
                .map(|d| d.name.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            names
                .into_iter()
                .filter_map(|n| plan.get(n).filter(|r| r.bump > Bump::None))
                .map(|r| format!("  - {}@{}", r.name, r.new_version))
                .collect()
        })
        .unwrap_or_default();
    if !updated.is_empty() {
        groups[2]
            .2
            .push(format!("- Updated dependencies\n{}", updated.join("\n")));
    }
    let mut out = format!("## {}\n", release.new_version);
    for (_, title, items) in groups.iter().filter(|(_, _, items)| !items.is_empty()) {
        out.push_str(&format!("\n### {title}\n\n"));
        out.push_str(&items.join("\n"));
        out.push('\n');
    }
    out
}

/// A summary as a list item: `- first line`, further lines indented by two spaces.
fn item(summary: &str) -> String {
    let mut out = String::new();
    for (i, line) in summary.lines().enumerate() {
        match (i, line.trim().is_empty()) {
            (0, _) => out.push_str(&format!("- {line}\n")),
            (_, true) => out.push('\n'),
            (_, false) => out.push_str(&format!("  {line}\n")),
        }
    }
    out
}

/// `existing` (or a new file) with `section` as its first version section, below the title.
pub(super) fn insert(existing: Option<&str>, name: &str, section: &str) -> String {
    let existing = existing.unwrap_or("");
    let (title, rest) = match existing.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => (first.to_owned(), rest),
        None if existing.starts_with("# ") => (existing.to_owned(), ""),
        _ => (format!("# {name}"), existing),
    };
    let rest = rest.trim_start_matches('\n');
    if rest.is_empty() {
        format!("{title}\n\n{section}")
    } else {
        format!("{title}\n\n{section}\n{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_indent_their_body() {
        assert_eq!(item("One.\n\nTwo\nthree"), "- One.\n\n  Two\n  three\n");
    }

    #[test]
    fn sections_go_below_the_title() {
        assert_eq!(insert(None, "a", "## 1.0.0\n"), "# a\n\n## 1.0.0\n");
        assert_eq!(
            insert(Some("# a\n\n## 0.9.0\n\n- x\n"), "a", "## 1.0.0\n"),
            "# a\n\n## 1.0.0\n\n## 0.9.0\n\n- x\n"
        );
        assert_eq!(
            insert(Some("## 0.9.0\n"), "a", "## 1.0.0\n"),
            "# a\n\n## 1.0.0\n\n## 0.9.0\n"
        );
    }
}
