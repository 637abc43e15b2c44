//! A TCP proxy on loopback that adds latency: a far-away server on the test's own machine.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A TCP proxy on `127.0.0.1` in front of one upstream address, which delays every chunk of
/// bytes, in each direction, by a settable one-way delay: a server far away (a round trip of
/// twice the delay, on every request and response), or one slower than a client's timeout.
///
/// Latency only: chunks keep their order and leave as soon as they are due, so throughput is not
/// limited. Connecting is not delayed (the proxy accepts at once), the bytes are — a request
/// reaches the upstream one delay after the client sent it, and its answer reaches the client one
/// delay after the upstream wrote it.
///
/// The proxy does not look into what it carries: an HTTP request keeps its `Host` header, the
/// proxy's own address (`127.0.0.1:<port>`). A server that answers only its own names must
/// accept that; `nhost-auth-emulator`'s DNS-rebinding guard does, as it accepts every IP address.
/// To a browser page the proxy's address is the server's origin; CORS works as against the
/// server itself (the emulator echoes the page's own origin).
///
/// It runs on the tokio runtime it is started on, and stops accepting when it drops
/// (connections already open are served to their end).
///
/// ```no_run
/// # async fn f(upstream: std::net::SocketAddr) {
/// use std::time::Duration;
/// use browser_harness::DelayProxy;
///
/// // A server 300 ms away (150 ms each way).
/// let proxy = DelayProxy::start(upstream, Duration::from_millis(150)).await;
/// println!("{}", proxy.url()); // http://127.0.0.1:41234
/// // Slower from now on: chunks read from now on wait 400 ms each way.
/// proxy.set_delay(Duration::from_millis(400));
/// # }
/// ```
///
/// Started with [`DelayProxy::start_recording`], it also keeps every byte it carries, in each
/// direction, for the test to search: what a browser received from a site, which requests a site
/// sent its auth server.
#[derive(Debug)]
pub struct DelayProxy {
    url: String,
    delay_ms: Arc<AtomicU64>,
    recording: Option<Recording>,
    task: tokio::task::JoinHandle<()>,
}

/// The bytes a recording proxy carried: to the upstream, and from it (every connection's, in the
/// order their chunks arrived).
#[derive(Debug, Clone, Default)]
struct Recording {
    to_upstream: Arc<Mutex<Vec<u8>>>,
    from_upstream: Arc<Mutex<Vec<u8>>>,
}

impl DelayProxy {
    /// Listens on a free port of `127.0.0.1` and forwards every connection to `upstream`, with
    /// `one_way` delay in each direction.
    ///
    /// # Panics
    ///
    /// When it cannot listen on loopback, or outside a tokio runtime.
    pub async fn start(upstream: SocketAddr, one_way: Duration) -> DelayProxy {
        DelayProxy::listen(upstream, one_way, None).await
    }

    /// Like [`DelayProxy::start`], and keeps every byte carried: see [`DelayProxy::to_upstream`]
    /// and [`DelayProxy::from_upstream`]. For tests: the recording grows without bound.
    ///
    /// # Panics
    ///
    /// As [`DelayProxy::start`].
    pub async fn start_recording(upstream: SocketAddr, one_way: Duration) -> DelayProxy {
        DelayProxy::listen(upstream, one_way, Some(Recording::default())).await
    }

    /// Like [`DelayProxy::start_recording`], on a listener bound beforehand: for a proxy whose
    /// address must be known before its upstream exists (a server configured with the URL the
    /// browser will use, such as an auth server's allowed redirect URLs).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when the listener has no local address.
    pub fn start_recording_on(
        listener: TcpListener,
        upstream: SocketAddr,
        one_way: Duration,
    ) -> DelayProxy {
        DelayProxy::serve(listener, upstream, one_way, Some(Recording::default()))
    }

    async fn listen(
        upstream: SocketAddr,
        one_way: Duration,
        recording: Option<Recording>,
    ) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the delay proxy cannot listen on 127.0.0.1");
        DelayProxy::serve(listener, upstream, one_way, recording)
    }

    fn serve(
        listener: TcpListener,
        upstream: SocketAddr,
        one_way: Duration,
        recording: Option<Recording>,
    ) -> DelayProxy {
        let addr = listener
            .local_addr()
            .expect("the delay proxy's listener has an address");
        let delay_ms = Arc::new(AtomicU64::new(millis(one_way)));
        let delay = delay_ms.clone();
        let record = recording.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = delay.clone();
                let record = record.clone();
                tokio::spawn(async move {
                    // An upstream that refuses: the client sees its connection closed.
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let (up, down) = match record {
                        Some(r) => (Some(r.to_upstream), Some(r.from_upstream)),
                        None => (None, None),
                    };
                    tokio::join!(
                        pump(client_read, server_write, delay.clone(), up),
                        pump(server_read, client_write, delay, down)
                    );
                });
            }
        });
        DelayProxy {
            url: format!("http://{addr}"),
            delay_ms,
            recording,
            task,
        }
    }

    /// The proxy's URL, without a trailing `/`, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The one-way delay now.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))
    }

    /// Every byte clients sent the upstream so far (a recording proxy; empty otherwise).
    pub fn to_upstream(&self) -> Vec<u8> {
        self.recorded(|r| &r.to_upstream)
    }

    /// Every byte the upstream sent clients so far (a recording proxy; empty otherwise).
    pub fn from_upstream(&self) -> Vec<u8> {
        self.recorded(|r| &r.from_upstream)
    }

    fn recorded(&self, side: impl Fn(&Recording) -> &Arc<Mutex<Vec<u8>>>) -> Vec<u8> {
        self.recording
            .as_ref()
            .map(|r| side(r).lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Changes the one-way delay of the chunks read from now on (those already read keep theirs).
    pub fn set_delay(&self, one_way: Duration) {
        self.delay_ms.store(millis(one_way), Ordering::SeqCst);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Copies `from` to `to`, each chunk leaving `delay` after it arrived (and appended to `record`
/// when recording); shuts `to` down when `from` ends, so that a half-close reaches the other side.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Arc<AtomicU64>,
    record: Option<Arc<Mutex<Vec<u8>>>>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(record) = &record {
                        record
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend_from_slice(&buf[..n]);
                    }
                    let due = Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers each chunk it reads with the same bytes.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// Sends `bytes` through the proxy and waits for them to come back; the round trip.
    async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) -> Duration {
        let start = Instant::now();
        stream.write_all(bytes).await.expect("write");
        let mut back = vec![0u8; bytes.len()];
        stream.read_exact(&mut back).await.expect("read");
        assert_eq!(back, bytes, "the bytes come back unchanged");
        start.elapsed()
    }

    #[tokio::test]
    async fn every_chunk_waits_the_delay_in_each_direction() {
        let proxy = DelayProxy::start(echo_server().await, Duration::from_millis(100)).await;
        let addr = proxy.url().strip_prefix("http://").expect("an http URL");
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let took = round_trip(&mut stream, b"hello").await;
        assert!(took >= Duration::from_millis(200), "round trip {took:?}");

        proxy.set_delay(Duration::ZERO);
        assert_eq!(proxy.delay(), Duration::ZERO);
        let took = round_trip(&mut stream, b"again").await;
        assert!(took < Duration::from_millis(150), "round trip {took:?}");
        assert!(proxy.to_upstream().is_empty(), "not recording");
    }

    #[tokio::test]
    async fn a_recording_proxy_keeps_both_directions() {
        let proxy = DelayProxy::start_recording(echo_server().await, Duration::ZERO).await;
        let addr = proxy.url().strip_prefix("http://").expect("an http URL");
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        round_trip(&mut stream, b"one ").await;
        round_trip(&mut stream, b"two").await;
        assert_eq!(proxy.to_upstream(), b"one two");
        assert_eq!(proxy.from_upstream(), b"one two");
    }
}
