//! `cargo run -p example-axum-ssr` (or `cargo xtask axum-ssr`, which builds the browser bundle
//! first): on the machine, the site (`serve.rs`); in the browser (wasm32), the bundle that
//! hydrates its pages.

#[cfg(not(target_arch = "wasm32"))]
mod serve;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    serve::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    example_axum_ssr::app::hydrate();
}
