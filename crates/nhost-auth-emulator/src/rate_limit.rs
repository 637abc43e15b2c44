//! Per-client-IP fixed-window rate limits, answered with the protocol's empty-bodied 429.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::RateLimits;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Bucket {
    Global,
    BruteForce,
    Signups,
}

/// The most (bucket, client IP) windows remembered at once: about 5 MiB. Past this a flood of
/// addresses (cheap with IPv6) would otherwise grow the table for as long as it lasts.
pub(crate) const MAX_TRACKED: usize = 65_536;

/// One client's window in one bucket. It keeps its own limit, so that pruning uses the
/// bucket's interval rather than that of whichever request happens to prune.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    burst: u32,
    interval: Duration,
}

impl Window {
    fn finished(&self, now: Instant) -> bool {
        now.duration_since(self.start) >= self.interval
    }
    fn blocked(&self) -> bool {
        self.count > self.burst
    }
}

/// Counters per (bucket, client IP) for the current window of each, at most [`MAX_TRACKED`].
///
/// Not an LRU: under a flood of new addresses an LRU forgets the least recently seen client
/// first — which is exactly a blocked client that waits, so the flood would unblock it.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: Mutex<HashMap<(Bucket, IpAddr), Window>>,
}

impl RateLimiter {
    /// Counts one request; `false` when it is over the limit.
    fn allow(
        &self,
        bucket: Bucket,
        ip: IpAddr,
        (burst, interval): (u32, Duration),
        now: Instant,
    ) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (bucket, ip);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&key) {
            make_room(&mut windows, now);
        }
        let fresh = Window {
            start: now,
            count: 0,
            burst,
            interval,
        };
        let window = windows.entry(key).or_insert(fresh);
        if window.finished(now) {
            *window = fresh;
        }
        window.count = window.count.saturating_add(1);
        !window.blocked()
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Frees room for a new client, down to three quarters of [`MAX_TRACKED`] (so that this
/// O(n log n) pass runs once per many thousand new clients): first every finished window, each
/// by its own bucket's interval; then, when a flood keeps every window live, the windows of
/// clients that are not blocked, oldest first. Blocked clients are forgotten (oldest first) only
/// when they alone fill the table.
fn make_room(windows: &mut HashMap<(Bucket, IpAddr), Window>, now: Instant) {
    let target = MAX_TRACKED / 4 * 3;
    windows.retain(|_, w| !w.finished(now));
    for only_unblocked in [true, false] {
        if windows.len() <= target {
            return;
        }
        let mut oldest: Vec<((Bucket, IpAddr), Instant)> = windows
            .iter()
            .filter(|(_, w)| !(only_unblocked && w.blocked()))
            .map(|(key, w)| (*key, w.start))
            .collect();
        oldest.sort_unstable_by_key(|(_, start)| *start);
        let excess = windows.len() - target;
        for (key, _) in oldest.into_iter().take(excess) {
            windows.remove(&key);
        }
    }
}

fn buckets(path: &str, limits: &RateLimits) -> Vec<(Bucket, (u32, Duration))> {
    let mut out = vec![(Bucket::Global, limits.global)];
    if path.starts_with("/signup") || path == "/signin/anonymous" {
        out.push((Bucket::Signups, limits.signups));
    }
    if path.starts_with("/signin")
        || path == "/token"
        || path == "/token/exchange"
        || path == "/verify"
        || path == "/user/deanonymize"
    {
        out.push((Bucket::BruteForce, limits.brute_force));
    }
    out
}

/// Middleware: applies the configured limits when they are enabled.
pub(crate) async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limits = &state.config.rate_limits;
    if limits.enabled {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let path = req
            .uri()
            .path()
            .strip_prefix(state.prefix.as_str())
            .unwrap_or(req.uri().path());
        let now = Instant::now();
        for (bucket, limit) in buckets(path, limits) {
            if !state.rate_limiter.allow(bucket, ip, limit, now) {
                return ApiError::RateLimited.into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_allows_burst_then_refuses_then_resets() {
        let l = RateLimiter::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let t0 = Instant::now();
        let limit = (3, Duration::from_secs(10));
        assert!((0..3).all(|_| l.allow(Bucket::Global, ip, limit, t0)));
        assert!(!l.allow(Bucket::Global, ip, limit, t0));
        // Another client and another bucket are counted apart.
        assert!(l.allow(Bucket::Global, IpAddr::from([10, 0, 0, 1]), limit, t0));
        assert!(l.allow(Bucket::Signups, ip, limit, t0));
        assert!(l.allow(Bucket::Global, ip, limit, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn anonymous_sign_in_counts_as_sign_up_and_sign_in() {
        let b: Vec<_> = buckets("/signin/anonymous", &RateLimits::default())
            .into_iter()
            .map(|(b, _)| b)
            .collect();
        assert_eq!(b, [Bucket::Global, Bucket::Signups, Bucket::BruteForce]);
    }

    /// Issue 16, item 4: pruning used the interval of whichever bucket was being checked, so
    /// global-bucket traffic from other addresses wiped the 5-minute brute-force windows.
    #[test]
    fn other_clients_do_not_unblock_a_blocked_client() {
        let l = RateLimiter::default();
        let blocked = IpAddr::from([203, 0, 113, 9]);
        let brute = (10, Duration::from_secs(300));
        let global = (100, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!((0..10).all(|_| l.allow(Bucket::BruteForce, blocked, brute, t0)));
        assert!(!l.allow(Bucket::BruteForce, blocked, brute, t0));
        // A minute later the global windows are over, the brute-force one is not.
        let t1 = t0 + Duration::from_secs(61);
        for i in 0..10_001u32 {
            let other = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.allow(Bucket::Global, other, global, t1);
        }
        assert!(
            !l.allow(Bucket::BruteForce, blocked, brute, t1),
            "10,001 requests from other addresses must not unblock a client"
        );
    }

    /// Issue 16, item 4: the table stays bounded even when every entry is in a live window,
    /// and the flood does not push a blocked client out.
    #[test]
    fn a_flood_of_new_clients_is_bounded_and_keeps_blocked_clients() {
        let l = RateLimiter::default();
        let blocked = IpAddr::from([203, 0, 113, 9]);
        let brute = (10, Duration::from_secs(300));
        let global = (100, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!((0..10).all(|_| l.allow(Bucket::BruteForce, blocked, brute, t0)));
        assert!(!l.allow(Bucket::BruteForce, blocked, brute, t0));
        for i in 0..300_000u32 {
            let other = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.allow(Bucket::Global, other, global, t0);
        }
        let tracked = l.tracked();
        assert!(tracked <= MAX_TRACKED, "{tracked} windows tracked");
        assert!(
            !l.allow(Bucket::BruteForce, blocked, brute, t0),
            "still blocked"
        );
    }
}
