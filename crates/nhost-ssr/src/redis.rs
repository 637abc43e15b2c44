//! [`RedisCoordinator`]: one refresh per token across every instance sharing a Redis server.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use nhost_core::{AuthError, SingleFlight};
use redis::aio::ConnectionManager;

use crate::coordinator::{
    CHAIN_LIMIT, RefreshCoordinator, RefreshKey, RefreshOutcome, RefreshWork,
};

/// Coordinates refreshes through Redis, for several server instances behind a load balancer.
///
/// For an old refresh token with hash `h`:
/// 1. `GET <prefix>result:h` — a sibling already refreshed: use its outcome (followed along its
///    chain: when the new session's own token has an outcome since — a sign-out, a rejection, a
///    later refresh — that one is served);
/// 2. else `SET <prefix>lock:h <owner> NX PX <lock ttl>` — the lock holder calls `POST /token`,
///    then, in one script, stores the outcome under `result:h` for the race window and releases
///    the lock (only if it still owns it). When storing fails, the lock is *kept*: the holder
///    retries in the background until the outcome is stored or the lock expires, so no sibling
///    can refresh with the spent token meanwhile;
/// 3. everyone else polls `result:h` until it appears, or takes over the lock if the holder died.
///
/// The lock lives longer than the longest refresh: the layer tells the coordinator its
/// auth-request timeout, and the lock's TTL is at least that plus [`LOCK_MARGIN`](Self::LOCK_MARGIN).
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

/// Stores the outcome (`KEYS[1]`, value `ARGV[1]`, `PX ARGV[2]`), then releases the lock
/// (`KEYS[2]`) if `ARGV[3]` still owns it. A failing `SET` aborts the script: the lock stays.
const STORE_AND_RELEASE: &str = r#"
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
if redis.call("GET", KEYS[2]) == ARGV[3] then redis.call("DEL", KEYS[2]) end
return 1
"#;

impl RedisCoordinator {
    /// How much longer than the longest refresh a lock lives: time to store the outcome.
    pub const LOCK_MARGIN: Duration = Duration::from_secs(5);

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

    /// How long a refresh lock lives if its holder dies (default 15 s). The layer raises it to
    /// its auth-request timeout plus [`LOCK_MARGIN`](Self::LOCK_MARGIN) when that is longer: a lock that expired
    /// mid-refresh would let another instance spend the same token.
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
                if let Some(outcome) = self.cached(&mut conn, key, &result_key).await? {
                    self.release(&mut conn, &lock_key, &owner).await;
                    return Ok(outcome);
                }
                let Some(work) = work.take() else {
                    return Ok(timed_out());
                };
                let locked_at = Instant::now();
                let outcome = work().await;
                // From here on the old token is spent: the outcome must reach the caller even
                // if Redis fails now. The lock is released only together with storing it; if
                // that fails, a background task retries while the lock lasts (siblings wait,
                // then time out as "unavailable" and keep their cookies — none refreshes with
                // the spent token).
                let store = StoreOutcome {
                    conn: conn.clone(),
                    result_key,
                    lock_key,
                    owner,
                    sealed: key.seal(&outcome),
                    ttl_ms: millis(outcome.cache_for(race_window)).max(1),
                    lock_expires: locked_at + self.lock_ttl,
                };
                if let Err(e) = store.attempt().await {
                    tracing::error!(error = %e, "could not share a refresh result in redis; lock kept, retrying");
                    tokio::spawn(store.retry());
                }
                return Ok(outcome);
            }
            if Instant::now() > deadline {
                return Ok(timed_out());
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The outcome stored for `key`, followed along its chain (see [`RefreshCoordinator`]).
    async fn cached(
        &self,
        conn: &mut ConnectionManager,
        key: &RefreshKey,
        result_key: &str,
    ) -> Result<Option<RefreshOutcome>, redis::RedisError> {
        let Some(mut outcome) = self.stored(conn, key, result_key).await? else {
            return Ok(None);
        };
        for _ in 0..CHAIN_LIMIT {
            let Some(next_key) = outcome.next_key() else {
                break;
            };
            let next_result = format!("{}result:{}", self.prefix, next_key.id());
            let next = self.stored(conn, &next_key, &next_result).await?;
            match outcome.followed_by(next) {
                Some(next) => outcome = next,
                None => break,
            }
        }
        Ok(Some(outcome))
    }

    async fn stored(
        &self,
        conn: &mut ConnectionManager,
        key: &RefreshKey,
        result_key: &str,
    ) -> Result<Option<RefreshOutcome>, redis::RedisError> {
        let bytes: Option<Vec<u8>> = redis::cmd("GET").arg(result_key).query_async(conn).await?;
        Ok(bytes.and_then(|b| key.open(&b)))
    }

    async fn release(&self, conn: &mut ConnectionManager, lock_key: &str, owner: &str) {
        let released: Result<i64, _> = redis::Script::new(RELEASE)
            .key(lock_key)
            .arg(owner)
            .invoke_async(conn)
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release a refresh lock; it expires by itself");
        }
    }
}

/// A lock holder's outcome on its way into Redis.
struct StoreOutcome {
    conn: ConnectionManager,
    result_key: String,
    lock_key: String,
    owner: String,
    sealed: Vec<u8>,
    ttl_ms: u64,
    lock_expires: Instant,
}

impl StoreOutcome {
    /// Stores the outcome and releases the lock, atomically.
    async fn attempt(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::Script::new(STORE_AND_RELEASE)
            .key(&self.result_key)
            .key(&self.lock_key)
            .arg(self.sealed.as_slice())
            .arg(self.ttl_ms)
            .arg(&self.owner)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
    }

    /// Retries [`attempt`](Self::attempt) with a growing pause until it succeeds or the lock has
    /// expired (then another instance may hold it, and storing is no longer ours to do).
    async fn retry(self) {
        let mut pause = Duration::from_millis(50);
        loop {
            tokio::time::sleep(pause).await;
            if Instant::now() >= self.lock_expires {
                tracing::error!("a refresh result was never shared in redis; its lock expired");
                return;
            }
            match self.attempt().await {
                Ok(()) => return,
                Err(e) => tracing::debug!(error = %e, "storing a refresh result still fails"),
            }
            pause = (pause * 2).min(Duration::from_secs(1));
        }
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
    fn set_refresh_timeout(&mut self, timeout: Duration) {
        self.lock_ttl = self.lock_ttl.max(timeout + Self::LOCK_MARGIN);
    }

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
