//! Yew provider and hooks for Nhost Auth, headed by `use_anonymous_sign_in`.
//!
//! **Status: not written yet.** This crate is an empty placeholder in the workspace so that the
//! layout is final; it exports nothing and depends on nothing yet.
