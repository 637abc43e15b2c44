//! The full-stack example as a library, so that the binary (`main.rs`), the tests and the
//! browser bundle share it.
//!
//! - [`app`] — the Yew components, compiled for both sides: rendered on the server, hydrated in
//!   the browser ([`app::hydrate`], the wasm32 entry point).
//! - the server half (not on wasm32): [`router`] builds the whole site around an
//!   [`NhostSessionLayer`](nhost_ssr::NhostSessionLayer) — the pages, the no-JavaScript form
//!   routes, nhost-ssr's session endpoints (`/_nhost/*`) and, when built, the browser bundle.

pub mod app;
#[cfg(not(target_arch = "wasm32"))]
mod server;

pub use app::{AppProps, Notice};
#[cfg(not(target_arch = "wasm32"))]
pub use server::{Bundle, render_page, router};
