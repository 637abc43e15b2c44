//! The Web Locks API (`navigator.locks`): one lock shared by every tab and worker of an origin.
//!
//! `navigator.locks.request(name, callback)` calls `callback` once the lock is granted and holds
//! the lock until the promise the callback returns settles. Here the callback hands a `release`
//! function back to Rust and returns a promise that only `release` settles; the [`StorageLock`]
//! calls it when dropped. Called through `js_sys::Reflect` rather than `web-sys`'s bindings,
//! which are still behind `--cfg=web_sys_unstable_apis`.
//!
//! A request that is dropped before the lock is granted aborts itself (an `AbortSignal`) and
//! releases a grant that arrives anyway; if the grant arrived but the future was dropped before
//! taking it, the waiting `release` is called — so an abandoned request never keeps the lock
//! from the other tabs.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::storage::{LockFuture, StorageLock};

/// Calls `release` when dropped: the lock goes back to the other tabs.
struct Held(Function);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::NULL);
    }
}

/// Withdraws a request that has not been taken yet when dropped.
struct Pending {
    controller: Option<web_sys::AbortController>,
    abandoned: Rc<Cell<bool>>,
    /// Settles with the `release` function once the lock is granted.
    grant: Promise,
    taken: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        // Not granted yet: the grant callback sees the flag and releases at once; the abort
        // withdraws the request from the queue.
        self.abandoned.set(true);
        if let Some(c) = &self.controller {
            c.abort();
        }
        // Granted, but this future was dropped before it took the grant (the two crossed): the
        // `release` function waits in `grant` — call it.
        let release_unclaimed = Closure::once_into_js(|release: JsValue| {
            if let Ok(release) = release.dyn_into::<Function>() {
                let _ = release.call0(&JsValue::NULL);
            }
        });
        if let Ok(then) = Reflect::get(&self.grant, &"then".into())
            .and_then(|t| t.dyn_into::<Function>().map_err(JsValue::from))
        {
            let _ = then.call1(&self.grant, &release_unclaimed);
        }
    }
}

fn locks() -> Option<(JsValue, Function)> {
    let window = web_sys::window()?;
    let locks = Reflect::get(&window.navigator(), &"locks".into()).ok()?;
    if locks.is_undefined() || locks.is_null() {
        return None;
    }
    let request = Reflect::get(&locks, &"request".into())
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    Some((locks, request))
}

/// Requests the exclusive lock `name`; resolves once it is held. Without Web Locks (older
/// browsers, some embedded views) it resolves at once with no lock held.
pub(crate) fn request(name: &'static str) -> LockFuture {
    let Some((locks, request)) = locks() else {
        return Box::pin(std::future::ready(StorageLock::none()));
    };
    let abandoned = Rc::new(Cell::new(false));
    let controller = web_sys::AbortController::new().ok();
    // Settled with the `release` function once the lock is granted.
    let granted = Promise::new(&mut |resolve_granted: Function, _reject: Function| {
        let abandoned = abandoned.clone();
        let on_failure = resolve_granted.clone();
        let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
            // Settling `held` releases the lock.
            let held = Promise::new(&mut |release: Function, _reject: Function| {
                if abandoned.get() {
                    let _ = release.call0(&JsValue::NULL);
                } else {
                    let _ = resolve_granted.call1(&JsValue::NULL, &release);
                }
            });
            held.into()
        });
        let options = Object::new();
        if let Some(c) = &controller {
            let _ = Reflect::set(&options, &"signal".into(), &c.signal());
        }
        // A request the browser refuses (an abort, a sandboxed document) rejects its promise:
        // then there is no lock to wait for — resolve with nothing.
        let refused = Closure::once_into_js(move |_: JsValue| {
            let _ = on_failure.call0(&JsValue::NULL);
        });
        match request.call3(&locks, &name.into(), &options, &callback) {
            Ok(p) => {
                if let Ok(catch) = Reflect::get(&p, &"catch".into())
                    .and_then(|c| c.dyn_into::<Function>().map_err(JsValue::from))
                {
                    let _ = catch.call1(&p, &refused);
                }
            }
            Err(_) => {
                let _ = refused.unchecked_ref::<Function>().call0(&JsValue::NULL);
            }
        }
    });
    let pending = Pending {
        controller,
        abandoned,
        grant: granted.clone(),
        taken: false,
    };
    Box::pin(async move {
        // The whole guard moves in (not just the field assigned below), so it is dropped with
        // this future: when the future is dropped before taking the grant, it is withdrawn.
        let mut pending = pending;
        let release = JsFuture::from(granted).await;
        pending.taken = true;
        match release.ok().and_then(|r| r.dyn_into::<Function>().ok()) {
            Some(release) => StorageLock::new(Held(release)),
            None => StorageLock::none(),
        }
    })
}
