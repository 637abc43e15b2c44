//! Building an example's browser bundle: its wasm32 build (by the route [`crate::wasm`] picks),
//! then `wasm-bindgen --target web` into a `dist` folder — `<name>.js` and `<name>_bg.wasm`.
//! Used by `cargo xtask yew-csr`, `cargo xtask axum-ssr` and `cargo xtask test`.

use std::path::PathBuf;
use std::process::Command;

use crate::{Result, target_dir};

/// Builds `package` with the cargo `profile` (`"wasm-release"` to serve it, `"dev"` for the
/// end-to-end tests), printing each step, and returns its `dist` folder.
pub(crate) fn build(package: &str, profile: &str) -> Result<PathBuf> {
    let (steps, dist) = steps(package, profile)?;
    for (name, mut cmd) in steps {
        eprintln!("xtask: {name}");
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
        if !status.success() {
            return Err(format!("{name} failed").into());
        }
    }
    Ok(dist)
}

/// The commands that build `package` with the cargo `profile` (the wasm32 build, then
/// wasm-bindgen), to run in order, and the folder they write `<package>.js` and its `.wasm` to:
/// `target/<example>/dist` for `wasm-release`, `target/<example>/dist-<profile>` else, where
/// `<example>` is the package's name without `example-`. Fails, saying what to install, when
/// there is no wasm32 route or `wasm-bindgen` is missing or not at `Cargo.lock`'s version.
pub(crate) fn steps(package: &str, profile: &str) -> Result<(Vec<(String, Command)>, PathBuf)> {
    crate::browser::check_wasm_bindgen("wasm-bindgen")?;
    let mut build = crate::wasm::cargo_command("build")?;
    build.args(["--profile", profile, "-p", package]);
    let wasm = crate::wasm::output_dir(&build, profile).join(format!("{package}.wasm"));
    let folder = package.strip_prefix("example-").unwrap_or(package);
    let dist = target_dir().join(folder).join(match profile {
        "wasm-release" => "dist".to_owned(),
        other => format!("dist-{other}"),
    });
    std::fs::create_dir_all(&dist).map_err(|e| format!("cannot create {}: {e}", dist.display()))?;
    let mut bindgen = Command::new("wasm-bindgen");
    bindgen
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&dist)
        .arg(wasm);
    let steps = vec![
        (
            format!("wasm32 build of {package} (profile {profile})"),
            build,
        ),
        (format!("wasm-bindgen of {package} ({profile})"), bindgen),
    ];
    Ok((steps, dist))
}
