//! What differs between native (tokio) and the browser (wasm32): timers and spawning.

use std::future::Future;
use std::time::Duration;

/// `Send + Sync` on native, nothing in the browser (where nothing is `Send` and nothing needs to be).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
/// `Send + Sync` on native, nothing in the browser (where nothing is `Send` and nothing needs to be).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// `Send` on native, nothing in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}
/// `Send` on native, nothing in the browser.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// A boxed future, `Send` where that exists.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type BoxFuture<T> = futures_util::future::BoxFuture<'static, T>;
#[cfg(target_arch = "wasm32")]
pub(crate) type BoxFuture<T> = futures_util::future::LocalBoxFuture<'static, T>;

/// Boxes a future as [`BoxFuture`].
pub(crate) fn boxed<T>(f: impl Future<Output = T> + MaybeSend + 'static) -> BoxFuture<T> {
    Box::pin(f)
}

/// Waits.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn sleep(d: Duration) {
    tokio::time::sleep(d).await
}

/// Waits.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn sleep(d: Duration) {
    gloo_timers::future::sleep(d).await
}

/// Runs a background task; `false` when there is nowhere to run it (native code outside a tokio
/// runtime), in which case the caller goes without.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn spawn(f: impl Future<Output = ()> + Send + 'static) -> bool {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(f);
            true
        }
        Err(_) => false,
    }
}

/// Runs a background task on the browser's event loop.
#[cfg(target_arch = "wasm32")]
pub(crate) fn spawn(f: impl Future<Output = ()> + 'static) -> bool {
    wasm_bindgen_futures::spawn_local(f);
    true
}

/// A random number, for spreading the refresh times of clients that hold one session (not for
/// secrets).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    // `RandomState` is seeded from the OS's randomness, once per process and then per instance.
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
}

/// A random number, for spreading the refresh times of tabs that hold one session (not for
/// secrets).
#[cfg(target_arch = "wasm32")]
pub(crate) fn random_u32() -> u32 {
    (js_sys::Math::random() * f64::from(u32::MAX)) as u32
}

/// Whether the device believes it is online (`navigator.onLine` in the browser; always on native).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn is_online() -> bool {
    true
}

/// Whether the device believes it is online (`navigator.onLine` in the browser; always on native).
#[cfg(target_arch = "wasm32")]
pub(crate) fn is_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}
