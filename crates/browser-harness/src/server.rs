//! A server under test as a child process that prints its URL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print its URL.
const STARTUP: Duration = Duration::from_secs(30);

/// A server process (typically one of the workspace's binaries, `env!("CARGO_BIN_EXE_…")`),
/// killed when this drops (also during a panic).
///
/// The server must print a line containing its `http://` URL on its standard output when it
/// listens, e.g. `example-yew-csr on http://127.0.0.1:41234 (auth: …)`: the first `http://` word
/// of the first such line is its URL. Its other output goes to the test's standard error,
/// prefixed with the program's name.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Starts `command` (standard input closed, standard output read by the harness) and waits
    /// until it prints its URL.
    ///
    /// ```no_run
    /// # use std::process::Command;
    /// let mut command = Command::new("target/debug/example-yew-csr");
    /// command.env("PORT", "0");
    /// let server = browser_harness::ServerProcess::start(command);
    /// println!("{}", server.url()); // http://127.0.0.1:41234/
    /// ```
    ///
    /// # Panics
    ///
    /// When it cannot start, exits, or prints no URL within 30 seconds.
    pub fn start(mut command: Command) -> ServerProcess {
        let name = std::path::Path::new(command.get_program())
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        // Owned before anything can panic, so that the process is killed whatever happens.
        let mut server = ServerProcess {
            child,
            url: String::new(),
        };
        let (tx, rx) = mpsc::channel();
        // Reads every line, so that the server never blocks on a full pipe; sends the URL once.
        let prefix = name.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://"))
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(format!("{}/", url.trim_end_matches('/')));
                }
                eprintln!("{prefix}: {line}");
            }
        });
        match rx.recv_timeout(STARTUP) {
            Ok(url) => server.url = url,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Usually it has exited; `try_wait` because it need not have.
                std::thread::sleep(Duration::from_millis(100));
                let status = server.child.try_wait();
                panic!("{name} closed its output without printing its URL (exit: {status:?})")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name} printed no http:// URL within {STARTUP:?}")
            }
        }
        server
    }

    /// Its URL as printed, with a trailing `/`, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
