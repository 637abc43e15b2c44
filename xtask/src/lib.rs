//! The library half of xtask: the changesets workflow (`cargo xtask changeset …` and
//! `cargo xtask release …`), a library so that its tests and the fuzz target can reach it.
//!
//! - [`changeset`]: the file format ([`changeset::parse`]), `changesets/config.toml`
//!   ([`changeset::config`]), loading and checking the pending changesets, `changeset add`.
//! - [`release`]: the release plan ([`release::plan`]), `release status`, `release version`
//!   (manifests, changelogs, `Cargo.lock`), `release publish`.
//! - [`semver_check`]: the declared bumps checked against the public API change since each
//!   crate's last release (cargo-semver-checks), for `changeset check` and `release version`.
//! - [`workspace`]: what those need to know about a Cargo workspace.

pub mod changeset;
mod cli;
pub mod release;
pub mod semver_check;
pub mod workspace;
