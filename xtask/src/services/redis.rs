//! A throwaway `redis-server` for the multi-instance tests of `nhost-ssr`, on a free port, with
//! persistence off. Its log goes to `target/test-services/redis/redis.log`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Service, free_port};
use crate::Result;

const INSTALL_HINT: &str = "install it with `apt-get install redis-server` (Debian/Ubuntu) or run \
                            `.ci/run`, which installs it; or set NHOST_TEST_REDIS_URL to a server of your own";

struct Redis {
    child: Child,
    url: String,
}

fn find_binary() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("redis-server not found; {INSTALL_HINT}").into())
}

/// Starts `redis-server` with its files in `dir`.
pub(super) fn start(dir: &Path) -> Result<Box<dyn Service>> {
    let port = free_port()?;
    let child = start_on(dir, port)?;
    eprintln!("xtask: started redis-server on 127.0.0.1:{port}");
    Ok(Box::new(Redis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    }))
}

/// Starts `redis-server` on `port` of 127.0.0.1 (persistence off, files and `redis.log` in
/// `dir`) and waits until it answers `PING`. `cargo xtask soak` uses this directly, to kill a
/// server and start another on the same port.
pub(crate) fn start_on(dir: &Path, port: u16) -> Result<Child> {
    let bin = find_binary()?;
    fs::create_dir_all(dir)?;
    let log = dir.join("redis.log");
    let mut child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ping(port) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "redis-server exited at start-up ({status}); see {}",
                log.display()
            )
            .into());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "redis-server did not answer PING within 10 s; see {}",
                log.display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a Redis server answers `PING` on the port.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

impl Service for Redis {
    fn name(&self) -> &'static str {
        "redis-server"
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![("NHOST_TEST_REDIS_URL", self.url.clone())]
    }

    fn stop(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
        }
        self.child.wait()?;
        Ok(())
    }
}
