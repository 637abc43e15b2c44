//! `cargo xtask release version`: applies the plan to manifests, changelogs and `Cargo.lock`,
//! and removes the consumed changesets. Every change is computed in memory first; `--dry-run`
//! prints it as a diff, otherwise it is written in one go.
//!
//! Versions: a crate with its own `version = "…"` gets the new one there. Crates with
//! `version.workspace = true` share `[workspace.package] version`: when every such crate is
//! released to one new version, that shared version is bumped and the crates keep inheriting
//! it; otherwise each released one gets an explicit `version = "…"` in its own manifest in place
//! of `version.workspace = true` (it has left the shared version for good).

use super::changelog;
use super::plan::{Plan, rewrite_req};
use crate::changeset::Pending;
use crate::workspace::{self, Workspace, dep_package};
use semver::Version;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, Value};

/// A change to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// Relative to the workspace root.
    pub path: PathBuf,
    /// The content before (`None`: the file is created).
    pub before: Option<String>,
    /// The content after (`None`: the file is removed).
    pub after: Option<String>,
}

/// Sets a string value, keeping the old value's surrounding whitespace and comments.
fn set_str(item: &mut Item, s: &str) {
    match item.as_value_mut() {
        Some(v) => {
            let decor = v.decor().clone();
            *v = Value::from(s);
            *v.decor_mut() = decor;
        }
        None => *item = toml_edit::value(s),
    }
}

/// Rewrites the requirements of path dependencies on released crates in one dependency table.
fn rewrite_deps(table: &mut Table, new: &BTreeMap<String, Version>) -> bool {
    let mut changed = false;
    for (key, item) in table.iter_mut() {
        let package = dep_package(key.get(), item).to_owned();
        let Some(version) = new.get(&package) else {
            continue;
        };
        let Some(t) = item.as_table_like_mut() else {
            continue;
        };
        if t.get("path").is_none() {
            continue;
        }
        let Some(old) = t.get("version").and_then(Item::as_str).map(str::to_owned) else {
            continue;
        };
        let req = rewrite_req(&old, version);
        if req != old
            && let Some(v) = t.get_mut("version")
        {
            set_str(v, &req);
            changed = true;
        }
    }
    changed
}

fn dep_tables_mut(doc: &mut DocumentMut) -> Vec<&mut Table> {
    const KEYS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    fn add<'a>(t: &'a mut Table, out: &mut Vec<&'a mut Table>) {
        for (key, item) in t.iter_mut() {
            if KEYS.contains(&key.get())
                && let Some(deps) = item.as_table_mut()
            {
                out.push(deps);
            }
        }
    }
    let mut out = Vec::new();
    for (key, item) in doc.as_table_mut().iter_mut() {
        if KEYS.contains(&key.get()) {
            if let Some(deps) = item.as_table_mut() {
                out.push(deps);
            }
        } else if key.get() == "target"
            && let Some(targets) = item.as_table_mut()
        {
            for (_, target) in targets.iter_mut() {
                if let Some(target) = target.as_table_mut() {
                    add(target, &mut out);
                }
            }
        }
    }
    out
}

/// Every change `release version` makes, without writing anything.
pub fn edits(ws: &Workspace, pending: &Pending, plan: &Plan) -> Result<Vec<Edit>, String> {
    edits_with(ws, pending, plan, true)
}

/// [`edits`]; the changelog sections list `pending`'s changesets, which are removed when
/// `remove_changesets` (prerelease mode keeps them until `pre exit`).
pub fn edits_with(
    ws: &Workspace,
    pending: &Pending,
    plan: &Plan,
    remove_changesets: bool,
) -> Result<Vec<Edit>, String> {
    let new: BTreeMap<String, Version> = plan
        .bumped()
        .map(|r| (r.name.clone(), r.new_version.clone()))
        .collect();
    let mut docs: BTreeMap<PathBuf, (String, DocumentMut)> = BTreeMap::new();
    fn doc<'a>(
        docs: &'a mut BTreeMap<PathBuf, (String, DocumentMut)>,
        ws: &Workspace,
        rel: PathBuf,
    ) -> Result<&'a mut DocumentMut, String> {
        if !docs.contains_key(&rel) {
            let text = workspace::read(&ws.root.join(&rel))?;
            let d = text
                .parse::<DocumentMut>()
                .map_err(|e| format!("{}: {e}", rel.display()))?;
            docs.insert(rel.clone(), (text, d));
        }
        docs.get_mut(&rel)
            .map(|(_, d)| d)
            .ok_or_else(|| format!("{}: not loaded", rel.display()))
    }
    let root_manifest = PathBuf::from("Cargo.toml");

    // Versions.
    let inheritors: Vec<&str> = ws
        .crates
        .iter()
        .filter(|c| c.inherits_version)
        .map(|c| c.name.as_str())
        .collect();
    let shared = inheritors.first().and_then(|first| {
        let v = new.get(*first)?;
        inheritors
            .iter()
            .all(|n| new.get(*n) == Some(v))
            .then(|| v.clone())
    });
    if let Some(v) = &shared {
        let d = doc(&mut docs, ws, root_manifest.clone())?;
        if let Some(item) = d
            .get_mut("workspace")
            .and_then(|w| w.get_mut("package"))
            .and_then(|p| p.get_mut("version"))
        {
            set_str(item, &v.to_string());
        }
    }
    for c in &ws.crates {
        let Some(v) = new.get(&c.name) else { continue };
        if c.inherits_version && shared.is_some() {
            continue;
        }
        let d = doc(&mut docs, ws, c.dir.join("Cargo.toml"))?;
        let Some(pkg) = d.get_mut("package").and_then(Item::as_table_mut) else {
            return Err(format!(
                "{}: no [package]",
                c.dir.join("Cargo.toml").display()
            ));
        };
        match pkg.get_mut("version") {
            Some(item) if item.is_str() => set_str(item, &v.to_string()),
            Some(item) => {
                // `version.workspace = true` (a dotted key) → `version = "x.y.z"` in its place.
                // The comments above the line belong to the inner key (`workspace`): keep them.
                let line_prefix = item
                    .as_table()
                    .and_then(|t| t.iter().next().and_then(|(k, _)| t.key(k)))
                    .and_then(|k| k.leaf_decor().prefix().cloned());
                let mut value = Value::from(v.to_string());
                value.decor_mut().set_prefix(" ");
                *item = Item::Value(value);
                if let Some(mut key) = pkg.key_mut("version") {
                    key.leaf_decor_mut().set_suffix(" ");
                    if let Some(prefix) = line_prefix {
                        key.leaf_decor_mut().set_prefix(prefix);
                    }
                }
            }
            None => {
                pkg.insert("version", toml_edit::value(v.to_string()));
            }
        }
    }

    // Version requirements on the released crates.
    if !new.is_empty() {
        let d = doc(&mut docs, ws, root_manifest.clone())?;
        if let Some(deps) = d
            .get_mut("workspace")
            .and_then(|w| w.get_mut("dependencies"))
            .and_then(Item::as_table_mut)
        {
            rewrite_deps(deps, &new);
        }
        for c in &ws.crates {
            let d = doc(&mut docs, ws, c.dir.join("Cargo.toml"))?;
            for t in dep_tables_mut(d) {
                rewrite_deps(t, &new);
            }
        }
    }

    let mut out: Vec<Edit> = docs
        .into_iter()
        .filter_map(|(path, (before, d))| {
            let after = d.to_string();
            (after != before).then_some(Edit {
                path,
                before: Some(before),
                after: Some(after),
            })
        })
        .collect();

    // Changelogs.
    for r in plan.bumped() {
        let Some(c) = ws.get(&r.name) else { continue };
        let path = c.dir.join("CHANGELOG.md");
        let before = match std::fs::read_to_string(ws.root.join(&path)) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let section = changelog::section(ws, pending, plan, r);
        let after = changelog::insert(before.as_deref(), &r.name, &section);
        out.push(Edit {
            path,
            before,
            after: Some(after),
        });
    }

    // Consumed changesets.
    for cs in pending.changesets.iter().filter(|_| remove_changesets) {
        let before = workspace::read(&ws.root.join(&cs.path))?;
        out.push(Edit {
            path: cs.path.clone(),
            before: Some(before),
            after: None,
        });
    }

    // Cargo.lock: the members' own entries.
    let lock = Path::new("Cargo.lock");
    if let Ok(before) = std::fs::read_to_string(ws.root.join(lock)) {
        let after = lock_with(&before, ws, &new).map_err(|e| format!("Cargo.lock: {e}"))?;
        if after != before {
            out.push(Edit {
                path: lock.to_path_buf(),
                before: Some(before),
                after: Some(after),
            });
        }
    }
    Ok(out)
}

/// `Cargo.lock` with the members' versions changed (entries without `source`).
fn lock_with(
    text: &str,
    ws: &Workspace,
    new: &BTreeMap<String, Version>,
) -> Result<String, String> {
    let mut doc = text.parse::<DocumentMut>().map_err(|e| e.to_string())?;
    let Some(packages) = doc
        .get_mut("package")
        .and_then(Item::as_array_of_tables_mut)
    else {
        return Ok(text.to_owned());
    };
    for p in packages.iter_mut() {
        if p.contains_key("source") {
            // A registry or git package; rename "name old" references below only for members.
        } else if let Some(name) = p.get("name").and_then(Item::as_str).map(str::to_owned)
            && let (Some(v), Some(item)) = (new.get(&name), p.get_mut("version"))
        {
            set_str(item, &v.to_string());
        }
        // References written "name version" (when two versions of a name are locked).
        if let Some(deps) = p.get_mut("dependencies").and_then(Item::as_array_mut) {
            for d in deps.iter_mut() {
                let Some(s) = d.as_str() else { continue };
                let mut parts = s.split(' ');
                let (Some(name), Some(version), None) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if let (Some(c), Some(v)) = (ws.get(name), new.get(name))
                    && c.version.to_string() == version
                {
                    let decor = d.decor().clone();
                    *d = Value::from(format!("{name} {v}"));
                    *d.decor_mut() = decor;
                }
            }
        }
    }
    Ok(doc.to_string())
}

/// The edits as a unified diff.
pub fn diff(edits: &[Edit]) -> String {
    let mut out = String::new();
    for e in edits {
        let before = e.before.as_deref().unwrap_or("");
        let after = e.after.as_deref().unwrap_or("");
        let a = if e.before.is_some() {
            format!("a/{}", e.path.display())
        } else {
            "/dev/null".to_owned()
        };
        let b = if e.after.is_some() {
            format!("b/{}", e.path.display())
        } else {
            "/dev/null".to_owned()
        };
        out.push_str(&format!("diff {a} {b}\n"));
        out.push_str(
            &similar::TextDiff::from_lines(before, after)
                .unified_diff()
                .context_radius(3)
                .header(&a, &b)
                .to_string(),
        );
    }
    out
}

/// Writes the edits under `root`.
pub fn write(root: &Path, edits: &[Edit]) -> Result<(), String> {
    for e in edits {
        let path = root.join(&e.path);
        let result = match &e.after {
            Some(text) => std::fs::write(&path, text),
            None => std::fs::remove_file(&path),
        };
        result.map_err(|err| format!("{}: {err}", path.display()))?;
    }
    Ok(())
}
