//! The Nhost Auth client for Rust: anonymous sign-in, sessions, race-free token refresh and
//! typed errors, on native (tokio) and `wasm32-unknown-unknown`.
//!
//! **Status: not written yet.** This crate is an empty placeholder in the workspace so that the
//! layout is final; it exports nothing. Until it lands, talk to an auth server (for example
//! `nhost-auth-emulator`) over HTTP directly.
