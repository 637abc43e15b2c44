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

/// Counters per (bucket, client IP) for the current window of each.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: Mutex<HashMap<(Bucket, IpAddr), (Instant, u32)>>,
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
        // Forget finished windows now and then, so the map does not grow with every client ever seen.
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < interval);
        }
        let entry = windows.entry((bucket, ip)).or_insert((now, 0));
        if now.duration_since(entry.0) >= interval {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= burst
    }
}

fn buckets(path: &str, limits: &RateLimits) -> Vec<(Bucket, (u32, Duration))> {
    let mut out = vec![(Bucket::Global, limits.global)];
    if path.starts_with("/signup") || path == "/signin/anonymous" {
        out.push((Bucket::Signups, limits.signups));
    }
    if path.starts_with("/signin")
        || path == "/token"
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
}
