//! `cargo xtask release status`: the plan, as text or as the JS tool's
//! `changeset status --output` JSON.

use super::plan::Plan;
use crate::changeset::{Bump, Pending};
use serde_json::{Value, json};

/// The JSON of `changeset status --output`:
/// `{"changesets": [{"id", "summary", "releases": [{"name", "type"}]}],
///   "releases": [{"name", "type", "oldVersion", "newVersion", "changesets"}]}`.
pub fn json(pending: &Pending, plan: &Plan) -> Value {
    json!({
        "changesets": pending.changesets.iter().map(|c| json!({
            "id": c.id,
            "summary": c.changeset.summary,
            "releases": c.changeset.entries.iter().map(|e| json!({
                "name": e.name,
                "type": e.bump.as_str(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "releases": plan.releases.iter().map(|r| json!({
            "name": r.name,
            "type": r.bump.as_str(),
            "oldVersion": r.old_version.to_string(),
            "newVersion": r.new_version.to_string(),
            "changesets": r.changesets,
        })).collect::<Vec<_>>(),
    })
}

/// The plan for a person.
pub fn text(pending: &Pending, plan: &Plan) -> String {
    let mut out = String::new();
    if pending.changesets.is_empty() {
        out.push_str("no pending changesets: nothing to release\n");
        return out;
    }
    out.push_str(&format!(
        "{} pending changeset(s):\n",
        pending.changesets.len()
    ));
    for c in &pending.changesets {
        let crates: Vec<String> = c
            .changeset
            .entries
            .iter()
            .map(|e| format!("{} {}", e.name, e.bump))
            .collect();
        let first = c.changeset.summary.lines().next().unwrap_or_default();
        out.push_str(&format!("  {} ({}): {}\n", c.id, crates.join(", "), first));
    }
    out.push_str("releases:\n");
    let width = plan
        .releases
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0);
    for r in &plan.releases {
        let why = if r.changesets.is_empty() {
            "dependency or group".to_owned()
        } else {
            r.changesets.join(", ")
        };
        let private = if r.publishable {
            ""
        } else {
            " [publish = false: versioned, not published]"
        };
        if r.bump == Bump::None {
            out.push_str(&format!(
                "  {:width$}  none   {} (unchanged; {why})\n",
                r.name, r.old_version
            ));
        } else {
            out.push_str(&format!(
                "  {:width$}  {:5}  {} -> {} ({why}){private}\n",
                r.name,
                r.bump.as_str(),
                r.old_version,
                r.new_version
            ));
        }
    }
    out
}
