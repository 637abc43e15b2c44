//! What the native tests of `nhost-core` share: the in-process emulator, clients that share one
//! store like the tabs of a browser, and a TCP proxy that adds latency.

#![allow(dead_code, unreachable_pub, reason = "each test binary uses a different part")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nhost_auth_emulator::{Config, Emulator};
use nhost_core::{MemoryStorage, NhostClient, SessionStorage};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

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

/// A TCP proxy on loopback that delays every chunk, in each direction, by a settable time: a
/// far-away auth server (a round trip of twice the delay), or one slower than a client's timeout.
pub struct DelayProxy {
    url: String,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    /// Proxies `upstream` (`host:port`) with `one_way` delay.
    pub async fn start(upstream: std::net::SocketAddr, one_way: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let delay_ms = Arc::new(AtomicU64::new(one_way.as_millis() as u64));
        let delay = delay_ms.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, delay.clone()), pump(sr, cw, delay));
                });
            }
        });
        DelayProxy {
            url,
            delay_ms,
            task,
        }
    }

    /// The proxy's URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes the one-way delay of chunks read from now on.
    pub fn set_delay(&self, one_way: Duration) {
        self.delay_ms
            .store(one_way.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk leaving `delay` after it arrived (order kept, throughput
/// not limited: latency only).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Arc<AtomicU64>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due =
                        Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
