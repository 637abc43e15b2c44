//! A throwaway PostgreSQL cluster for the tests.
//!
//! Layout under `target/test-services/pg`:
//!
//! ```text
//! data/           the cluster (initdb'd once, kept between runs)
//! postgres.log    the server log of the last run
//! xtask.pid       which `cargo xtask test` is using this cluster right now
//! .s.PGSQL.<port> the unix socket (TCP on 127.0.0.1 is what the tests use)
//! ```
//!
//! If another `cargo xtask test` is using that cluster, a private one is made under
//! `pg/run-<pid>` and deleted afterwards. PostgreSQL refuses to run as root, so when xtask runs
//! as root the cluster belongs to the `postgres` user and its commands run through `runuser`
//! (or `su`).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{Service, free_port, is_root};
use crate::Result;

const INSTALL_HINT: &str = "install the server with `apt-get install postgresql` (Debian/Ubuntu) or run `.ci/run`, \
                            which installs it; or set NHOST_TEST_DATABASE_URL to a server of your own";

/// Starts a cluster kept in `dir`.
pub(super) fn start(dir: &Path) -> Result<Box<dyn Service>> {
    let bin = find_bindir()?;
    let runner = Runner::new()?;
    let base = runner.prepare_dir(dir)?;

    let cluster = match Lock::acquire(&base)? {
        Some(lock) => Cluster {
            dir: base,
            lock,
            private: false,
        },
        None => {
            let dir = base.join(format!("run-{}", std::process::id()));
            eprintln!(
                "xtask: {} is in use by another `cargo xtask test`; using a private cluster in {}",
                base.display(),
                dir.display()
            );
            let dir = runner.prepare_dir(&dir)?;
            let lock =
                Lock::acquire(&dir)?.ok_or_else(|| format!("{} is locked", dir.display()))?;
            Cluster {
                dir,
                lock,
                private: true,
            }
        }
    };

    let mut pg = Postgres {
        bin,
        runner,
        cluster,
        port: 0,
        running: false,
    };
    pg.stop_leftover_server()?;
    pg.init_if_needed()?;
    pg.start_server()?;
    Ok(Box::new(pg))
}

struct Postgres {
    bin: PathBuf,
    runner: Runner,
    cluster: Cluster,
    port: u16,
    running: bool,
}

struct Cluster {
    dir: PathBuf,
    lock: Lock,
    /// Made for this run only: deleted when stopped.
    private: bool,
}

impl Postgres {
    fn data(&self) -> PathBuf {
        self.cluster.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.cluster.dir.join("postgres.log")
    }

    /// Where the unix socket goes: next to the data directory, unless that path is too long for
    /// a socket address (about 107 bytes).
    fn socket_dir(&self) -> PathBuf {
        if self.cluster.dir.as_os_str().len() <= 90 {
            self.cluster.dir.clone()
        } else {
            std::env::temp_dir()
        }
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = self.runner.command(&self.bin.join("pg_ctl"));
        cmd.current_dir(&self.cluster.dir);
        cmd
    }

    /// A server still running from an earlier run that was killed (so its guard never ran).
    fn stop_leftover_server(&self) -> Result<()> {
        let pid_file = self.data().join("postmaster.pid");
        let Ok(contents) = fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let pid = contents.lines().next().unwrap_or("").trim();
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            eprintln!("xtask: stopping a PostgreSQL (pid {pid}) left running by an earlier run");
            let out = run(self.pg_ctl().arg("stop").arg("-D").arg(self.data()).args([
                "-m",
                "immediate",
                "-w",
            ]))?;
            if !out.status.success() {
                return Err(format!(
                    "cannot stop the leftover server (pid {pid}):\n{}",
                    output_text(&out)
                )
                .into());
            }
        } else {
            // The pid is dead or belongs to someone else now: the file is stale.
            fs::remove_file(&pid_file)
                .map_err(|e| format!("cannot remove stale {}: {e}", pid_file.display()))?;
        }
        Ok(())
    }

    /// Runs initdb unless the data directory holds a cluster of this major version already.
    fn init_if_needed(&self) -> Result<()> {
        let data = self.data();
        let want = major_version(&self.bin)?;
        match fs::read_to_string(data.join("PG_VERSION")) {
            Ok(have) if have.trim() == want => return Ok(()),
            Ok(have) => eprintln!(
                "xtask: {} was made by PostgreSQL {}, the binaries are {want}: making a new cluster",
                data.display(),
                have.trim()
            ),
            Err(_) if data.exists() => eprintln!(
                "xtask: {} is not a complete cluster: making a new one",
                data.display()
            ),
            Err(_) => {}
        }
        if data.exists() {
            fs::remove_dir_all(&data)
                .map_err(|e| format!("cannot remove {}: {e}", data.display()))?;
        }
        eprintln!("xtask: initdb {} (PostgreSQL {want})", data.display());
        let mut cmd = self.runner.command(&self.bin.join("initdb"));
        cmd.current_dir(&self.cluster.dir)
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]);
        let out = run(&mut cmd)?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&data);
            return Err(format!("initdb failed:\n{}", output_text(&out)).into());
        }
        Ok(())
    }

    fn start_server(&mut self) -> Result<()> {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let port = free_port()?;
            let log = self.log();
            let _ = fs::remove_file(&log);
            // pg_ctl hands these to the server through `sh -c`, hence the quoting. Durability
            // is pointless for a throwaway cluster and fsync makes tests slow.
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200",
                shell_quote(self.socket_dir().as_os_str())
            );
            let out = run(self
                .pg_ctl()
                .arg("start")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options]))?;
            if out.status.success() {
                self.port = port;
                self.running = true;
                eprintln!(
                    "xtask: PostgreSQL running on 127.0.0.1:{port} (log: {})",
                    log.display()
                );
                return Ok(());
            }
            // A timed-out start may have left a server half up.
            let _ = run(self.pg_ctl().arg("stop").arg("-D").arg(self.data()).args([
                "-m",
                "immediate",
                "-w",
            ]));
            let log_text = fs::read_to_string(&log).unwrap_or_default();
            let port_taken =
                log_text.contains("could not bind") || log_text.contains("already in use");
            if !(port_taken && attempt < ATTEMPTS) {
                return Err(format!(
                    "pg_ctl start failed:\n{}\nlast lines of {}:\n{}",
                    output_text(&out),
                    log.display(),
                    tail(&log_text, 30)
                )
                .into());
            }
            eprintln!("xtask: port {port} was taken meanwhile; trying another");
        }
        Ok(())
    }
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![(
            "NHOST_TEST_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        )]
    }

    fn stop(&mut self) -> Result<()> {
        if self.running {
            let out = run(self
                .pg_ctl()
                .arg("stop")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "-t", "60"]))?;
            if !out.status.success() {
                let again = run(self.pg_ctl().arg("stop").arg("-D").arg(self.data()).args([
                    "-m",
                    "immediate",
                    "-w",
                ]))?;
                if !again.status.success() {
                    return Err(format!(
                        "pg_ctl stop failed:\n{}\n{}",
                        output_text(&out),
                        output_text(&again)
                    )
                    .into());
                }
            }
            self.running = false;
        }
        self.cluster.lock.release();
        if self.cluster.private {
            fs::remove_dir_all(&self.cluster.dir)
                .map_err(|e| format!("cannot remove {}: {e}", self.cluster.dir.display()))?;
        }
        Ok(())
    }
}

/// Runs the server's commands as the current user, or as `postgres` when that is root.
struct Runner {
    as_postgres: bool,
    has_runuser: bool,
}

impl Runner {
    fn new() -> Result<Runner> {
        if !is_root() {
            return Ok(Runner {
                as_postgres: false,
                has_runuser: false,
            });
        }
        let exists = Command::new("id")
            .args(["-u", "postgres"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !exists.is_ok_and(|s| s.success()) {
            return Err(format!(
                "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` user \
                 to run it as; {INSTALL_HINT}"
            )
            .into());
        }
        let has_runuser = Command::new("runuser")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Ok(Runner {
            as_postgres: true,
            has_runuser,
        })
    }

    fn command(&self, program: &Path) -> Command {
        if !self.as_postgres {
            return Command::new(program);
        }
        if self.has_runuser {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            return cmd;
        }
        // util-linux `su` hands the arguments after `USER --` to the shell: `$0` is the program
        // and later `.arg()`s become `"$@"` (without `--`, su would take `-w` & co. as its own).
        let mut cmd = Command::new("su");
        cmd.args(["-s", "/bin/sh", "-c", r#"exec "$0" "$@""#, "postgres", "--"])
            .arg(program);
        cmd
    }

    /// Creates `dir` and, as root, hands it to `postgres` and checks that `postgres` can reach it
    /// (every parent directory must be searchable by it). Returns the directory to use: `dir`,
    /// or one under the system temp dir if `postgres` cannot get to `dir`.
    fn prepare_dir(&self, dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let dir = dir.canonicalize()?;
        if !self.as_postgres {
            return Ok(dir);
        }
        self.chown(&dir)?;
        if self.postgres_can_use(&dir) {
            return Ok(dir);
        }
        let fallback = std::env::temp_dir()
            .join("nhost-rs-test-services")
            .join(format!("pg-{:016x}", path_hash(&dir)));
        eprintln!(
            "xtask: the postgres user cannot reach {} (a parent directory is not searchable); using {}",
            dir.display(),
            fallback.display()
        );
        fs::create_dir_all(&fallback)
            .map_err(|e| format!("cannot create {}: {e}", fallback.display()))?;
        self.chown(&fallback)?;
        if !self.postgres_can_use(&fallback) {
            return Err(format!(
                "the postgres user cannot write to {} either",
                fallback.display()
            )
            .into());
        }
        Ok(fallback)
    }

    fn chown(&self, dir: &Path) -> Result<()> {
        let out = run(Command::new("chown").arg("-R").arg("postgres:").arg(dir))?;
        if !out.status.success() {
            return Err(format!(
                "cannot give {} to the postgres user:\n{}",
                dir.display(),
                output_text(&out)
            )
            .into());
        }
        Ok(())
    }

    fn postgres_can_use(&self, dir: &Path) -> bool {
        self.command(Path::new("test"))
            .arg("-w")
            .arg(dir)
            .current_dir("/")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// Marks a cluster directory as used by this process (`xtask.pid`), so that a second
/// `cargo xtask test` running at the same time does not stop or reuse our server.
struct Lock {
    path: PathBuf,
    held: bool,
}

impl Lock {
    /// `None` when a live xtask holds it.
    fn acquire(dir: &Path) -> Result<Option<Lock>> {
        let path = dir.join("xtask.pid");
        let me = std::process::id().to_string();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(me.as_bytes())?;
                    return Ok(Some(Lock { path, held: true }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&path).unwrap_or_default();
                    let owner = owner.trim();
                    let alive = !owner.is_empty()
                        && owner != me
                        && fs::read_to_string(format!("/proc/{owner}/comm"))
                            .is_ok_and(|c| c.trim() == "xtask");
                    if alive {
                        return Ok(None);
                    }
                    // Left by a run that was killed: take it over.
                    fs::remove_file(&path)
                        .map_err(|e| format!("cannot remove stale {}: {e}", path.display()))?;
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display()).into()),
            }
        }
    }

    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The directory holding `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout), else `PATH`.
fn find_bindir() -> Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("pg_ctl").is_file() && dir.join("initdb").is_file();

    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_tools(&dir) {
            return Ok(dir);
        }
    }

    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }

    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if let Ok(pg_ctl) = dir.join("pg_ctl").canonicalize()
                && let Some(real) = pg_ctl.parent()
                && has_tools(real)
            {
                return Ok(real.to_path_buf());
            }
            if has_tools(&dir) {
                return Ok(dir);
            }
        }
    }

    Err(format!(
        "PostgreSQL server programs (initdb, pg_ctl) not found: looked at `pg_config --bindir`, \
         /usr/lib/postgresql/*/bin and PATH; {INSTALL_HINT}"
    )
    .into())
}

/// `15` for "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", `9.6` for 9.6.x: what
/// `PG_VERSION` in a data directory says.
fn major_version(bin: &Path) -> Result<String> {
    let out = run(Command::new(bin.join("pg_ctl")).arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .ok_or_else(|| format!("cannot read the version in `pg_ctl --version`: {text}"))?;
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    Ok(match major.parse::<u32>() {
        Ok(n) if n < 10 => format!("{major}.{}", parts.next().unwrap_or("0")),
        _ => major.to_owned(),
    })
}

fn run(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()).into())
}

fn output_text(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.trim_end().to_owned()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `'…'`, for `sh -c`.
fn shell_quote(s: &OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

fn path_hash(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::{shell_quote, tail};

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a b/c".as_ref()), "'/a b/c'");
        assert_eq!(shell_quote("it's".as_ref()), r"'it'\''s'");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
