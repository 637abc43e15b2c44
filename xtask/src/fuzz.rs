//! `cargo xtask fuzz`: run every cargo-fuzz target of `fuzz/` for a while and report the figures.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use crate::{Result, project_root, take_flag, take_value};

const HELP: &str = "\
cargo xtask fuzz — run the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer)

USAGE:
    cargo xtask fuzz [--smoke] [--seconds N] [--target NAME]...

Builds every target of fuzz/Cargo.toml once (`cargo +nightly fuzz build`), then runs the built
binaries one after another, single process, each for N seconds (`-max_total_time=N`), and
prints a table: executions, corpus entries, crashes. Each run starts from the committed seeds
(fuzz/seeds/<target>) and its own corpus (fuzz/corpus/<target>, kept between runs; with --smoke
a throwaway one under fuzz/target/smoke-corpus). A crash leaves its input in
fuzz/artifacts/<target>/ and fails the command; libFuzzer's output is in
fuzz/target/xtask-logs/<target>.log.

OPTIONS:
    --smoke          10 seconds per target (CI: the targets keep building and do not crash at once)
    --seconds N      Seconds per target (default 600)
    --target NAME    Only this target (repeatable)
    -h, --help       Print this help

Needs a nightly toolchain (`rustup toolchain install nightly --profile minimal`) and cargo-fuzz
(`cargo install cargo-fuzz --locked`); .ci/run installs both when it can.
";

/// Seconds per target of `--smoke`: five targets stay under a minute in all.
const SMOKE_SECONDS: u64 = 10;

/// A single input that takes longer than this is reported as a hang (libFuzzer's `-timeout`).
const INPUT_TIMEOUT_SECONDS: u64 = 25;

/// The figures of one target's run, read from libFuzzer's output.
#[derive(Debug, Default)]
struct Figures {
    execs: Option<u64>,
    corpus: Option<u64>,
    crashes: usize,
}

pub(crate) fn run(mut args: Vec<String>) -> Result<ExitCode> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let smoke = take_flag(&mut args, "--smoke");
    let seconds: u64 =
        take_value(&mut args, "--seconds")?.unwrap_or(if smoke { SMOKE_SECONDS } else { 600 });
    let mut only = Vec::new();
    while let Some(t) = take_value::<String>(&mut args, "--target")? {
        only.push(t);
    }
    if let Some(a) = args.first() {
        return Err(format!("`cargo xtask fuzz`: unexpected argument `{a}`; see --help").into());
    }

    let root = project_root();
    let fuzz_dir = root.join("fuzz");
    let mut targets = targets(&fuzz_dir.join("Cargo.toml"))?;
    if !only.is_empty() {
        if let Some(unknown) = only.iter().find(|t| !targets.contains(t)) {
            return Err(format!("no fuzz target `{unknown}` in fuzz/Cargo.toml").into());
        }
        targets.retain(|t| only.contains(t));
    }
    check_tools()?;

    let mut build = fuzz_command(&root);
    build.args(["build", "--fuzz-dir", "fuzz"]);
    eprintln!(
        "xtask: cargo +nightly fuzz build ({} targets)",
        targets.len()
    );
    if !build.status()?.success() {
        return Err("`cargo +nightly fuzz build` failed".into());
    }

    let logs = fuzz_dir.join("target").join("xtask-logs");
    std::fs::create_dir_all(&logs)?;
    let mut rows = Vec::new();
    let mut failed = false;
    for target in &targets {
        let corpus = if smoke {
            let dir = fuzz_dir.join("target").join("smoke-corpus").join(target);
            // A fresh corpus each time: the smoke run checks the targets, not a saved state.
            let _ = std::fs::remove_dir_all(&dir);
            dir
        } else {
            fuzz_dir.join("corpus").join(target)
        };
        std::fs::create_dir_all(&corpus)?;
        let seeds = fuzz_dir.join("seeds").join(target);
        let artifacts = fuzz_dir.join("artifacts").join(target);
        let crashes_before = count_files(&artifacts);
        let log_path = logs.join(format!("{target}.log"));
        let log = std::fs::File::create(&log_path)?;

        // The binary `cargo fuzz build` made, run directly: `cargo fuzz run` would build again
        // first, and a run of many minutes should fuzz the code the build above saw.
        std::fs::create_dir_all(&artifacts)?;
        let mut cmd = Command::new(binary(&fuzz_dir, target)?);
        cmd.current_dir(&root)
            .arg(&corpus)
            .args(seeds.is_dir().then_some(&seeds))
            .arg(format!(
                "-artifact_prefix={}{}",
                artifacts.display(),
                std::path::MAIN_SEPARATOR
            ))
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
            .arg("-print_final_stats=1")
            .stdout(Stdio::null())
            .stderr(log);
        eprintln!(
            "xtask: fuzzing {target} for {seconds} s (log: {})",
            log_path.display()
        );
        let status = cmd.status()?;
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut figures = read_figures(&output);
        figures.crashes = count_files(&artifacts).saturating_sub(crashes_before);
        if figures.corpus.is_none() {
            figures.corpus = Some(count_files(&corpus) as u64);
        }
        if !status.success() || figures.crashes > 0 {
            failed = true;
            eprintln!(
                "xtask: {target} FAILED ({status}); the end of its log:\n{}",
                tail(&output, 40)
            );
        }
        rows.push((target.clone(), figures, status.success()));
    }

    println!(
        "\n{:<20} {:>12} {:>8} {:>8}  result",
        "target", "execs", "corpus", "crashes"
    );
    for (target, f, ok) in &rows {
        let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        println!(
            "{:<20} {:>12} {:>8} {:>8}  {}",
            target,
            show(f.execs),
            show(f.corpus),
            f.crashes,
            if *ok { "ok" } else { "FAILED" }
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `cargo +nightly fuzz` in the workspace root, through rustup's `cargo` proxy (`+nightly`
/// means nothing to a toolchain's own `cargo`), without the variables that pin the toolchain or
/// the target directory of the cargo that runs xtask: the fuzz workspace builds into
/// `fuzz/target` with the nightly.
fn fuzz_command(root: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root);
    for var in [
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("+nightly").arg("fuzz");
    cmd
}

/// The fuzz target's binary as `cargo fuzz build` leaves it: `fuzz/target/<host>/release/<name>`.
fn binary(fuzz_dir: &Path, target: &str) -> Result<std::path::PathBuf> {
    let built = std::fs::read_dir(fuzz_dir.join("target"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("release").join(target))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    built.ok_or_else(|| {
        format!("no binary for the fuzz target `{target}` under fuzz/target after the build").into()
    })
}

/// Fails with the command that installs what is missing: never skips.
fn check_tools() -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !nightly {
        return Err(
            "the fuzz targets need a nightly toolchain and there is none: run \
                    `rustup toolchain install nightly --profile minimal`"
                .into(),
        );
    }
    let fuzz = fuzz_command(&project_root())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !fuzz {
        return Err("cargo-fuzz is not installed: run `cargo install cargo-fuzz --locked`".into());
    }
    Ok(())
}

/// The `[[bin]]` names of the fuzz crate's manifest, in order.
fn targets(manifest: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin
            && let Some(name) = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
        {
            targets.push(name.trim().trim_matches('"').to_owned());
        }
    }
    if targets.is_empty() {
        return Err(format!("no [[bin]] targets in {}", manifest.display()).into());
    }
    Ok(targets)
}

/// Executions and corpus size from libFuzzer's final lines (`stat::number_of_executed_units`,
/// else the last `#N … corp: C/…` status line).
fn read_figures(output: &str) -> Figures {
    let mut figures = Figures::default();
    for line in output.lines() {
        if let Some(n) = line
            .strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
        {
            figures.execs = Some(n);
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.split_whitespace();
            if let Some(n) = words.next().and_then(|n| n.parse().ok()) {
                figures.execs = figures.execs.max(Some(n));
            }
            if let Some(corp) = line
                .split_whitespace()
                .skip_while(|w| *w != "corp:")
                .nth(1)
                .and_then(|c| c.split('/').next())
                .and_then(|c| c.parse().ok())
            {
                figures.corpus = Some(corp);
            }
        }
    }
    figures
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.filter_map(|e| e.ok()).count())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_come_from_the_final_stats_and_the_last_status_line() {
        let log = "\
#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb
#4096\tpulse  cov: 50 ft: 60 corp: 12/300b lim: 4 exec/s: 2048 rss: 40Mb
#9000\tDONE   cov: 55 ft: 66 corp: 14/320b lim: 4 exec/s: 900 rss: 41Mb
Done 9000 runs in 10 second(s)
stat::number_of_executed_units: 9001
";
        let f = read_figures(log);
        assert_eq!(f.execs, Some(9001));
        assert_eq!(f.corpus, Some(14));
    }

    #[test]
    fn the_manifest_lists_the_targets() {
        let targets = targets(&project_root().join("fuzz").join("Cargo.toml")).expect("targets");
        assert!(targets.contains(&"changeset_parse".to_owned()));
        assert!(targets.len() >= 5, "{targets:?}");
    }
}
