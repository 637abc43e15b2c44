//! The ChromeDriver process: started on a free port, stopped (with its browsers) on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::browser::{Browser, BrowserOptions};

/// Debian's ChromeDriver (package `chromium-driver`).
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long ChromeDriver may take to answer `/status` with `ready` after it starts.
const STARTUP: Duration = Duration::from_secs(20);

/// How often [`ChromeDriver::start`] asks whether it is ready.
const POLL: Duration = Duration::from_millis(50);

/// The longest the blocking HTTP calls of the `Drop` impls wait for an answer.
const SHUTDOWN: Duration = Duration::from_secs(10);

/// A ChromeDriver process on a free port of 127.0.0.1.
///
/// When it drops (also during a panic), it asks ChromeDriver to quit its browsers
/// (`/shutdown`), then kills it: a plain kill would leave its Chromiums running.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    /// Starts ChromeDriver (`$CHROMEDRIVER`, or `/usr/bin/chromedriver`) and waits until it is
    /// ready.
    ///
    /// # Panics
    ///
    /// When ChromeDriver is missing (the message names the package to install), or does not
    /// become ready within 20 seconds.
    pub async fn start() -> ChromeDriver {
        let program = chromedriver();
        // The port is free when we look, not necessarily when ChromeDriver binds it; another
        // process may take it in between, so a ChromeDriver that exits at once is retried.
        let mut last_exit = None;
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&program)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                // Its banner is noise; its stderr (rare, and useful when it fails) stays.
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start ChromeDriver ({}): {e}; install Chromium and ChromeDriver \
                         (`apt-get install chromium chromium-driver`) or set CHROMEDRIVER",
                        program.display()
                    )
                });
            let mut driver = ChromeDriver { child, port };
            match driver.wait_ready().await {
                Ok(()) => return driver,
                Err(status) => last_exit = Some(status),
            }
        }
        panic!(
            "ChromeDriver ({}) exited at start three times; last: {}",
            program.display(),
            last_exit.unwrap_or_default()
        );
    }

    /// Waits until ChromeDriver answers `/status` with `ready: true`; `Err` with its exit status
    /// when it exited instead. Panics when it is still not ready after [`STARTUP`].
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(status.to_string());
            }
            let status = http_request(self.port, "GET", "/status", Duration::from_secs(2));
            let ready = status.ok().and_then(|body| {
                let body: serde_json::Value = serde_json::from_str(&body).ok()?;
                body["value"]["ready"].as_bool()
            });
            if ready == Some(true) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "ChromeDriver did not become ready on port {} within {STARTUP:?}",
                self.port
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Its address, e.g. `http://127.0.0.1:41235/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// A new headless Chromium with default [`BrowserOptions`]: a fresh profile, JavaScript on.
    pub async fn browser(&self) -> Browser {
        Browser::open(self, BrowserOptions::default()).await
    }

    /// A new headless Chromium with `options`, e.g. JavaScript off:
    ///
    /// ```no_run
    /// # async fn f(driver: browser_harness::ChromeDriver) {
    /// use browser_harness::BrowserOptions;
    /// let browser = driver.browser_with(BrowserOptions::default().javascript(false)).await;
    /// # }
    /// ```
    pub async fn browser_with(&self, options: BrowserOptions) -> Browser {
        Browser::open(self, options).await
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // `/shutdown` quits its browsers and then ChromeDriver itself; wait for that a little,
        // then kill whatever is left.
        let _ = http_request(self.port, "GET", "/shutdown", SHUTDOWN);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `$CHROMEDRIVER` if set, else Debian's path.
fn chromedriver() -> PathBuf {
    match std::env::var_os("CHROMEDRIVER").filter(|p| !p.is_empty()) {
        Some(path) => path.into(),
        None => DEFAULT_CHROMEDRIVER.into(),
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port on 127.0.0.1")
}

/// One blocking HTTP/1.1 request to `127.0.0.1:port` without a body; the response body.
///
/// Blocking on purpose: the `Drop` impls use it, and they may run while a panic unwinds, when no
/// async runtime will poll anything any more.
pub(crate) fn http_request(
    port: u16,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    // ChromeDriver keeps the connection open despite `Connection: close`: read the head, then
    // exactly `Content-Length` bytes of body.
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        response.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while response.len() < head_end + length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&response[head_end..]).into_owned())
}
