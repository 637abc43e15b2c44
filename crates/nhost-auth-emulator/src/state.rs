//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::config::Config;
use crate::guards::AllowedHosts;
use crate::mailbox::Mailbox;
use crate::rate_limit::RateLimiter;
use crate::redirect::RedirectPolicy;
use crate::store::Store;

/// Shared state. axum clones it for every middleware layer and extractor of every request, so a
/// clone is one reference count: [`Shared`] behind one `Arc`.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler shares, through [`AppState`].
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<Store>,
    pub(crate) mailbox: Mailbox,
    pub(crate) stats: Arc<Stats>,
    pub(crate) rate_limiter: Arc<RateLimiter>,
    /// The normalised API prefix (`""` or `/v1`).
    pub(crate) prefix: String,
    /// The public base URL including the prefix, for links in emails.
    pub(crate) server_url: String,
    /// Where `redirectTo` may point, parsed once.
    pub(crate) redirects: Arc<RedirectPolicy>,
    /// The host names answered besides localhost and IP addresses.
    pub(crate) allowed_hosts: Arc<AllowedHosts>,
    /// Whether `/_emulator/*` is served (on, and on loopback or forced beyond it).
    pub(crate) serve_emulator_routes: bool,
    /// A bcrypt hash of a random password at the configured cost, made on first use: sign-in
    /// checks unknown emails against it, so that it takes as long as for a known one.
    pub(crate) dummy_password_hash: Arc<tokio::sync::OnceCell<String>>,
}

/// Request counters, for tests that must prove how many calls a client made.
#[derive(Debug, Default)]
pub struct Stats {
    token_requests: AtomicU64,
    anonymous_sign_ins: AtomicU64,
    password_checks: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// `POST /token` requests received (whatever their outcome).
    pub token_requests: u64,
    /// `POST /signin/anonymous` requests received (whatever their outcome).
    pub anonymous_sign_ins: u64,
    /// bcrypt comparisons made by email+password sign-ins: one per attempt, whether or not the
    /// email exists (so that timing does not tell), none for refused input.
    pub password_checks: u64,
}

impl Stats {
    pub(crate) fn count_token_request(&self) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_anonymous_sign_in(&self) {
        self.anonymous_sign_ins.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_password_check(&self) {
        self.password_checks.fetch_add(1, Ordering::Relaxed);
    }
    /// The counts so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            token_requests: self.token_requests.load(Ordering::Relaxed),
            anonymous_sign_ins: self.anonymous_sign_ins.load(Ordering::Relaxed),
            password_checks: self.password_checks.load(Ordering::Relaxed),
        }
    }
    pub(crate) fn reset(&self) {
        self.token_requests.store(0, Ordering::Relaxed);
        self.anonymous_sign_ins.store(0, Ordering::Relaxed);
        self.password_checks.store(0, Ordering::Relaxed);
    }
}
