//! Refresh coordination: one `POST /token` per refresh token, however many requests present it.
//!
//! The auth server rotates the refresh token on every use, with no grace period. When a browser
//! sends several requests at once with one expiring cookie, each would refresh with the same token;
//! one wins and the rest get `401 invalid-refresh-token` — and an anonymous user is orphaned. So
//! every refresh goes through a [`RefreshCoordinator`]: the first request for an old token runs the
//! refresh, the others wait for it, and the result stays cached for a short window, keyed by a hash
//! of the *old* token, so late requests carrying the old cookie get the same new session and the
//! same new cookie.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use nhost_core::{AuthError, ErrorCode, Session, SingleFlight};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What a refresh came to. Cloned to every request that presented the same old token.
///
/// Its `Debug` output leaves out the sealed cookie (a bearer credential).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// The auth server issued a new session.
    Refreshed {
        /// The new session.
        session: Box<Session>,
        /// The sealed cookie value carrying it, identical for every request of the storm.
        cookie: String,
    },
    /// The auth server rejected the refresh token (revoked, rotated long ago, user disabled): the
    /// session is over and the cookie is cleared.
    Rejected(AuthError),
    /// The auth server could not be asked (network error, 5xx, 429, garbage): the cookie is kept
    /// and the still-valid access token, if any, is used.
    Unavailable(AuthError),
}

impl std::fmt::Debug for RefreshOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefreshOutcome::Refreshed { session, .. } => f
                .debug_struct("Refreshed")
                .field("session", session)
                .field("cookie", &"[redacted]")
                .finish(),
            RefreshOutcome::Rejected(e) => f.debug_tuple("Rejected").field(e).finish(),
            RefreshOutcome::Unavailable(e) => f.debug_tuple("Unavailable").field(e).finish(),
        }
    }
}

impl RefreshOutcome {
    /// Classifies the result of `POST /token`. Only the auth server's own verdict on the token —
    /// `401` with `invalid-refresh-token`, `disabled-user` or `unverified-user`, the ids and
    /// status of the protocol — ends the session. Anything else (a proxy's or WAF's `403`/`404`,
    /// a `401` without those ids, validation errors, `429`, `5xx`, network errors, garbage)
    /// says nothing about the token: "unavailable", the cookie is kept.
    pub(crate) fn from_result(result: Result<(Session, String), AuthError>) -> Self {
        match result {
            Ok((session, cookie)) => RefreshOutcome::Refreshed {
                session: Box::new(session),
                cookie,
            },
            Err(e) if is_rejection_of_the_token(&e) => RefreshOutcome::Rejected(e),
            Err(e) => RefreshOutcome::Unavailable(e),
        }
    }

    /// The outcome recorded for a session's refresh token when the session is signed out, so
    /// that requests still presenting an older token of the same chain are signed out too.
    pub(crate) fn signed_out() -> Self {
        RefreshOutcome::Rejected(AuthError::new(
            401,
            ErrorCode::Other("signed-out".into()),
            "the session was signed out",
        ))
    }

    /// The key of the next link of the chain: the new session's refresh token, whose own outcome
    /// (a later refresh, a sign-out, a rejection) supersedes this one.
    pub(crate) fn next_key(&self) -> Option<RefreshKey> {
        match self {
            RefreshOutcome::Refreshed { session, .. } => {
                Some(RefreshKey::new(session.refresh_token.expose()))
            }
            _ => None,
        }
    }

    /// Folds the next link's outcome into this one: a rejection (sign-out) or a later refresh
    /// wins; "unavailable" or nothing leaves this outcome as it is. `None` ends the walk.
    pub(crate) fn followed_by(&self, next: Option<RefreshOutcome>) -> Option<RefreshOutcome> {
        match next {
            Some(next @ (RefreshOutcome::Refreshed { .. } | RefreshOutcome::Rejected(_))) => {
                Some(next)
            }
            _ => None,
        }
    }

    /// How long the outcome may be served to requests presenting the same old token: the whole
    /// race window for a definite answer, a short while for "unavailable" (so a storm against a
    /// down server waits once, and the next storm tries again).
    pub fn cache_for(&self, race_window: Duration) -> Duration {
        match self {
            RefreshOutcome::Unavailable(_) => race_window.min(Duration::from_secs(2)),
            _ => race_window,
        }
    }
}

fn is_rejection_of_the_token(e: &AuthError) -> bool {
    e.status == 401
        && matches!(
            e.error,
            ErrorCode::InvalidRefreshToken | ErrorCode::DisabledUser | ErrorCode::UnverifiedUser
        )
}

/// How many links of a refresh chain (C1 → C2 → C3 …, each cached under its old token) are
/// followed when serving a cached outcome. Within one race window a chain is rarely longer
/// than two; the bound only keeps a pathological cache from costing more.
pub(crate) const CHAIN_LIMIT: usize = 8;

/// Serves a cached outcome as of now: follows it along the chain of later outcomes (`lookup`
/// reads the cached outcome of a key), so that a session signed out — or rejected — after the
/// cached refresh is not handed out again by replaying an older cookie.
pub(crate) fn latest_in_chain(
    mut outcome: RefreshOutcome,
    mut lookup: impl FnMut(&RefreshKey) -> Option<RefreshOutcome>,
) -> RefreshOutcome {
    for _ in 0..CHAIN_LIMIT {
        let Some(next_key) = outcome.next_key() else {
            break;
        };
        match outcome.followed_by(lookup(&next_key)) {
            Some(next) => outcome = next,
            None => break,
        }
    }
    outcome
}

/// The work a coordinator runs at most once per key: the `POST /token` call (and the sealing of
/// the new cookie).
pub type RefreshWork = Box<dyn FnOnce() -> BoxFuture<'static, RefreshOutcome> + Send>;

/// The identity of an old refresh token: a SHA-256 hash for keys and logs, and a key derived from
/// the token itself to encrypt shared results, so that a shared cache (Redis) holds nothing a
/// reader without the old token could use.
#[derive(Clone)]
pub struct RefreshKey {
    id: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for RefreshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl RefreshKey {
    /// The key of a refresh token.
    pub fn new(refresh_token: &str) -> Self {
        let id = hex(&Sha256::digest(refresh_token.as_bytes()));
        let mut h = Sha256::new();
        h.update(b"nhost-ssr refresh result key\0");
        h.update(refresh_token.as_bytes());
        RefreshKey {
            id,
            secret: h.finalize().into(),
        }
    }

    /// Hex SHA-256 of the token: safe to use as a cache key or to log.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `outcome` (AES-256-GCM) with a key only holders of the old token can derive.
    pub fn seal(&self, outcome: &RefreshOutcome) -> Vec<u8> {
        use aes_gcm::aead::{Aead as _, AeadCore as _, KeyInit as _, OsRng};
        let cipher = aes_gcm::Aes256Gcm::new(&self.secret.into());
        let nonce = aes_gcm::Aes256Gcm::generate_nonce(&mut OsRng);
        let plain = serde_json::to_vec(outcome).unwrap_or_default();
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for inputs of this size.
        out.extend(cipher.encrypt(&nonce, plain.as_slice()).unwrap_or_default());
        out
    }

    /// Decrypts what [`RefreshKey::seal`] produced; `None` when it is not ours or was tampered with.
    pub fn open(&self, sealed: &[u8]) -> Option<RefreshOutcome> {
        use aes_gcm::aead::{Aead as _, KeyInit as _};
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, body) = sealed.split_at(12);
        let cipher = aes_gcm::Aes256Gcm::new(&self.secret.into());
        let plain = cipher
            .decrypt(aes_gcm::Nonce::from_slice(nonce), body)
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Makes sure each old refresh token is exchanged at most once, and that everyone who presents it
/// within the race window gets the same outcome.
///
/// [`MemoryCoordinator`] (the default) does this within one process; `RedisCoordinator` (feature
/// `redis`) across every instance that shares a Redis server.
///
/// A cached outcome is served *as of now*: when it is a refresh to a session whose own token has
/// an outcome since (a later refresh, or a rejection — a sign-out is [`publish`]ed as one), the
/// later outcome is returned. That is how a sign-out reaches replays of every older cookie of
/// the session. An implementation must do the same.
///
/// [`publish`]: RefreshCoordinator::publish
pub trait RefreshCoordinator: Send + Sync + 'static {
    /// Runs `work` for `key` unless another caller is running it or ran it within `race_window`;
    /// in both cases returns that caller's outcome instead (followed along its chain, see above).
    fn coordinate<'a>(
        &'a self,
        key: &'a RefreshKey,
        race_window: Duration,
        work: RefreshWork,
    ) -> BoxFuture<'a, RefreshOutcome>;

    /// Records `outcome` for `key` as if `coordinate` had produced it: the token was exchanged
    /// outside the coordinator (by a handler), and requests still presenting it within
    /// `race_window` must get the new session, not a rejection.
    fn publish<'a>(
        &'a self,
        key: &'a RefreshKey,
        race_window: Duration,
        outcome: RefreshOutcome,
    ) -> BoxFuture<'a, ()>;

    /// Told once, when the layer is built, how long a refresh can take at most (the layer's
    /// auth-request timeout). A coordinator that locks a token while it is refreshed must keep
    /// the lock longer than that. The default ignores it.
    fn set_refresh_timeout(&mut self, timeout: Duration) {
        let _ = timeout;
    }
}

/// In-process coordination: single-flight per old token plus a short result cache.
#[derive(Clone, Default)]
pub struct MemoryCoordinator {
    inner: Arc<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    flights: SingleFlight<RefreshOutcome>,
    results: Mutex<HashMap<String, (Instant, RefreshOutcome)>>,
    /// The size of `results` at which expired outcomes are next dropped (changed only under
    /// its lock).
    prune_at: AtomicUsize,
}

/// Expired outcomes are dropped when the cache reaches this many entries, or one and a half
/// times what it held after the last drop, whichever is more: one scan per so many new
/// outcomes, not one per outcome. (A scan per outcome made a flood of distinct refresh
/// attempts quadratic: with the 60 s window, 300,000 attempts slowed from 3,600 to 750 a
/// second.) The cache holds at most one and a half times its live outcomes, or this many.
const PRUNE_AT_LEAST: usize = 1024;

impl std::fmt::Debug for MemoryCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCoordinator")
            .field("cached", &self.cached())
            .finish_non_exhaustive()
    }
}

impl MemoryCoordinator {
    /// A coordinator with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many outcomes are cached (expired ones are dropped as new ones arrive).
    pub fn cached(&self) -> usize {
        self.inner
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn cached_outcome(&self, id: &str) -> Option<RefreshOutcome> {
        self.inner.cached_outcome(id)
    }
}

impl MemoryInner {
    /// The outcome cached for `id`, followed along its chain.
    fn cached_outcome(&self, id: &str) -> Option<RefreshOutcome> {
        let outcome = self.lookup(id)?;
        Some(latest_in_chain(outcome, |key| self.lookup(key.id())))
    }

    fn lookup(&self, id: &str) -> Option<RefreshOutcome> {
        let results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        match results.get(id) {
            Some((until, outcome)) if Instant::now() < *until => Some(outcome.clone()),
            _ => None,
        }
    }

    fn remember(&self, id: String, race_window: Duration, outcome: RefreshOutcome) {
        let now = Instant::now();
        let mut results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        if results.len() >= self.prune_at.load(Ordering::Relaxed) {
            results.retain(|_, (until, _)| now < *until);
            let next = (results.len() + results.len() / 2).max(PRUNE_AT_LEAST);
            self.prune_at.store(next, Ordering::Relaxed);
        }
        results.insert(id, (now + outcome.cache_for(race_window), outcome));
    }
}

impl RefreshCoordinator for MemoryCoordinator {
    fn publish<'a>(
        &'a self,
        key: &'a RefreshKey,
        race_window: Duration,
        outcome: RefreshOutcome,
    ) -> BoxFuture<'a, ()> {
        self.inner
            .remember(key.id().to_owned(), race_window, outcome);
        Box::pin(async {})
    }

    fn coordinate<'a>(
        &'a self,
        key: &'a RefreshKey,
        race_window: Duration,
        work: RefreshWork,
    ) -> BoxFuture<'a, RefreshOutcome> {
        Box::pin(async move {
            if let Some(outcome) = self.cached_outcome(key.id()) {
                return outcome;
            }
            let inner = self.inner.clone();
            let id = key.id().to_owned();
            self.inner
                .flights
                .run(key.id(), move || {
                    Box::pin(async move {
                        // A flight that finished between our cache check and now left its result.
                        if let Some(outcome) = inner.cached_outcome(&id) {
                            return outcome;
                        }
                        let outcome = work().await;
                        // Cached before the flight resolves: no request can miss both.
                        inner.remember(id, race_window, outcome.clone());
                        outcome
                    })
                })
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> RefreshOutcome {
        RefreshOutcome::Unavailable(AuthError::network("down"))
    }

    #[tokio::test]
    async fn one_run_per_key_and_cached_within_the_window() {
        let coordinator = MemoryCoordinator::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let key = RefreshKey::new("old-token");
        let work = |runs: Arc<AtomicUsize>| -> RefreshWork {
            Box::new(move || {
                Box::pin(async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    RefreshOutcome::Rejected(AuthError::network("x"))
                })
            })
        };
        let all =
            futures_util::future::join_all((0..20).map(|_| {
                coordinator.coordinate(&key, Duration::from_secs(60), work(runs.clone()))
            }))
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(all.iter().all(|o| o == &all[0]));
        // Afterwards, still within the window: served from the cache.
        let again = coordinator
            .coordinate(&key, Duration::from_secs(60), work(runs.clone()))
            .await;
        assert_eq!(again, all[0]);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Another key runs its own refresh.
        let other = RefreshKey::new("other-token");
        coordinator
            .coordinate(&other, Duration::from_secs(60), work(runs.clone()))
            .await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    /// Issue 13 (memory under abuse): a flood of distinct refresh attempts keeps the cache
    /// bounded by what is live — expired outcomes are dropped in bulk, never served.
    #[test]
    fn expired_outcomes_are_dropped_in_bulk_and_never_served() {
        let coordinator = MemoryCoordinator::new();
        for i in 0..10 * PRUNE_AT_LEAST {
            let key = RefreshKey::new(&format!("token-{i}"));
            coordinator
                .inner
                .remember(key.id().to_owned(), Duration::ZERO, unavailable());
            assert!(
                coordinator.cached() <= PRUNE_AT_LEAST,
                "{}",
                coordinator.cached()
            );
            assert_eq!(coordinator.cached_outcome(key.id()), None);
        }
        // Live outcomes are all kept; the cache holds at most one and a half times them.
        let live = 3 * PRUNE_AT_LEAST;
        for i in 0..live {
            let key = RefreshKey::new(&format!("live-{i}"));
            coordinator
                .inner
                .remember(key.id().to_owned(), Duration::from_secs(60), unavailable());
        }
        assert!(coordinator.cached() <= live + live / 2 + PRUNE_AT_LEAST);
        for i in 0..live {
            let key = RefreshKey::new(&format!("live-{i}"));
            assert!(coordinator.cached_outcome(key.id()).is_some(), "live-{i}");
        }
    }

    #[tokio::test]
    async fn outside_the_window_the_work_runs_again() {
        let coordinator = MemoryCoordinator::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let key = RefreshKey::new("t");
        for _ in 0..2 {
            let runs = runs.clone();
            coordinator
                .coordinate(
                    &key,
                    Duration::ZERO,
                    Box::new(move || {
                        Box::pin(async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            unavailable()
                        })
                    }),
                )
                .await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn sealed_results_open_only_with_the_old_token() {
        let key = RefreshKey::new("old");
        let sealed = key.seal(&unavailable());
        assert_eq!(key.open(&sealed), Some(unavailable()));
        assert_eq!(RefreshKey::new("other").open(&sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(key.open(&tampered), None);
        assert_eq!(key.open(b"short"), None);
        assert!(!format!("{key:?}").contains("old\""));
        let refreshed = RefreshOutcome::Refreshed {
            session: Box::new(
                serde_json::from_value(serde_json::json!({
                    "accessToken": "secret-access", "accessTokenExpiresIn": 900,
                    "accessTokenExpiresAt": 1, "refreshToken": "secret-refresh",
                    "refreshTokenId": "id", "user": null, "claims": null
                }))
                .expect("session"),
            ),
            cookie: "secret-cookie".into(),
        };
        let debug = format!("{refreshed:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert_eq!(key.id().len(), 64);
    }

    #[test]
    fn classification() {
        let rejected = AuthError::from_response(
            401,
            r#"{"status":401,"error":"invalid-refresh-token","message":"Invalid or expired refresh token"}"#,
        );
        assert!(matches!(
            RefreshOutcome::from_result(Err(rejected)),
            RefreshOutcome::Rejected(_)
        ));
        let disabled = AuthError::from_response(
            401,
            r#"{"status":401,"error":"disabled-user","message":"User is disabled"}"#,
        );
        assert!(matches!(
            RefreshOutcome::from_result(Err(disabled)),
            RefreshOutcome::Rejected(_)
        ));
        // Issue 16, item 10: what a proxy or WAF in front of the server sends is not a rejection.
        for (status, body) in [
            (403, "<html>403 Forbidden</html>"),
            (404, "<h1>Not Found</h1>"),
            (403, r#"{"error":"forbidden","message":"blocked"}"#),
            (404, r#"{"error":"route-not-found"}"#),
            (401, "Unauthorized"),
            (401, r#"{"error":"unauthorized"}"#),
            (400, r#"{"error":"invalid-request"}"#),
            (
                403,
                r#"{"status":403,"error":"invalid-refresh-token","message":"wrong status"}"#,
            ),
            (418, ""),
        ] {
            let e = AuthError::from_response(status, body);
            assert!(
                matches!(
                    RefreshOutcome::from_result(Err(e)),
                    RefreshOutcome::Unavailable(_)
                ),
                "{status} {body}"
            );
        }
        for status in [0, 1, 429, 500, 502, 503] {
            let e = AuthError::from_response(status, "");
            assert!(
                matches!(
                    RefreshOutcome::from_result(Err(e)),
                    RefreshOutcome::Unavailable(_)
                ),
                "{status}"
            );
        }
    }
}
