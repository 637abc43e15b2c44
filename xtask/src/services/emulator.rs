//! `nhost-auth-emulator`s for the browser tests, run in-process on a thread of their own: a page
//! in headless Chromium cannot start a server, so the tests read these URLs at compile time.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use nhost_auth_emulator::{Config, Emulator};
use tokio::sync::oneshot;

use super::Service;
use crate::Result;

struct EmulatorService {
    name: &'static str,
    env_var: &'static str,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Anonymous users on (role `public`, as the starter changeset has it), email verification off.
pub(crate) fn start_default(_dir: &Path) -> Result<Box<dyn Service>> {
    start("emulator", "NHOST_TEST_AUTH_URL", true)
}

/// Anonymous users off: `POST /signin/anonymous` answers `409 disabled-endpoint`.
pub(crate) fn start_anonymous_disabled(_dir: &Path) -> Result<Box<dyn Service>> {
    start(
        "emulator (anonymous users off)",
        "NHOST_TEST_AUTH_URL_ANONYMOUS_DISABLED",
        false,
    )
}

fn start(name: &'static str, env_var: &'static str, anonymous: bool) -> Result<Box<dyn Service>> {
    let (url_tx, url_rx) = mpsc::channel::<std::result::Result<String, String>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = url_tx.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            let mut config = Config::default();
            config.anonymous_users_enabled = anonymous;
            config.anonymous_role = "public".into();
            config.email_verification_required = false;
            config.bcrypt_cost = 4;
            match Emulator::start(config).await {
                Ok(emulator) => {
                    let _ = url_tx.send(Ok(emulator.url().to_owned()));
                    emulator
                        .run_until(async {
                            let _ = stop_rx.await;
                        })
                        .await;
                }
                Err(e) => {
                    let _ = url_tx.send(Err(e.to_string()));
                }
            }
        });
    });
    let url = url_rx
        .recv()
        .map_err(|_| "the emulator thread ended early")??;
    eprintln!("xtask: {name} running on {url}");
    Ok(Box::new(EmulatorService {
        name,
        env_var,
        url,
        stop: Some(stop_tx),
        thread: Some(thread),
    }))
}

impl Service for EmulatorService {
    fn name(&self) -> &'static str {
        self.name
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![(self.env_var, self.url.clone())]
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|_| "the emulator thread panicked")?;
        }
        Ok(())
    }
}
