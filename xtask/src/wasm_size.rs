//! `cargo xtask bench wasm-size`: what nhost adds to a Yew app's bundle, measured against a bare
//! Yew app with the same UI (`examples/yew-csr-bare`), both built in the same run.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::{Result, target_dir};

const APPS: [&str; 2] = ["example-yew-csr-bare", "example-yew-csr"];

pub(crate) fn run() -> Result<ExitCode> {
    crate::browser::check_runner()?;
    let mut build = crate::wasm::cargo_command("build")?;
    build.args(["--profile", "wasm-release"]);
    for app in APPS {
        build.args(["-p", app]);
    }
    let wasm_dir = crate::wasm::output_dir(&build, "wasm-release");
    eprintln!(
        "xtask: building {} for wasm32 (profile wasm-release)",
        APPS.join(" and ")
    );
    if !build.status()?.success() {
        return Err("the wasm32 build failed".into());
    }
    let wasm_opt = Command::new("wasm-opt")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let mut wasm_opt = wasm_opt.is_ok_and(|s| s.success());
    measure(&wasm_dir, &mut wasm_opt)
}

fn measure_without_wasm_opt(wasm_dir: &Path) -> Result<ExitCode> {
    measure(wasm_dir, &mut false)
}

fn measure(wasm_dir: &Path, wasm_opt: &mut bool) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for app in APPS {
        let out = target_dir().join("wasm-size").join(app);
        std::fs::create_dir_all(&out)?;
        let status = Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&out)
            .arg(wasm_dir.join(format!("{app}.wasm")))
            .status()?;
        if !status.success() {
            return Err(format!("wasm-bindgen failed for {app}").into());
        }
        let wasm = out.join(format!("{app}_bg.wasm"));
        if *wasm_opt {
            let optimised = out.join(format!("{app}_bg.opt.wasm"));
            let ok = Command::new("wasm-opt")
                .args(["-Oz", "--all-features", "-o"])
                .arg(&optimised)
                .arg(&wasm)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                std::fs::rename(&optimised, &wasm)?;
            } else {
                eprintln!(
                    "xtask: this wasm-opt cannot read the module (too old?); measuring without it"
                );
                *wasm_opt = false;
                return measure_without_wasm_opt(wasm_dir);
            }
        }
        let js = out.join(format!("{app}.js"));
        let raw = std::fs::metadata(&wasm)?.len() + std::fs::metadata(&js)?.len();
        let gz = gzip_len(&wasm)? + gzip_len(&js)?;
        rows.push((app, raw, gz));
    }
    println!("bundle (wasm + js glue)         raw bytes   gzip -9 bytes");
    for (app, raw, gz) in &rows {
        println!("{app:<30} {raw:>10} {gz:>14}");
    }
    let added = rows[1].2 as i64 - rows[0].2 as i64;
    println!(
        "\nnhost adds {added} bytes gzip ({:.1} KB); wasm-opt {}",
        added as f64 / 1024.0,
        if *wasm_opt {
            "applied (-Oz)"
        } else {
            "not available: sizes are before wasm-opt"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Size of `path` compressed with `gzip -9`.
fn gzip_len(path: &Path) -> Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()).into());
    }
    Ok(out.stdout.len() as u64)
}
