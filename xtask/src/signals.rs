//! Surviving Ctrl-C long enough to clean up.
//!
//! Without this, Ctrl-C (or a `SIGTERM` from a CI runner) kills xtask before its guards run and
//! leaves services such as PostgreSQL behind. With it, xtask notes the signal, lets the child
//! command it is waiting for finish (the terminal sent it the same Ctrl-C; a `SIGTERM` is passed
//! on), then stops its services and exits with the usual `128 + signal` status.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

/// The exit status to use once a signal arrived (`128 + signal number`), 0 while none did.
static RECEIVED: AtomicU8 = AtomicU8::new(0);
/// The process id of the child being waited for, 0 when none.
static CHILD: AtomicU32 = AtomicU32::new(0);

/// Starts listening for `SIGINT`, `SIGTERM` and `SIGHUP` on a background thread. Once this
/// returns, those signals no longer kill xtask.
pub(crate) fn install() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().build() else {
            return;
        };
        rt.block_on(async move {
            let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            let _ = ready_tx.send(());
            loop {
                let (code, name) = tokio::select! {
                    _ = int.recv() => (130, "SIGINT"),
                    _ = term.recv() => (143, "SIGTERM"),
                    _ = hup.recv() => (129, "SIGHUP"),
                };
                RECEIVED.store(code, Ordering::SeqCst);
                eprintln!("\nxtask: got {name}; waiting for the current command to end, then stopping services");
                // Ctrl-C in a terminal reaches the whole process group, the child included; the
                // others are usually aimed at xtask alone, so pass them on.
                let child = CHILD.load(Ordering::SeqCst);
                if code != 130 && child != 0 {
                    let _ = Command::new("kill").args(["-TERM", &child.to_string()]).status();
                }
            }
        });
    });
    if spawned.is_ok() {
        // If the handlers could not be set up the thread ends and this returns at once.
        let _ = ready_rx.recv_timeout(Duration::from_secs(5));
    }
}

/// The status to exit with if a signal arrived.
pub(crate) fn received() -> Option<u8> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        code => Some(code),
    }
}

/// Waits for `child`, letting a signal handler forward signals to it meanwhile.
pub(crate) fn wait(mut child: Child) -> std::io::Result<ExitStatus> {
    CHILD.store(child.id(), Ordering::SeqCst);
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    status
}
