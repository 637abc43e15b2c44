//! What the release tooling needs to know about a Cargo workspace, read from its manifests.

use semver::Version;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table};

/// A workspace: its root, member crates and `[workspace.*]` settings.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// The directory holding the root `Cargo.toml`.
    pub root: PathBuf,
    /// The member crates, sorted by name.
    pub crates: Vec<Crate>,
    /// `[workspace.package] version`, if set.
    pub version: Option<Version>,
}

/// One member crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crate {
    /// `package.name`.
    pub name: String,
    /// Its directory, relative to the workspace root.
    pub dir: PathBuf,
    /// Its version (the workspace's when inherited).
    pub version: Version,
    /// `version.workspace = true`.
    pub inherits_version: bool,
    /// False for `publish = false` (such a crate is versioned but never published or tagged).
    pub publishable: bool,
    /// Its dependencies on other members.
    pub deps: Vec<Dependency>,
}

/// What a dependency is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`: never published to users, so never a reason to release.
    Dev,
}

/// A dependency of a member on another member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The depended-on crate's package name.
    pub name: String,
    /// What for.
    pub kind: DepKind,
    /// The version requirement (own, or from `[workspace.dependencies]`), if any.
    pub req: Option<String>,
}

impl Workspace {
    /// The member called `name`.
    pub fn get(&self, name: &str) -> Option<&Crate> {
        self.crates.iter().find(|c| c.name == name)
    }
}

/// Reads a file as UTF-8, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a manifest for editing, naming it in the error.
pub(crate) fn parse_manifest(path: &Path) -> Result<DocumentMut, String> {
    read(path)?
        .parse::<DocumentMut>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The dependency tables of a manifest: `[dependencies]` and friends, also under `[target.*]`.
pub(crate) fn dependency_tables(doc: &DocumentMut) -> Vec<(DepKind, &Table)> {
    fn add<'a>(t: &'a Table, out: &mut Vec<(DepKind, &'a Table)>) {
        for (key, kind) in [
            ("dependencies", DepKind::Normal),
            ("build-dependencies", DepKind::Build),
            ("dev-dependencies", DepKind::Dev),
        ] {
            // Inline tables (`dependencies = { … }`) are rare; only real tables are read.
            if let Some(deps) = t.get(key).and_then(Item::as_table) {
                out.push((kind, deps));
            }
        }
    }
    let mut out = Vec::new();
    add(doc.as_table(), &mut out);
    if let Some(targets) = doc.get("target").and_then(Item::as_table) {
        for (_, target) in targets.iter() {
            if let Some(t) = target.as_table() {
                add(t, &mut out);
            }
        }
    }
    out
}

/// `package = "…"` of a dependency entry, else its key.
pub(crate) fn dep_package<'a>(key: &'a str, item: &'a Item) -> &'a str {
    item.as_table_like()
        .and_then(|t| t.get("package"))
        .and_then(Item::as_str)
        .unwrap_or(key)
}

/// Expands `members` patterns: plain paths, and paths whose last component is `*`.
fn expand_members(
    root: &Path,
    patterns: &[String],
    exclude: &[String],
) -> Result<Vec<PathBuf>, String> {
    let mut dirs = Vec::new();
    for pattern in patterns {
        if let Some(parent) = pattern.strip_suffix("/*") {
            let base = root.join(parent);
            let entries =
                std::fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| PathBuf::from(parent).join(e.file_name()))
                .filter(|rel| root.join(rel).join("Cargo.toml").is_file())
                .collect();
            found.sort();
            dirs.extend(found);
        } else if pattern.contains(['*', '?', '[']) {
            return Err(format!(
                "workspace member pattern `{pattern}`: only `dir/*` patterns are understood"
            ));
        } else {
            dirs.push(PathBuf::from(pattern));
        }
    }
    dirs.retain(|d| !exclude.iter().any(|x| Path::new(x) == d));
    Ok(dirs)
}

fn strings(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the workspace rooted at `root`.
pub fn load(root: &Path) -> Result<Workspace, String> {
    let root_manifest = root.join("Cargo.toml");
    let doc = parse_manifest(&root_manifest)?;
    let Some(ws) = doc.get("workspace").and_then(Item::as_table) else {
        return Err(format!("{}: no [workspace] table", root_manifest.display()));
    };
    let version = match ws
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
    {
        Some(v) => Some(Version::parse(v).map_err(|e| {
            format!(
                "{}: [workspace.package] version `{v}`: {e}",
                root_manifest.display()
            )
        })?),
        None => None,
    };
    // [workspace.dependencies] entries with a path: key → (package, dir, requirement).
    let mut ws_deps: Vec<(String, String, Option<String>)> = Vec::new();
    if let Some(deps) = ws.get("dependencies").and_then(Item::as_table) {
        for (key, item) in deps.iter() {
            let Some(t) = item.as_table_like() else {
                continue;
            };
            if t.get("path").is_some() {
                let req = t.get("version").and_then(Item::as_str).map(str::to_owned);
                ws_deps.push((key.to_owned(), dep_package(key, item).to_owned(), req));
            }
        }
    }

    let dirs = expand_members(
        root,
        &strings(ws.get("members")),
        &strings(ws.get("exclude")),
    )?;
    let mut crates = Vec::new();
    for dir in dirs {
        let path = root.join(&dir).join("Cargo.toml");
        let m = parse_manifest(&path)?;
        let Some(pkg) = m.get("package").and_then(Item::as_table) else {
            continue; // a virtual manifest nested in the members: not a crate
        };
        let Some(name) = pkg.get("name").and_then(Item::as_str) else {
            return Err(format!("{}: no package.name", path.display()));
        };
        let v = pkg.get("version");
        let inherits_version = v
            .and_then(Item::as_table_like)
            .and_then(|t| t.get("workspace"))
            .and_then(Item::as_bool)
            == Some(true);
        let version = if inherits_version {
            version.clone().ok_or_else(|| {
                format!(
                    "{}: version.workspace = true, but [workspace.package] has no version",
                    path.display()
                )
            })?
        } else {
            // No version at all means 0.0.0 (Cargo's default, unpublishable).
            let raw = v.and_then(Item::as_str).unwrap_or("0.0.0");
            Version::parse(raw).map_err(|e| format!("{}: version `{raw}`: {e}", path.display()))?
        };
        let publishable = !matches!(
            pkg.get("publish")
                .map(|p| (p.as_bool(), p.as_array().map(|a| a.is_empty()))),
            Some((Some(false), _)) | Some((_, Some(true)))
        );
        let mut deps = Vec::new();
        for (kind, table) in dependency_tables(&m) {
            for (key, item) in table.iter() {
                let Some(t) = item.as_table_like() else {
                    continue;
                };
                let inherited = t.get("workspace").and_then(Item::as_bool) == Some(true);
                let (package, req) = if inherited {
                    match ws_deps.iter().find(|(k, _, _)| k == key) {
                        Some((_, package, req)) => (package.clone(), req.clone()),
                        None => continue,
                    }
                } else if t.get("path").is_some() {
                    (
                        dep_package(key, item).to_owned(),
                        t.get("version").and_then(Item::as_str).map(str::to_owned),
                    )
                } else {
                    continue;
                };
                deps.push(Dependency {
                    name: package,
                    kind,
                    req,
                });
            }
        }
        crates.push(Crate {
            name: name.to_owned(),
            dir,
            version,
            inherits_version,
            publishable,
            deps,
        });
    }
    // Keep only dependencies on members (a path can point outside the workspace).
    let names: Vec<String> = crates.iter().map(|c| c.name.clone()).collect();
    for c in &mut crates {
        c.deps.retain(|d| names.contains(&d.name));
    }
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Workspace {
        root: root.to_path_buf(),
        crates,
        version,
    })
}
