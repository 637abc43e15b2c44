//! The JavaScript side of `cargo xtask bench wasm-size`, in the same run: what the Nhost
//! JavaScript SDKs add to a bare React app with the UI of `examples/yew-csr` — issue 14's
//! side-by-side measure.
//!
//! `xtask/js-peers/` holds the apps — `bare.jsx`, with the session faked by local state as
//! `examples/yew-csr-bare` does; `nhost.jsx` on `@nhost/react` 3 (the SDK issue 14 compared
//! with); `nhost-js.jsx` on `@nhost/nhost-js` 4, the current SDK, which has no React package —
//! and the exact versions (`package-lock.json`: `@nhost/react` 3.11.2, `@nhost/nhost-js` 4.7.0,
//! React 18.3.1, esbuild 0.25.12). They are
//! copied to `target/js-peers`, installed there with `npm ci --ignore-scripts` (again only when
//! the lock file changed; esbuild needs no install script, its binary is a package of its own),
//! bundled by esbuild (`--bundle --minify`, production React, ES modules, ES2020) and gzipped
//! (`-9 -n`).

use std::process::{Command, Stdio};

use crate::wasm_size::gzip_len;
use crate::{Result, project_root, target_dir};

/// The files of `xtask/js-peers/` the measurement needs.
const FILES: [&str; 5] = [
    "package.json",
    "package-lock.json",
    "bare.jsx",
    "nhost.jsx",
    "nhost-js.jsx",
];

/// The apps on an SDK: the app's file name (without `.jsx`) and the SDK's package.
const PEERS: [(&str, &str); 2] = [("nhost", "@nhost/react"), ("nhost-js", "@nhost/nhost-js")];

/// Gzipped bundle sizes of the apps, and what they were built from.
pub(crate) struct Sizes {
    /// The bare app.
    pub(crate) bare: u64,
    /// Each SDK's app: the SDK as `package version` (e.g. `@nhost/react 3.11.2`) and its size.
    pub(crate) peers: Vec<(String, u64)>,
    /// The other installed versions, e.g. `react 18.3.1, esbuild 0.25.12`.
    pub(crate) versions: String,
}

/// The packages besides the SDKs whose installed versions [`Sizes::versions`] names.
const NAMED: [&str; 2] = ["react", "esbuild"];

/// All apps bundled and gzipped; `None` (having said why) when npm or a build fails.
pub(crate) fn measure() -> Option<Sizes> {
    match try_measure() {
        Ok(sizes) => Some(sizes),
        Err(e) => {
            eprintln!("xtask: the JavaScript SDKs' comparison was not measured: {e}");
            None
        }
    }
}

fn try_measure() -> Result<Sizes> {
    let src = project_root().join("xtask").join("js-peers");
    let dir = target_dir().join("js-peers");
    std::fs::create_dir_all(&dir)?;
    let mut lock_changed = false;
    for file in FILES {
        let new = std::fs::read(src.join(file))?;
        let old = std::fs::read(dir.join(file)).ok();
        if old.as_deref() != Some(new.as_slice()) {
            std::fs::write(dir.join(file), &new)?;
            lock_changed |= file == "package-lock.json";
        }
    }
    let esbuild = dir.join("node_modules").join(".bin").join("esbuild");
    if lock_changed || !esbuild.exists() {
        eprintln!(
            "xtask: installing the JavaScript apps' packages (npm ci) into {}",
            dir.display()
        );
        let ok = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run npm (is Node.js + npm installed?): {e}"))?
            .success();
        if !ok {
            return Err("npm ci failed".into());
        }
    }
    let bundle = |app: &str| -> Result<u64> {
        let out = dir.join("dist").join(format!("{app}.js"));
        let ok = Command::new(&esbuild)
            .arg(format!("{app}.jsx"))
            .args([
                "--bundle",
                "--minify",
                "--format=esm",
                "--target=es2020",
                "--define:process.env.NODE_ENV=\"production\"",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", out.display()))
            .current_dir(&dir)
            .status()?
            .success();
        if !ok {
            return Err(format!("esbuild failed on {app}.jsx").into());
        }
        gzip_len(&out)
    };
    let version = |package: &str| -> String {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        std::fs::read(&manifest)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| v.get("version")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned())
    };
    let mut peers = Vec::new();
    for (app, package) in PEERS {
        peers.push((format!("{package} {}", version(package)), bundle(app)?));
    }
    Ok(Sizes {
        bare: bundle("bare")?,
        peers,
        versions: NAMED
            .iter()
            .map(|p| format!("{p} {}", version(p)))
            .collect::<Vec<_>>()
            .join(", "),
    })
}
