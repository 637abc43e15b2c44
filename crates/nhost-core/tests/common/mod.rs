//! What the native tests of `nhost-core` share: the in-process emulator, clients that share one
//! store like the tabs of a browser, and a TCP proxy that adds latency (`browser-harness`'s
//! `DelayProxy`, which the browser end-to-end tests use too).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part"
)]

use std::sync::Arc;
use std::time::Duration;

pub use browser_harness::DelayProxy;
use nhost_auth_emulator::{Config, Emulator};
use nhost_core::{MemoryStorage, NhostClient, SessionStorage};

/// An emulator with cheap password hashing, tweaked.
pub async fn emulator(tweak: impl FnOnce(&mut Config)) -> Emulator {
    let mut config = Config::default();
    config.bcrypt_cost = 4;
    tweak(&mut config);
    Emulator::start(config).await.expect("emulator starts")
}

/// A client of `url` on `storage` — several of them on one storage behave like the tabs of one
/// browser sharing `localStorage` (and, through `MemoryStorage`'s lock, the Web Lock).
pub fn tab(url: &str, storage: &Arc<dyn SessionStorage>) -> NhostClient {
    tab_with(url, storage, |b| b)
}

/// [`tab`], with more builder settings.
pub fn tab_with(
    url: &str,
    storage: &Arc<dyn SessionStorage>,
    tweak: impl FnOnce(nhost_core::NhostClientBuilder) -> nhost_core::NhostClientBuilder,
) -> NhostClient {
    tweak(
        NhostClient::builder()
            .auth_url(url)
            .shared_storage(storage.clone())
            .retry_backoff(vec![Duration::from_millis(100)]),
    )
    .build()
    .expect("client builds")
}

/// A fresh shared store.
pub fn shared_store() -> Arc<dyn SessionStorage> {
    Arc::new(MemoryStorage::default())
}

/// A store that takes no lock: what a browser without Web Locks gives.
#[derive(Default)]
pub struct UnlockedStore(MemoryStorage);

impl SessionStorage for UnlockedStore {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &str) {
        self.0.set(key, value)
    }
    fn remove(&self, key: &str) {
        self.0.remove(key)
    }
    // `lock` keeps the default: no lock.
}
