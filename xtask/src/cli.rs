//! Hand-parsed arguments, in the style of the rest of xtask.

use std::path::{Path, PathBuf};

/// What every command returns; the message is printed as `error: …`.
pub(crate) type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// This workspace's root (the parent of xtask's directory).
pub(crate) fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Pulls a `--flag VALUE` (or `--flag=VALUE`) out of `args`.
pub(crate) fn take_value(args: &mut Vec<String>, flag: &str) -> Result<Option<String>> {
    let prefix = format!("{flag}=");
    let Some(i) = args
        .iter()
        .position(|a| a == flag || a.starts_with(&prefix))
    else {
        return Ok(None);
    };
    let arg = args.remove(i);
    match arg.strip_prefix(&prefix) {
        Some(v) => Ok(Some(v.to_owned())),
        None if i < args.len() => Ok(Some(args.remove(i))),
        None => Err(format!("`{flag}` needs a value").into()),
    }
}

/// Pulls every `--flag VALUE` out of `args`, in order.
pub(crate) fn take_values(args: &mut Vec<String>, flag: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    while let Some(v) = take_value(args, flag)? {
        out.push(v);
    }
    Ok(out)
}

/// Removes `flag` from `args`; says whether it was there.
pub(crate) fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

/// `--root DIR`, else this workspace.
pub(crate) fn take_root(args: &mut Vec<String>) -> Result<PathBuf> {
    Ok(take_value(args, "--root")?.map_or_else(project_root, PathBuf::from))
}

/// Fails on arguments nobody took.
pub(crate) fn no_more(args: &[String], command: &str) -> Result<()> {
    match args.first() {
        None => Ok(()),
        Some(a) => Err(format!(
            "`cargo xtask {command}`: unexpected argument `{a}`; see `cargo xtask {command} --help`"
        )
        .into()),
    }
}

/// `path` relative to `root` when it is inside it, for messages.
pub(crate) fn rel(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// The `cargo` that runs us (cargo sets `$CARGO`), or the one on `PATH`.
pub(crate) fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
