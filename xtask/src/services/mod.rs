//! Servers the tests need, started for the length of one `cargo xtask test`.
//!
//! Each service is announced by the environment variable that tells the tests where it is
//! (e.g. `NHOST_TEST_DATABASE_URL`). If that variable is already set, the service is taken as
//! given and nothing is started. Otherwise xtask starts one under `target/test-services/<dir>`,
//! exports the variable to the test processes, and stops it when the [`Services`] guard drops —
//! whether the tests passed, failed or panicked.
//!
//! To add one (Redis, ChromeDriver…): write a module with a `start(dir) -> Result<Box<dyn Service>>`
//! function and list it in [`ALL`].

mod emulator;
mod postgres;
pub(crate) mod redis;

use std::path::{Path, PathBuf};

use crate::Result;

/// A running service that xtask started.
pub(crate) trait Service {
    /// Short human name, for messages.
    fn name(&self) -> &'static str;
    /// The environment variables the tests find it by.
    fn env(&self) -> Vec<(&'static str, String)>;
    /// Stops it. Called once, from [`Services`]' `Drop`.
    fn stop(&mut self) -> Result<()>;
}

/// How to get one service.
pub(crate) struct Spec {
    /// What it is, for messages.
    pub(crate) name: &'static str,
    /// Its directory under `target/test-services`.
    pub(crate) dir: &'static str,
    /// The variable that points tests at the service; when already set, nothing is started.
    pub(crate) env_var: &'static str,
    /// Starts it, keeping its files in the given directory (created if missing).
    pub(crate) start: fn(&Path) -> Result<Box<dyn Service>>,
}

/// Every service the test suite uses.
pub(crate) const ALL: &[Spec] = &[
    Spec {
        name: "PostgreSQL",
        dir: "pg",
        env_var: "NHOST_TEST_DATABASE_URL",
        start: postgres::start,
    },
    Spec {
        name: "redis-server",
        dir: "redis",
        env_var: "NHOST_TEST_REDIS_URL",
        start: redis::start,
    },
    Spec {
        name: "nhost-auth-emulator",
        dir: "emulator",
        env_var: "NHOST_TEST_AUTH_URL",
        start: emulator::start_default,
    },
    Spec {
        name: "nhost-auth-emulator (anonymous users off)",
        dir: "emulator",
        env_var: "NHOST_TEST_AUTH_URL_ANONYMOUS_DISABLED",
        start: emulator::start_anonymous_disabled,
    },
];

/// The services started so far; stops them (last started first) when dropped.
pub(crate) struct Services {
    running: Vec<Box<dyn Service>>,
    env: Vec<(&'static str, String)>,
}

impl Services {
    /// Starts every service in `specs` whose variable is not already set. If one fails to start,
    /// those already started are stopped before the error is returned.
    pub(crate) fn start(specs: &[Spec]) -> Result<Services> {
        let mut services = Services {
            running: Vec::new(),
            env: Vec::new(),
        };
        for spec in specs {
            if let Some(value) = std::env::var_os(spec.env_var).filter(|v| !v.is_empty()) {
                eprintln!(
                    "xtask: {} is set ({}); not starting {}",
                    spec.env_var,
                    redact(&value.to_string_lossy()),
                    spec.name
                );
                continue;
            }
            let dir = services_dir().join(spec.dir);
            let service =
                (spec.start)(&dir).map_err(|e| format!("cannot start {}: {e}", spec.name))?;
            services.env.extend(service.env());
            services.running.push(service);
        }
        Ok(services)
    }

    /// The variables to give the test processes.
    pub(crate) fn env(&self) -> &[(&'static str, String)] {
        &self.env
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        while let Some(mut service) = self.running.pop() {
            match service.stop() {
                Ok(()) => eprintln!("xtask: stopped {}", service.name()),
                Err(e) => eprintln!("xtask: warning: could not stop {}: {e}", service.name()),
            }
        }
    }
}

/// `target/test-services`.
pub(crate) fn services_dir() -> PathBuf {
    crate::target_dir().join("test-services")
}

/// Hides a password in a URL such as `postgres://user:secret@host/db`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    Ok(listener.local_addr()?.port())
}

/// Whether this process runs as root (effective uid 0): `/proc/self` belongs to the effective user.
pub(crate) fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:pw@h:1/db"), "postgres://u:***@h:1/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("redis://h"), "redis://h");
    }
}
