//! A Yew single-page app with anonymous sign-in, on `nhost-yew`.
//!
//! Run with `cargo xtask yew-csr`: it builds this crate for the browser, then runs it natively as
//! the server that serves the app beside an in-process `nhost-auth-emulator` (anonymous role
//! `public`), and prints the URL. Set `NHOST_AUTH_URL` to use another auth server instead.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(not(target_arch = "wasm32"))]
mod server;

#[cfg(target_arch = "wasm32")]
fn main() {
    app::main();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    server::main()
}
