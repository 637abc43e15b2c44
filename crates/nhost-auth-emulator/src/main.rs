//! `nhost-auth-emulator`: run the local Nhost Auth server.
//!
//! Run with `cargo run -p nhost-auth-emulator` (flags: `--help`; every flag also reads the real
//! server's environment variable, e.g. `AUTH_PORT`).

use std::io::Write as _;

use clap::Parser;
use nhost_auth_emulator::{Args, Emulator};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Args::parse().into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The first stdout line is the URL, so scripts and tests can read it. A closed stdout (a
    // script that read that line and left) must not take the server down: ignore write errors.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "nhost-auth-emulator listening on {}", emulator.url());
    let _ = writeln!(out, "try: curl -X POST {}/signin/anonymous", emulator.url());
    let _ = out.flush();
    drop(out);
    emulator.run_until(shutdown_signal()).await;
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
