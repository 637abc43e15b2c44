//! The real processes a soak runs, and the faults it injects into them: the standalone auth
//! emulator, the SSR example's instances and `redis-server`. Each can be killed with `SIGKILL`
//! mid-run and, for the auth server and Redis, started again on the same port with the same data.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// How long a process may take to answer after it was started (a debug build of the site on a
/// busy machine, the emulator's migrations).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process, killed (`SIGKILL`) and reaped when dropped, its output in a log file.
pub(super) struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    fn spawn(name: String, mut cmd: Command, log: PathBuf) -> Result<Process> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {name} ({}): {e}",
                    Path::new(cmd.get_program()).display()
                )
            })?;
        Ok(Process {
            name,
            child: Some(child),
            log,
        })
    }

    /// `SIGKILL`, then reap: no chance to flush, close or finish anything.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `GET url` answers 2xx; fails when the process exits or takes too long.
    async fn wait_ready(&mut self, client: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(response) = client.get(url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "{} exited at start-up ({status}); see {}",
                    self.name,
                    self.log.display()
                )
                .into());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "{} did not answer {url} within {} s; see {}",
                    self.name,
                    START_TIMEOUT.as_secs(),
                    self.log.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A command with an empty environment but for `PATH` and `HOME`, so that nothing in the
/// caller's environment (`DATABASE_URL`, `NHOST_*`, `AUTH_*`) changes what the soak measures.
fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd
}

/// The standalone `nhost-auth-emulator`: SQLite file, anonymous role `public`, short access
/// tokens, no rate limits.
pub(super) struct AuthServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    token_seconds: u64,
    process: Process,
    /// Starts so far (1 + restarts), to name each one's log.
    starts: u32,
}

impl AuthServer {
    /// Starts it with its SQLite file and logs in `dir`, and waits until `/healthz` answers.
    pub(super) async fn start(
        bin: &Path,
        dir: &Path,
        token_seconds: u64,
        client: &reqwest::Client,
    ) -> Result<AuthServer> {
        let port = crate::services::free_port()?;
        let process = Self::spawn(bin, dir, port, token_seconds, 1)?;
        let mut server = AuthServer {
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            port,
            token_seconds,
            process,
            starts: 1,
        };
        let health = format!("{}/healthz", server.url());
        server.process.wait_ready(client, &health).await?;
        Ok(server)
    }

    fn spawn(bin: &Path, dir: &Path, port: u16, token_seconds: u64, nth: u32) -> Result<Process> {
        let mut cmd = clean_command(bin);
        cmd.env("AUTH_HOST", "127.0.0.1")
            .env("AUTH_PORT", port.to_string())
            .env("AUTH_ANONYMOUS_USERS_ROLE", "public")
            .env("AUTH_ACCESS_TOKEN_EXPIRES_IN", token_seconds.to_string())
            .env("AUTH_RATE_LIMIT_ENABLE", "false")
            .env("AUTH_BCRYPT_COST", "4")
            .env("AUTH_EMULATOR_ENDPOINTS", "true")
            .env("DATABASE_URL", dir.join("auth.sqlite"))
            .env("RUST_LOG", "warn");
        Process::spawn(
            "the auth emulator".into(),
            cmd,
            dir.join(format!("auth-{nth}.log")),
        )
    }

    /// `http://127.0.0.1:<port>`.
    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The fault: `SIGKILL`.
    pub(super) fn kill(&mut self) {
        self.process.kill();
    }

    /// A new process on the same port with the same SQLite file; returns once it answers.
    pub(super) async fn restart(&mut self, client: &reqwest::Client) -> Result<()> {
        self.process.kill();
        self.starts += 1;
        self.process = Self::spawn(
            &self.bin,
            &self.dir,
            self.port,
            self.token_seconds,
            self.starts,
        )?;
        let health = format!("{}/healthz", self.url());
        self.process.wait_ready(client, &health).await
    }

    /// `POST /token` requests this process has received (`GET /_emulator/stats`; every start
    /// counts from zero).
    pub(super) async fn token_requests(&self, client: &reqwest::Client) -> Result<u64> {
        let url = format!("{}/_emulator/stats", self.url());
        let response = client
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()).into());
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        body.get("tokenRequests")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("GET {url}: no tokenRequests in {body}").into())
    }
}

/// One instance of the SSR example (`example-axum-ssr`).
pub(super) struct Site {
    /// Its port on 127.0.0.1.
    pub(super) port: u16,
    index: usize,
    process: Process,
}

/// What every instance of the site shares.
pub(super) struct SiteConfig {
    /// The `example-axum-ssr` binary.
    pub(super) bin: PathBuf,
    /// Where each instance keeps its `DATA_DIR` (`site-<index>/`) and its log.
    pub(super) dir: PathBuf,
    /// The auth server's URL (`NHOST_AUTH_URL`).
    pub(super) auth_url: String,
    /// `REDIS_URL`, if the instances coordinate through Redis.
    pub(super) redis_url: Option<String>,
    /// `NHOST_SSR_COOKIE_KEY`: the same for every instance, so that any instance opens any cookie.
    pub(super) cookie_key: String,
}

impl Site {
    /// Starts instance `index` on a free port; returns once `GET /` answers.
    pub(super) async fn start(
        config: &SiteConfig,
        index: usize,
        client: &reqwest::Client,
    ) -> Result<Site> {
        let port = crate::services::free_port()?;
        let process = Self::spawn(config, index, port, client).await?;
        Ok(Site {
            port,
            index,
            process,
        })
    }

    async fn spawn(
        config: &SiteConfig,
        index: usize,
        port: u16,
        client: &reqwest::Client,
    ) -> Result<Process> {
        let data_dir = config.dir.join(format!("site-{index}"));
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let mut cmd = clean_command(&config.bin);
        cmd.env("PORT", port.to_string())
            .env("NHOST_AUTH_URL", &config.auth_url)
            .env("NHOST_SSR_COOKIE_KEY", &config.cookie_key)
            .env("DATA_DIR", &data_dir)
            // No browser bundle: the soak's browsers run no JavaScript.
            .env("HYDRATION", "off");
        if let Some(url) = &config.redis_url {
            cmd.env("REDIS_URL", url);
        }
        let mut process = Process::spawn(
            format!("site instance {index}"),
            cmd,
            config.dir.join(format!("site-{index}.log")),
        )?;
        process
            .wait_ready(client, &format!("http://127.0.0.1:{port}/"))
            .await?;
        Ok(process)
    }

    /// The fault: `SIGKILL`.
    pub(super) fn kill(&mut self) {
        self.process.kill();
    }

    /// A new process on the same port (as its supervisor would start one); returns once it
    /// answers. It starts with empty memory: no opened cookies, no local refresh results.
    pub(super) async fn restart(
        &mut self,
        config: &SiteConfig,
        client: &reqwest::Client,
    ) -> Result<()> {
        self.process.kill();
        self.process = Self::spawn(config, self.index, self.port, client).await?;
        Ok(())
    }
}

/// A throwaway `redis-server` (persistence off: a restart forgets everything, the harder case).
pub(super) struct RedisServer {
    dir: PathBuf,
    port: u16,
    process: Process,
}

impl RedisServer {
    /// Starts it on a free port with its files in `dir/redis`.
    pub(super) async fn start(dir: &Path) -> Result<RedisServer> {
        let dir = dir.join("redis");
        let port = crate::services::free_port()?;
        let process = Self::spawn(&dir, port).await?;
        Ok(RedisServer { dir, port, process })
    }

    async fn spawn(dir: &Path, port: u16) -> Result<Process> {
        let start_dir = dir.to_owned();
        let child = tokio::task::spawn_blocking(move || {
            crate::services::redis::start_on(&start_dir, port).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("starting redis-server: {e}"))??;
        Ok(Process {
            name: "redis-server".into(),
            child: Some(child),
            log: dir.join("redis.log"),
        })
    }

    /// `redis://127.0.0.1:<port>`.
    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The fault: `SIGKILL`.
    pub(super) fn kill(&mut self) {
        self.process.kill();
    }

    /// A new, empty server on the same port; returns once it answers `PING`.
    pub(super) async fn restart(&mut self) -> Result<()> {
        self.process.kill();
        self.process = Self::spawn(&self.dir, self.port).await?;
        Ok(())
    }
}
