//! Single-flight: concurrent callers with the same key share one run of the work and its result.

use std::sync::{Mutex, PoisonError};

use futures_util::FutureExt as _;
use futures_util::future::Shared;

use crate::platform::{BoxFuture, MaybeSend};

/// Runs at most one piece of work per key at a time; everyone who asks for the same key while it
/// runs gets a clone of its result.
///
/// This is what keeps a rotated refresh token from ever being sent twice: the refresh of token
/// `T` is keyed by `T`, so a hundred callers needing a refresh cause one `POST /token`.
pub struct SingleFlight<T: Clone> {
    // A handful of keys at most (one per refresh token in use): a list beats a hash map, and
    // costs the browser bundle no hashing code.
    inflight: Mutex<Vec<(String, Shared<BoxFuture<T>>)>>,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            inflight: Mutex::new(Vec::new()),
        }
    }
}

impl<T: Clone> std::fmt::Debug for SingleFlight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys may be secrets (refresh tokens): show only how many flights run.
        let n = self
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("SingleFlight")
            .field("in_flight", &n)
            .finish()
    }
}

impl<T: Clone + MaybeSend + 'static> SingleFlight<T> {
    /// Joins the flight for `key`, or starts one with `work` when none runs.
    pub async fn run(&self, key: &str, work: impl FnOnce() -> BoxFuture<T>) -> T {
        let flight = {
            let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match map.iter().find(|(k, _)| k == key) {
                Some((_, f)) => f.clone(),
                None => {
                    let f = work().shared();
                    map.push((key.to_owned(), f.clone()));
                    f
                }
            }
        };
        let result = flight.clone().await;
        // The first one back removes the finished flight (only this one, not a newer flight
        // that may have started under the same key).
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|(k, f)| !(k == key && f.ptr_eq(&flight)));
        result
    }

    /// The running flight for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Shared<BoxFuture<T>>> {
        let map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter().find(|(k, _)| k == key).map(|(_, f)| f.clone())
    }

    /// Joins the flight for `key`, or starts one with `work`, without awaiting it. The second
    /// value is `true` when this call started it; the starter arranges for the flight to be
    /// driven to its end and then calls [`finish`](Self::finish).
    pub(crate) fn join_or_start(
        &self,
        key: &str,
        work: impl FnOnce() -> BoxFuture<T>,
    ) -> (Shared<BoxFuture<T>>, bool) {
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, f)) = map.iter().find(|(k, _)| k == key) {
            return (f.clone(), false);
        }
        let f = work().shared();
        map.push((key.to_owned(), f.clone()));
        (f, true)
    }

    /// Removes a flight that [`join_or_start`](Self::join_or_start) started (only that one,
    /// not a newer flight under the same key).
    pub(crate) fn finish(&self, key: &str, flight: &Shared<BoxFuture<T>>) {
        let mut map = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|(k, f)| !(k == key && f.ptr_eq(flight)));
    }

    /// How many flights are running.
    pub fn in_flight(&self) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights = Arc::new(SingleFlight::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (flights, runs) = (flights.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", move || {
                        Box::pin(async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            runs.fetch_add(1, Ordering::SeqCst) + 100
                        })
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task"), 100, "everyone gets the one result");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0, "finished flights are removed");
        // A later call starts a new run.
        let again = flights.run("k", || Box::pin(async { 7 })).await;
        assert_eq!(again, 7);
    }
}
