//! `changeset add` on a terminal, the way people use it: driven through a pseudo-terminal
//! (rexpect), answering the prompt for each crate, a wrong word asked again, a skipped crate, the
//! summary ended by a `.` line.

#![cfg(unix)]

mod common;

use common::{Scratch, lib_crate};
use rexpect::session::{PtySession, spawn_command};
use std::process::Command;

/// `a` and `b` are asked about; `quiet` is ignored and `tools` unpublished, so they are not.
fn scratch() -> Scratch {
    let s = Scratch::new();
    s.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    for name in ["a", "b", "quiet"] {
        lib_crate(
            &s,
            &format!("crates/{name}"),
            &format!(
                "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\n"
            ),
        );
    }
    lib_crate(
        &s,
        "crates/tools",
        "[package]\nname = \"tools\"\nversion = \"0.0.0\"\nedition.workspace = true\npublish = false\n",
    );
    s.write("changesets/config.toml", "ignore = [\"quiet\"]\n");
    s
}

fn add_on_a_terminal(s: &Scratch) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["changeset", "add", "--root"]).arg(s.root());
    spawn_command(cmd, Some(30_000)).expect("xtask starts on a pseudo-terminal")
}

#[test]
fn asks_for_each_crate_then_the_summary_and_writes_the_changeset() {
    let s = scratch();
    let mut p = add_on_a_terminal(&s);
    p.exp_string("Which crates does this change release? (Enter skips a crate)")
        .expect("intro");
    p.exp_string("a 0.1.0").expect("asks about a");
    p.exp_string("major/minor/patch/none? ")
        .expect("a's prompt");
    p.send_line("huge").expect("send");
    p.exp_string("`huge`: type major, minor, patch, none or nothing")
        .expect("a wrong word is refused");
    p.exp_string("a 0.1.0").expect("asks about a again");
    p.send_line("minor").expect("send");
    // Everything printed between a's answer and the summary prompt: only b is asked.
    let asked = p.exp_string("b 0.1.0").expect("asks about b");
    p.send_line("").expect("send"); // Enter: b is not released.
    let rest = p
        .exp_string("Summary for the changelog")
        .expect("then the summary");
    for skipped in ["quiet", "tools"] {
        assert!(
            !asked.contains(skipped) && !rest.contains(skipped),
            "{skipped} was asked about: {asked}{rest}"
        );
    }
    for line in ["Faster sign-in", "", "Details.", "."] {
        p.send_line(line).expect("send");
    }
    p.exp_string("wrote changesets/faster-sign-in.md")
        .expect("writes the file");
    p.exp_eof().expect("exits");
    assert_eq!(
        s.read("changesets/faster-sign-in.md"),
        "---\na: minor\n---\n\nFaster sign-in\n\nDetails.\n"
    );
    let check = s.xtask(&["changeset", "check", "--no-semver-check"]);
    assert!(check.ok, "{check:?}");
}

#[test]
fn choosing_no_crate_writes_nothing() {
    let s = scratch();
    let before = s.snapshot();
    let mut p = add_on_a_terminal(&s);
    p.exp_string("a 0.1.0").expect("asks about a");
    p.send_line("").expect("send");
    p.exp_string("b 0.1.0").expect("asks about b");
    p.send_line("").expect("send");
    p.exp_string("no crate chosen: nothing written")
        .expect("says why");
    p.exp_eof().expect("exits");
    assert!(s.snapshot() == before, "a file was written");
}
