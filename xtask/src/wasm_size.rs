//! `cargo xtask bench wasm-size`: what nhost adds to a Yew app's bundle, measured against a bare
//! Yew app with the same UI, all built in the same run — for the single-page app
//! (`examples/yew-csr` against `examples/yew-csr-bare`) and for the full-stack site's hydrating
//! bundle (`examples/axum-ssr` against `examples/axum-ssr-bare`).
//!
//! Both are measured after `wasm-bindgen`, and again after `wasm-opt -Oz` when the `wasm-opt` on
//! `PATH` can read the module (Debian's binaryen 108 cannot; the npm package `binaryen` can).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::{Result, target_dir};

/// `(bare app, app with nhost)` pairs, measured against each other.
const PAIRS: [(&str, &str); 2] = [
    ("example-yew-csr-bare", "example-yew-csr"),
    ("example-axum-ssr-bare", "example-axum-ssr"),
];

pub(crate) fn run() -> Result<ExitCode> {
    crate::browser::check_runner()?;
    // One cargo build per pair: built together, the four would share one set of features
    // (Yew's `csr` and `hydration`, web-sys's), and each bundle would carry the others'.
    let mut wasm_dir = None;
    for (bare, app) in PAIRS {
        let mut build = crate::wasm::cargo_command("build")?;
        build.args(["--profile", "wasm-release", "-p", bare, "-p", app]);
        wasm_dir = Some(crate::wasm::output_dir(&build, "wasm-release"));
        eprintln!("xtask: building {bare} and {app} for wasm32 (profile wasm-release)");
        if !build.status()?.success() {
            return Err(format!("the wasm32 build of {bare} and {app} failed").into());
        }
    }
    let wasm_dir = wasm_dir.ok_or("no app to measure")?;
    let apps: Vec<&str> = PAIRS.iter().flat_map(|(bare, app)| [*bare, *app]).collect();
    let mut wasm_opt = wasm_opt_version();
    let mut rows = Vec::new();
    for app in apps {
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
        let js = out.join(format!("{app}.js"));
        let js_gz = gzip_len(&js)?;
        let plain = Size {
            raw: len(&wasm)? + len(&js)?,
            gz: gzip_len(&wasm)? + js_gz,
        };
        let optimised = match &wasm_opt {
            Some(_) => {
                let opt = out.join(format!("{app}_bg.opt.wasm"));
                let ok = Command::new("wasm-opt")
                    .args(["-Oz", "--all-features", "-o"])
                    .arg(&opt)
                    .arg(&wasm)
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    Some(Size {
                        raw: len(&opt)? + len(&js)?,
                        gz: gzip_len(&opt)? + js_gz,
                    })
                } else {
                    eprintln!(
                        "xtask: this wasm-opt cannot read the module (too old?); measuring without it"
                    );
                    wasm_opt = None;
                    None
                }
            }
            None => None,
        };
        rows.push((app, plain, optimised));
    }
    let with_opt = wasm_opt.is_some();

    println!(
        "{:<30} {:>10} {:>10} {:>18} {:>18}",
        "bundle (wasm + js glue)", "raw", "gzip -9", "wasm-opt -Oz, raw", "wasm-opt, gzip -9"
    );
    for (app, plain, opt) in &rows {
        let (raw, gz) = match opt.as_ref().filter(|_| with_opt) {
            Some(o) => (o.raw.to_string(), o.gz.to_string()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "{app:<30} {:>10} {:>10} {raw:>18} {gz:>18}",
            plain.raw, plain.gz
        );
    }
    let kb = |b: i64| b as f64 / 1024.0;
    for (pair, (bare, app)) in rows.chunks(2).zip(PAIRS) {
        let [(_, bare_plain, bare_opt), (_, plain, opt)] = pair else {
            continue;
        };
        let plain_added = plain.gz as i64 - bare_plain.gz as i64;
        println!(
            "\n{app} (against {bare}): nhost adds {plain_added} bytes gzip ({:.1} KB) before wasm-opt",
            kb(plain_added)
        );
        match (bare_opt, opt, &wasm_opt) {
            (Some(bare_size), Some(app_size), Some(version)) => {
                let added = app_size.gz as i64 - bare_size.gz as i64;
                println!(
                    "{app} (against {bare}): nhost adds {added} bytes gzip ({:.1} KB) after wasm-opt -Oz ({version})",
                    kb(added),
                );
            }
            _ => println!(
                "wasm-opt: none that can read the module is installed (Debian's binaryen is too old; \
                 `npm install -g binaryen` brings a current one)"
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sizes of one bundle: wasm plus JS glue, raw and gzipped.
struct Size {
    raw: u64,
    gz: u64,
}

/// `wasm-opt --version` of the one on `PATH`, if any.
fn wasm_opt_version() -> Option<String> {
    let out = Command::new("wasm-opt")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// Size of `path` compressed with `gzip -9`.
fn gzip_len(path: &Path) -> Result<u64> {
    let out = Command::new("gzip")
        // `-n`: no file name in the header, so the name of the file does not count.
        .args(["-9", "-n", "-c"])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()).into());
    }
    Ok(out.stdout.len() as u64)
}
