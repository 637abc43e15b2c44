//! `cargo xtask changeset add`: writes `changesets/<summary-words>.md`.

use super::{Bump, DIR, check_entries, parse};
use crate::cli::{self, Result};
use crate::workspace;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(root: &Path, mut args: Vec<String>) -> Result<ExitCode> {
    let bumps = cli::take_values(&mut args, "--bump")?;
    let summary = cli::take_value(&mut args, "--summary")?;
    let empty = cli::take_flag(&mut args, "--empty");
    cli::no_more(&args, "changeset add")?;
    let ws = workspace::load(root)?;
    // The config must be valid before adding to it; the other changesets need not be.
    let config = match std::fs::read_to_string(root.join(DIR).join("config.toml")) {
        Ok(text) => super::parse_config(&text)
            .map_err(|e| format!("{DIR}/config.toml:{}: {}", e.line, e.message))?,
        Err(_) => super::Config::default(),
    };

    let mut entries: Vec<(String, Bump)> = Vec::new();
    for b in &bumps {
        let Some((name, word)) = b.split_once('=') else {
            return Err(format!("`--bump {b}`: expected CRATE=KIND, e.g. nhost-yew=minor").into());
        };
        let bump = Bump::from_word(word.trim()).ok_or_else(|| {
            format!("`--bump {b}`: `{word}` is not a bump (major, minor, patch, none)")
        })?;
        entries.push((name.trim().to_owned(), bump));
    }
    let interactive = bumps.is_empty() && !empty;
    if interactive && !std::io::stdin().is_terminal() {
        return Err(
            "no --bump given and not on a terminal to ask: pass --bump CRATE=KIND \
                    (or --empty) and --summary TEXT"
                .into(),
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut ask = |prompt: &str| -> Result<Option<String>> {
        print!("{prompt}");
        std::io::stdout().flush()?;
        lines.next().transpose().map_err(Into::into)
    };
    if interactive {
        println!("Which crates does this change release? (Enter skips a crate)");
        for c in ws
            .crates
            .iter()
            .filter(|c| c.publishable && !config.is_ignored(&c.name))
        {
            loop {
                let answer = ask(&format!(
                    "  {} {} — major/minor/patch/none? ",
                    c.name, c.version
                ))?
                .unwrap_or_default();
                let answer = answer.trim();
                if answer.is_empty() {
                    break;
                }
                match Bump::from_word(answer) {
                    Some(b) => {
                        entries.push((c.name.clone(), b));
                        break;
                    }
                    None => println!("    `{answer}`: type major, minor, patch, none or nothing"),
                }
            }
        }
        if entries.is_empty() {
            return Err("no crate chosen: nothing written (use --empty for a changeset that releases nothing)".into());
        }
    }
    let summary = match summary {
        Some(s) => s,
        None if std::io::stdin().is_terminal() => {
            println!("Summary for the changelog (first line: the one-liner; end with a line `.`):");
            let mut text = Vec::new();
            while let Some(l) = ask("  ")? {
                if l.trim() == "." {
                    break;
                }
                text.push(l);
            }
            text.join("\n")
        }
        None => return Err("`--summary TEXT` is needed when not on a terminal".into()),
    };

    let mut text = String::from("---\n");
    for (name, bump) in &entries {
        text.push_str(&format!("{name}: {bump}\n"));
    }
    text.push_str("---\n\n");
    text.push_str(summary.trim());
    text.push('\n');
    // Written only if it reads back as a valid changeset for this workspace.
    let parsed =
        parse(text.as_bytes()).map_err(|e| format!("changeset not written: {}", e.message))?;
    let problems = check_entries(&ws, &config, &parsed);
    if let Some((_, message)) = problems.first() {
        return Err(format!("changeset not written: {message}").into());
    }

    let dir = root.join(DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stem = slug(parsed.summary.lines().next().unwrap_or_default());
    let mut path = dir.join(format!("{stem}.md"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}.md"));
        n += 1;
    }
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", cli::rel(root, &path).display());
    Ok(ExitCode::SUCCESS)
}

/// A readable file name from the summary's first line: up to six lowercase words joined by `-`.
fn slug(summary: &str) -> String {
    let words: Vec<String> = summary
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        "changeset".to_owned()
    } else {
        words.join("-")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(
            super::slug("Introducing `use_anonymous_sign_in` for Yew apps, finally"),
            "introducing-use-anonymous-sign-in-for"
        );
        assert_eq!(super::slug("¡!"), "changeset");
    }
}
