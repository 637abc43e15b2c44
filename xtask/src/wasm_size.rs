//! `cargo xtask bench wasm-size`: what nhost adds to a Yew app's bundle, measured against a bare
//! Yew app with the same UI, all built in the same run — for the single-page app
//! (`examples/yew-csr` against `examples/yew-csr-bare`) and for the full-stack site's hydrating
//! bundle (`examples/axum-ssr` against `examples/axum-ssr-bare`).
//!
//! Both are measured after `wasm-bindgen`, and again after `wasm-opt -Oz` — binaryen's
//! [`BINARYEN_VERSION`], which reads this compiler's output (Debian's binaryen 108 cannot). The
//! bench installs that version from the npm registry into the target directory when it is not
//! there yet, so the figures are reproducible on a fresh machine (Node.js + npm needed; without
//! them it says so and measures without wasm-opt).
//!
//! `--check` (CI) measures the bundles only and fails when nhost adds more than its
//! [`BUDGETS`] after `wasm-opt -Oz`: the builds are deterministic, so a change that grows the
//! bundle shows as that change, not as noise.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::{Result, target_dir};

/// `(bare app, app with nhost)` pairs, measured against each other.
const PAIRS: [(&str, &str); 2] = [
    ("example-yew-csr-bare", "example-yew-csr"),
    ("example-axum-ssr-bare", "example-axum-ssr"),
];

/// The most nhost may add to each app, in gzipped bytes after `wasm-opt -Oz`, before
/// `--check` fails: the figures of 2026-12-04 (58,367 and 64,525 B, Debian's rustc 1.96.0,
/// binaryen 132) plus 2 %, room for a compiler update, not for a feature. Raise one only with
/// the measured reason in the commit; lower it when a change makes room.
const BUDGETS: [(&str, i64); 2] = [("example-yew-csr", 59_500), ("example-axum-ssr", 65_800)];

pub(crate) fn run(args: Vec<String>) -> Result<ExitCode> {
    let check = match args.as_slice() {
        [] => false,
        [flag] if flag == "--check" => true,
        [extra, ..] => {
            return Err(
                format!("unexpected argument `{extra}` (see `cargo xtask bench --help`)").into(),
            );
        }
    };
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
    let mut wasm_opt = provide_wasm_opt();
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
        let optimised = match wasm_opt.clone() {
            Some((program, _)) => {
                let opt = out.join(format!("{app}_bg.opt.wasm"));
                let ok = Command::new(&program)
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
    let out_dir = |app: &str| target_dir().join("wasm-size").join(app);
    // What nhost adds to each app, after wasm-opt when it ran, else before.
    let mut added_by_app = Vec::new();
    for (pair, (bare, app)) in rows.chunks(2).zip(PAIRS) {
        let [(_, bare_plain, bare_opt), (_, plain, opt)] = pair else {
            continue;
        };
        let plain_added = plain.gz as i64 - bare_plain.gz as i64;
        added_by_app.push((app, plain_added, "before wasm-opt"));
        println!(
            "\n{app} (against {bare}): nhost adds {plain_added} bytes gzip ({:.1} KB) before wasm-opt",
            kb(plain_added)
        );
        match (bare_opt, opt, &wasm_opt) {
            (Some(bare_size), Some(app_size), Some((_, version))) => {
                let added = app_size.gz as i64 - bare_size.gz as i64;
                if let Some(last) = added_by_app.last_mut() {
                    *last = (app, added, "after wasm-opt");
                }
                println!(
                    "{app} (against {bare}): nhost adds {added} bytes gzip ({:.1} KB) after wasm-opt -Oz ({version})",
                    kb(added),
                );
            }
            _ => println!(
                "wasm-opt: binaryen {BINARYEN_VERSION} could not be installed or run \
                 (it comes from the npm registry: install Node.js and npm)"
            ),
        }
    }
    if check {
        return over_budget(&added_by_app, &BUDGETS);
    }
    // The same UI on the Nhost JavaScript SDKs, in this run (issue 14's comparison).
    if let Some(js) = crate::js_peers::measure() {
        println!(
            "\nthe same UI in React (esbuild, minified; {}; the bare React app {} bytes):",
            js.versions, js.bare
        );
        for (sdk, size) in &js.peers {
            let sdk_added = *size as i64 - js.bare as i64;
            println!(
                "{sdk} adds {sdk_added} bytes gzip ({:.1} KB) ({size} bytes)",
                kb(sdk_added)
            );
            if let Some((app, added, when)) = added_by_app.first() {
                println!(
                    "  {app}: nhost adds {:.2}× what {sdk} adds ({when})",
                    *added as f64 / sdk_added as f64
                );
            }
        }
    }
    match (&wasm_opt, twiggy_version()) {
        (Some((program, _)), Some(twiggy)) => {
            for (bare, app) in PAIRS {
                breakdown(program, &twiggy, &out_dir(bare), bare, &out_dir(app), app)?;
            }
        }
        (None, _) => {}
        (Some(_), None) => println!(
            "\nwhere the bytes go: install twiggy for a breakdown per crate \
             (`cargo install twiggy --version {TWIGGY_VERSION} --locked`)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--check`: each app's figure after wasm-opt against its budget.
fn over_budget(added_by_app: &[(&str, i64, &str)], budgets: &[(&str, i64)]) -> Result<ExitCode> {
    let mut over = Vec::new();
    for &(app, budget) in budgets {
        let Some((_, added, when)) = added_by_app.iter().find(|(a, ..)| *a == app) else {
            return Err(format!("{app} was not measured").into());
        };
        if *when != "after wasm-opt" {
            return Err(format!(
                "{app} was measured only {when}: the budget is for after wasm-opt -Oz \
                 (binaryen {BINARYEN_VERSION}, installed from npm: install Node.js and npm)"
            )
            .into());
        }
        println!("{app}: nhost adds {added} bytes (budget {budget})");
        if *added > budget {
            over.push(format!(
                "{app}: nhost adds {added} bytes gzip after wasm-opt, {} over its budget of \
                 {budget} (BUDGETS in xtask/src/wasm_size.rs)",
                added - budget
            ));
        }
    }
    if over.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for line in &over {
        eprintln!("error: {line}");
    }
    eprintln!(
        "`cargo xtask bench wasm-size` shows where the bytes go; raise a budget only with the \
         measured reason in the commit"
    );
    Ok(ExitCode::FAILURE)
}

/// The twiggy release the breakdown is read with (its JSON output).
const TWIGGY_VERSION: &str = "0.8.0";

/// `twiggy --version`, if twiggy is installed.
fn twiggy_version() -> Option<String> {
    let out = Command::new("twiggy").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Where the bytes nhost adds go: both modules after `wasm-opt -Oz` again, but keeping the names
/// (`-g`) and the features wasm-opt detects (twiggy cannot read every feature `--all-features`
/// may use), then `twiggy top`, summed per crate. Code and data are raw bytes before gzip, so
/// they rank where the bytes go rather than add up to the gzip figures.
fn breakdown(
    wasm_opt: &Path,
    twiggy: &str,
    bare_dir: &Path,
    bare: &str,
    app_dir: &Path,
    app: &str,
) -> Result<()> {
    let items = |dir: &Path, name: &str| -> Result<Vec<(String, u64)>> {
        let named = dir.join(format!("{name}_bg.named.wasm"));
        let ok = Command::new(wasm_opt)
            .args(["-Oz", "-g", "-o"])
            .arg(&named)
            .arg(dir.join(format!("{name}_bg.wasm")))
            .stderr(Stdio::null())
            .status()?
            .success();
        if !ok {
            return Err(format!("wasm-opt -g failed for {name}").into());
        }
        let out = Command::new("twiggy")
            .args(["top", "-n", "1000000", "-f", "json"])
            .arg(&named)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "twiggy failed on {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r["name"].as_str()?.to_owned(), r["shallow_size"].as_u64()?)))
            // The names themselves are not shipped: `wasm-opt -Oz` without `-g` drops them.
            .filter(|(n, _)| !n.starts_with("custom section") && !n.contains("subsection"))
            .collect())
    };
    let (bare_items, app_items) = (items(bare_dir, bare)?, items(app_dir, app)?);
    let per_crate = |items: &[(String, u64)]| {
        let mut sums = std::collections::BTreeMap::<String, u64>::new();
        for (name, size) in items {
            *sums.entry(crate_of(name)).or_default() += size;
        }
        sums
    };
    let (b, a) = (per_crate(&bare_items), per_crate(&app_items));
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let diff =
        |k: &String| a.get(k).copied().unwrap_or(0) as i64 - b.get(k).copied().unwrap_or(0) as i64;
    keys.sort_by_key(|k| -diff(k));
    println!(
        "\nwhere the bytes go: {app} against {bare} ({twiggy}; raw bytes after wasm-opt -Oz -g, \
         names not counted; \"(for nhost/example types)\": a crate's generic code instantiated \
         for them)"
    );
    println!("{:<44} {:>22} {:>22} {:>9}", "crate", bare, app, "added");
    for k in keys.iter().filter(|k| diff(k).abs() >= 256) {
        println!(
            "{k:<44} {:>22} {:>22} {:>+9}",
            b.get(*k).copied().unwrap_or(0),
            a.get(*k).copied().unwrap_or(0),
            diff(k)
        );
    }
    let total = |m: &std::collections::BTreeMap<String, u64>| m.values().sum::<u64>() as i64;
    println!(
        "{:<44} {:>22} {:>22} {:>+9}",
        "all",
        total(&b),
        total(&a),
        total(&a) - total(&b)
    );
    println!("largest items of {app}, by raw bytes:");
    let mut top = app_items.clone();
    top.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    for (name, size) in top.iter().take(15) {
        println!("{size:>9}  {}", short_name(name));
    }
    Ok(())
}

/// The crate a function or data item is charged to: the first crate its (demangled) name
/// names; `core`/`alloc`/`std` as `std`, and generic code of std or yew instantiated for
/// nhost's or the example's types marked as such.
fn crate_of(name: &str) -> String {
    if name.starts_with("data segment") {
        return "data (strings, tables)".to_owned();
    }
    let name = short_name(name);
    // `<u128 as core::fmt::Display>::fmt` is charged to `core`: the trait's crate.
    let head = name
        .trim_start_matches('<')
        .split("::")
        .next()
        .unwrap_or("");
    let first = head
        .rsplit_once(" as ")
        .map_or(head, |(_, tr)| tr)
        .to_owned();
    let ours = |k: &str| k.starts_with("nhost_") || k.starts_with("example_");
    if ours(&first) {
        return first;
    }
    let first = match first.as_str() {
        "core" | "alloc" | "std" => "std".to_owned(),
        k if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.is_empty() => {
            k.to_owned()
        }
        _ => return "other (wasm-bindgen shims, …)".to_owned(),
    };
    if name.contains("nhost_") || name.contains("example_") {
        format!("{first} (for nhost/example types)")
    } else {
        first
    }
}

/// A demangled name without the crates' hashes (`yew[2510a4a5164dfe6b]::` → `yew::`).
fn short_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if (8..=16).contains(&hex) && after.as_bytes().get(hex) == Some(&b']') {
            rest = &after[hex + 1..];
        } else {
            out.push('[');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Sizes of one bundle: wasm plus JS glue, raw and gzipped.
struct Size {
    raw: u64,
    gz: u64,
}

/// The binaryen release whose `wasm-opt -Oz` the bench measures: one that reads the output of
/// the compilers this workspace builds with (Debian's binaryen 108 rejects it).
pub(crate) const BINARYEN_VERSION: &str = "132";

/// The `wasm-opt` of [`BINARYEN_VERSION`] and its `--version`: the one on `PATH` when it is that
/// version, else the npm package installed (once) under `target/tools/binaryen-<version>`.
fn provide_wasm_opt() -> Option<(PathBuf, String)> {
    let wanted = format!("wasm-opt version {BINARYEN_VERSION}");
    if let Some(v) = wasm_opt_version(Path::new("wasm-opt"))
        && v.starts_with(&wanted)
    {
        return Some(("wasm-opt".into(), v));
    }
    let prefix = target_dir()
        .join("tools")
        .join(format!("binaryen-{BINARYEN_VERSION}"));
    let program = prefix.join("node_modules").join(".bin").join("wasm-opt");
    if !program.exists() {
        eprintln!(
            "xtask: installing binaryen {BINARYEN_VERSION} (wasm-opt) from the npm registry into {}",
            prefix.display()
        );
        let installed = std::fs::create_dir_all(&prefix).is_ok()
            && Command::new("npm")
                .args([
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                ])
                .arg(&prefix)
                .arg(format!("binaryen@{BINARYEN_VERSION}"))
                .status()
                .is_ok_and(|s| s.success());
        if !installed {
            eprintln!(
                "xtask: could not install binaryen {BINARYEN_VERSION} with npm (is Node.js + npm installed?)"
            );
            return None;
        }
    }
    let version = wasm_opt_version(&program)?;
    Some((program, version))
}

/// `<program> --version`, if it runs.
fn wasm_opt_version(program: &Path) -> Option<String> {
    let out = Command::new(program)
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
pub(crate) fn gzip_len(path: &Path) -> Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_crate_hashes_only() {
        assert_eq!(
            short_name("<yew[2510a4a5164dfe6b]::html::Scope<nhost_core[2c8141fbe11a718]::X>>::f"),
            "<yew::html::Scope<nhost_core::X>>::f"
        );
        // Not a hash: an index, a slice, too short.
        assert_eq!(short_name("f[1]"), "f[1]");
        assert_eq!(short_name("[u8]"), "[u8]");
        assert_eq!(short_name("a[abc]"), "a[abc]");
    }

    #[test]
    fn items_are_charged_to_the_crate_their_path_names() {
        assert_eq!(
            crate_of("data segment \".rodata\""),
            "data (strings, tables)"
        );
        assert_eq!(
            crate_of("<nhost_core[0123456789abcdef]::client::NhostClient>::refresh::{closure#0}"),
            "nhost_core"
        );
        assert_eq!(
            crate_of("<u128 as core[e15bb7c783ef935a]::fmt::Display>::fmt"),
            "std"
        );
        assert_eq!(
            crate_of(
                "<yew[2510a4a5164dfe6b]::Comp<example_yew_csr[5bc1f0d7d2a655d2]::app::App>>::view"
            ),
            "yew (for nhost/example types)"
        );
        assert_eq!(crate_of("yew[2510a4a5164dfe6b]::scheduler::start"), "yew");
        assert_eq!(
            crate_of("__wbg_fetch_1234 externref shim"),
            "other (wasm-bindgen shims, …)"
        );
    }

    #[test]
    fn the_budget_check_fails_over_a_budget_and_only_after_wasm_opt() {
        let budgets = [("a", 100), ("b", 200)];
        let within = [("a", 100, "after wasm-opt"), ("b", 150, "after wasm-opt")];
        assert_eq!(
            over_budget(&within, &budgets).expect("measured"),
            ExitCode::SUCCESS
        );
        let over = [("a", 101, "after wasm-opt"), ("b", 150, "after wasm-opt")];
        assert_eq!(
            over_budget(&over, &budgets).expect("measured"),
            ExitCode::FAILURE
        );
        // A figure before wasm-opt is not compared with a budget for after it.
        let unoptimised = [("a", 90, "before wasm-opt"), ("b", 150, "after wasm-opt")];
        assert!(over_budget(&unoptimised, &budgets).is_err());
        // Neither is an app that was not measured.
        assert!(over_budget(&within[..1], &budgets).is_err());
    }
}
