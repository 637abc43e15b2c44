//! `cargo xtask release publish`: `cargo publish` for every publishable crate whose version is
//! not on the registry yet, in dependency order; a dry run unless `--execute`, which also tags
//! each published crate `<crate>-v<version>`.

use crate::changeset::{self, Config};
use crate::cli::Result;
use crate::workspace::{Crate, DepKind, Workspace};
use std::path::Path;
use std::process::Command;

/// Whether the registry has a crate version.
enum OnRegistry {
    Yes,
    No,
    /// The registry could not be asked; the reason.
    Unknown(String),
}

fn on_registry(c: &Crate) -> OnRegistry {
    // Outside the workspace, or `cargo info` describes the local crate instead.
    let out = Command::new(crate::cli::cargo())
        .args(["info", "--quiet", &format!("{}@{}", c.name, c.version)])
        .current_dir(std::env::temp_dir())
        .output();
    match out {
        Err(e) => OnRegistry::Unknown(format!("cannot run cargo: {e}")),
        Ok(o) if o.status.success() => OnRegistry::Yes,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("could not find") {
                OnRegistry::No
            } else {
                let first = err
                    .lines()
                    .find(|l| l.contains("error"))
                    .unwrap_or("no answer");
                OnRegistry::Unknown(first.trim().to_owned())
            }
        }
    }
}

/// The publishable, not ignored crates, dependencies first.
pub fn publish_order<'a>(ws: &'a Workspace, config: &Config) -> Vec<&'a Crate> {
    let mut todo: Vec<&Crate> = ws
        .crates
        .iter()
        .filter(|c| c.publishable && !config.is_ignored(&c.name))
        .collect();
    let mut done: Vec<&Crate> = Vec::new();
    while !todo.is_empty() {
        let ready = todo.iter().position(|c| {
            c.deps
                .iter()
                .filter(|d| d.kind != DepKind::Dev)
                .all(|d| d.name == c.name || !todo.iter().any(|t| t.name == d.name))
        });
        // A cycle (Cargo forbids one between normal dependencies): keep the name order.
        done.push(todo.remove(ready.unwrap_or(0)));
    }
    done
}

/// Publishes (or, without `execute`, dry-runs) every unpublished crate version.
pub(super) fn run(root: &Path, execute: bool, offline: bool) -> Result<()> {
    let ws = crate::workspace::load(root)?;
    let config = match changeset::load(&ws) {
        Ok(p) => p.config,
        Err(_) => {
            // Bad changesets do not stop publishing what is already versioned; the config does.
            let text = std::fs::read_to_string(root.join(changeset::DIR).join("config.toml"))
                .unwrap_or_default();
            changeset::parse_config(&text)
                .map_err(|e| format!("changesets/config.toml:{}: {}", e.line, e.message))?
        }
    };
    let order = publish_order(&ws, &config);

    if execute && offline {
        return Err("`--execute` publishes to the registry: it cannot be `--offline`".into());
    }
    let mut problems = Vec::new();
    for c in &order {
        for d in c.deps.iter().filter(|d| d.kind != DepKind::Dev) {
            let Some(dep) = ws.get(&d.name) else { continue };
            if !dep.publishable {
                problems.push(format!(
                    "{} depends on {}, which has publish = false",
                    c.name, d.name
                ));
            } else if d.req.is_none() {
                problems.push(format!(
                    "{} depends on {} by path without a version requirement; cargo publish needs \
                     one: add `version = \"{}\"` to that dependency",
                    c.name, d.name, dep.version
                ));
            }
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("  {p}");
        }
        return Err(format!(
            "{} problem(s) would make cargo publish fail",
            problems.len()
        )
        .into());
    }

    let mut to_publish: Vec<&Crate> = Vec::new();
    let mut unreachable: Option<String> = None;
    for c in order {
        if offline {
            to_publish.push(c);
            continue;
        }
        if unreachable.is_some() {
            to_publish.push(c);
            continue;
        }
        match on_registry(c) {
            OnRegistry::Yes => println!(
                "  {}@{} is on the registry already: skipped",
                c.name, c.version
            ),
            OnRegistry::No => to_publish.push(c),
            OnRegistry::Unknown(why) => {
                unreachable = Some(why);
                to_publish.push(c);
            }
        }
    }
    if offline {
        println!("  --offline: not asking the registry which versions it has");
    }
    if let Some(why) = &unreachable {
        if execute {
            return Err(format!(
                "cannot reach the registry to see what is published ({why}); nothing published"
            )
            .into());
        }
        println!("  the registry cannot be reached ({why}): dry-running every publishable crate");
    }
    if to_publish.is_empty() {
        println!("nothing to publish: every publishable crate's version is on the registry");
        return Ok(());
    }
    let list: Vec<String> = to_publish
        .iter()
        .map(|c| format!("{}@{}", c.name, c.version))
        .collect();
    println!(
        "{} in dependency order: {}",
        if execute {
            "publishing"
        } else {
            "dry run of cargo publish"
        },
        list.join(", ")
    );
    let mut cmd = Command::new(crate::cli::cargo());
    cmd.current_dir(root);
    if execute {
        cmd.arg("publish");
    } else if offline {
        // `cargo publish --dry-run` asks the registry even when told --offline; `cargo package`
        // makes the same checks (package, then build each crate against the packaged others)
        // without it.
        println!("  --offline: `cargo package` checks what `cargo publish --dry-run` would");
        cmd.args(["package", "--offline", "--allow-dirty"]);
    } else {
        cmd.args(["publish", "--dry-run", "--allow-dirty"]);
    }
    for c in &to_publish {
        cmd.args(["-p", &c.name]);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo publish: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo {} failed ({status})",
            if execute { "publish" } else { "dry run" }
        )
        .into());
    }

    for c in &to_publish {
        let tag = format!("{}-v{}", c.name, c.version);
        if !execute {
            println!("would create tag {tag}");
            continue;
        }
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["tag", &tag])
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            println!("created tag {tag}");
        } else {
            eprintln!(
                "could not create tag {tag}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    if execute {
        println!("push the tags with `git push --tags`");
    } else {
        println!("dry run: nothing published; `cargo xtask release publish --execute` publishes");
    }
    Ok(())
}
