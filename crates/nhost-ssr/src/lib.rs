//! axum/tower middleware that keeps the Nhost session cookie fresh during server rendering,
//! race-free across parallel requests and instances.
//!
//! **Status: not written yet.** This crate is an empty placeholder in the workspace so that the
//! layout is final; it exports nothing and depends on nothing yet.
