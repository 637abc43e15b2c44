//! [`RedisCoordinator`]: one refresh per token across every instance sharing a Redis server.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use nhost_core::{AuthError, SingleFlight};
use redis::aio::ConnectionManager;

use crate::coordinator::{RefreshCoordinator, RefreshKey, RefreshOutcome, RefreshWork};

/// Coordinates refreshes through Redis, for several server instances behind a load balancer.
///
/// For an old refresh token with hash `h`:
/// 1. `GET <prefix>result:h` — a sibling already refreshed: use its outcome;
/// 2. else `SET <prefix>lock:h <owner> NX PX <lock ttl>` — the lock holder calls `POST /token`,
///    stores the outcome under `result:h` for the race window, then releases the lock (only if it
///    still owns it);
/// 3. everyone else polls `result:h` until it appears, or takes over the lock if the holder died.
///
/// Within one instance a single-flight sits in front, so a storm costs Redis one round of this
/// per instance. Stored outcomes are encrypted with a key derived from the *old* refresh token
/// ([`RefreshKey::seal`]): Redis never holds a usable token. When Redis cannot be reached the
/// refresh is reported unavailable — the cookie is kept, never lost to a race.
#[derive(Clone)]
pub struct RedisCoordinator {
    conn: ConnectionManager,
    prefix: String,
    lock_ttl: Duration,
    poll: Duration,
    local: std::sync::Arc<SingleFlight<RefreshOutcome>>,
}

impl std::fmt::Debug for RedisCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCoordinator")
            .field("prefix", &self.prefix)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

const RELEASE: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

impl RedisCoordinator {
    /// Connects to Redis (`redis://host:port/db`). The connection reconnects by itself; each
    /// attempt and each command gives up after 2 s, so a dead Redis costs a request at most a
    /// few seconds (and the refresh is then reported unavailable, the cookie kept).
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_factor(100)
            .set_exponent_base(2)
            .set_max_delay(1000)
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisCoordinator {
            conn,
            prefix: "nhost-ssr:".into(),
            lock_ttl: Duration::from_secs(15),
            poll: Duration::from_millis(10),
            local: Default::default(),
        })
    }

    /// Prefix of every key (default `nhost-ssr:`), to share one Redis between sites.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a refresh lock lives if its holder dies (default 15 s; keep it above the auth
    /// request timeout).
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    async fn run(
        &self,
        key: &RefreshKey,
        race_window: Duration,
        work: RefreshWork,
    ) -> Result<RefreshOutcome, redis::RedisError> {
        let mut conn = self.conn.clone();
        let result_key = format!("{}result:{}", self.prefix, key.id());
        let lock_key = format!("{}lock:{}", self.prefix, key.id());
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + self.lock_ttl + Duration::from_secs(2);
        let mut work = Some(work);
        loop {
            if let Some(outcome) = self.cached(&mut conn, key, &result_key).await? {
                return Ok(outcome);
            }
            let locked: Option<String> = redis::cmd("SET")
                .arg(&lock_key)
                .arg(&owner)
                .arg("NX")
                .arg("PX")
                .arg(millis(self.lock_ttl))
                .query_async(&mut conn)
                .await?;
            if locked.is_some() {
                // A holder may have finished between our GET and SET.
                let outcome = match self.cached(&mut conn, key, &result_key).await? {
                    Some(outcome) => outcome,
                    None => {
                        let Some(work) = work.take() else {
                            return Ok(timed_out());
                        };
                        let outcome = work().await;
                        // From here on the old token is spent: the outcome must reach the caller
                        // even if Redis fails now (siblings then time out as "unavailable" and
                        // keep their cookies, rather than losing the session).
                        let stored: Result<(), _> = redis::cmd("SET")
                            .arg(&result_key)
                            .arg(key.seal(&outcome))
                            .arg("PX")
                            .arg(millis(outcome.cache_for(race_window)).max(1))
                            .query_async(&mut conn)
                            .await;
                        if let Err(e) = stored {
                            tracing::error!(error = %e, "could not share a refresh result in redis");
                        }
                        outcome
                    }
                };
                let released: Result<i64, _> = redis::Script::new(RELEASE)
                    .key(&lock_key)
                    .arg(&owner)
                    .invoke_async(&mut conn)
                    .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "could not release a refresh lock; it expires by itself");
                }
                return Ok(outcome);
            }
            if Instant::now() > deadline {
                return Ok(timed_out());
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn cached(
        &self,
        conn: &mut ConnectionManager,
        key: &RefreshKey,
        result_key: &str,
    ) -> Result<Option<RefreshOutcome>, redis::RedisError> {
        let bytes: Option<Vec<u8>> = redis::cmd("GET").arg(result_key).query_async(conn).await?;
        Ok(bytes.and_then(|b| key.open(&b)))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn timed_out() -> RefreshOutcome {
    RefreshOutcome::Unavailable(AuthError::network(
        "timed out waiting for another instance's refresh",
    ))
}

impl RefreshCoordinator for RedisCoordinator {
    fn publish<'a>(
        &'a self,
        key: &'a RefreshKey,
        race_window: Duration,
        outcome: RefreshOutcome,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let stored: Result<(), _> = redis::cmd("SET")
                .arg(format!("{}result:{}", self.prefix, key.id()))
                .arg(key.seal(&outcome))
                .arg("PX")
                .arg(millis(outcome.cache_for(race_window)).max(1))
                .query_async(&mut conn)
                .await;
            if let Err(e) = stored {
                tracing::error!(error = %e, "could not share a handler's refresh in redis");
            }
        })
    }

    fn coordinate<'a>(
        &'a self,
        key: &'a RefreshKey,
        race_window: Duration,
        work: RefreshWork,
    ) -> BoxFuture<'a, RefreshOutcome> {
        Box::pin(async move {
            let this = self.clone();
            let owned_key = key.clone();
            self.local
                .run(key.id(), move || {
                    Box::pin(async move {
                        match this.run(&owned_key, race_window, work).await {
                            Ok(outcome) => outcome,
                            Err(e) => {
                                tracing::error!(error = %e, "redis unavailable; refresh skipped, cookie kept");
                                RefreshOutcome::Unavailable(AuthError::network(format!(
                                    "refresh coordination unavailable (redis): {e}"
                                )))
                            }
                        }
                    })
                })
                .await
        })
    }
}
