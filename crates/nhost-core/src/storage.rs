//! Where the session survives a reload, and how clients sharing it take turns changing it.
//!
//! The whole session is stored as one JSON value under `nhostSession` (the key of the current
//! `@nhost/nhost-js`), so that a tab that finds a session another tab refreshed can use it without
//! a request. The older nhost-js keys (`nhostRefreshToken`, …) are still read, so pages moving
//! from either nhost-js version keep their users signed in.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::platform::{MaybeSend, MaybeSendSync};
use crate::session::{AccessToken, RefreshToken, Session, User, decode_access_token};

/// The key of the whole session (JSON), as the current `@nhost/nhost-js` names it.
pub const SESSION_KEY: &str = "nhostSession";
/// The older nhost-js key of the refresh token (read, never written).
pub const REFRESH_TOKEN_KEY: &str = "nhostRefreshToken";
/// The older nhost-js key of the refresh token's id (read, never written).
pub const REFRESH_TOKEN_ID_KEY: &str = "nhostRefreshTokenId";
/// The older nhost-js key of the **access** token's expiry, an ISO 8601 string (removed when a
/// session is written).
pub const REFRESH_TOKEN_EXPIRES_AT_KEY: &str = "nhostRefreshTokenExpiresAt";

/// A string key-value store for the session, shared by every client that should hold the same
/// session (the tabs of one origin share `localStorage`).
///
/// Implementations must not fail loudly: a store that cannot write (a full or disabled
/// `localStorage`) simply does not persist.
pub trait SessionStorage: MaybeSendSync {
    /// Reads a value.
    fn get(&self, key: &str) -> Option<String>;
    /// Writes a value.
    fn set(&self, key: &str, value: &str);
    /// Deletes a value.
    fn remove(&self, key: &str);
    /// Waits until the caller alone may change the stored session, among every client sharing
    /// this store, and holds that right until the returned [`StorageLock`] is dropped.
    ///
    /// Clients take it around every refresh, sign-in and sign-out, and re-read the store inside
    /// it: that is what keeps two tabs from sending one refresh token twice. The default takes no
    /// lock (a store only one client uses needs none); clients stay safe without it, only less
    /// economical (a lost race is recovered by re-reading the store, see the crate README).
    fn lock(&self) -> LockFuture {
        Box::pin(std::future::ready(StorageLock::none()))
    }
}

/// What [`SessionStorage::lock`] returns.
#[cfg(not(target_arch = "wasm32"))]
pub type LockFuture = Pin<Box<dyn Future<Output = StorageLock> + Send>>;
/// What [`SessionStorage::lock`] returns.
#[cfg(target_arch = "wasm32")]
pub type LockFuture = Pin<Box<dyn Future<Output = StorageLock>>>;

#[cfg(not(target_arch = "wasm32"))]
type Guard = Box<dyn Any + Send>;
#[cfg(target_arch = "wasm32")]
type Guard = Box<dyn Any>;

/// Holds a [`SessionStorage::lock`]; dropping it releases the lock.
#[must_use = "the lock is released when this is dropped"]
pub struct StorageLock(Option<Guard>);

impl StorageLock {
    /// A lock that holds nothing (stores that need no lock).
    pub fn none() -> Self {
        StorageLock(None)
    }
    /// A lock released when `guard` is dropped.
    pub fn new(guard: impl Any + MaybeSend) -> Self {
        StorageLock(Some(Box::new(guard)))
    }
    /// Whether a lock is really held.
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for StorageLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageLock")
            .field("held", &self.is_held())
            .finish()
    }
}

/// Keeps the session in memory: gone with the process. The default on native. Clients built
/// with one shared `MemoryStorage` (see [`crate::NhostClientBuilder::shared_storage`]) behave
/// like the tabs of one browser: they take turns through its lock.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    values: Mutex<HashMap<String, String>>,
    lock: Arc<futures_util::lock::Mutex<()>>,
}

impl SessionStorage for MemoryStorage {
    fn get(&self, key: &str) -> Option<String> {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }
    fn set(&self, key: &str, value: &str) {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), value.to_owned());
    }
    fn remove(&self, key: &str) {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
    fn lock(&self) -> LockFuture {
        let lock = self.lock.clone();
        Box::pin(async move { StorageLock::new(lock.lock_owned().await) })
    }
}

/// The browser's `localStorage` (the default on wasm32), locked with the Web Locks API
/// (`navigator.locks`) where the browser has it. Outside a browser window, or when storage is
/// disabled, it stores nothing.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalStorage;

#[cfg(target_arch = "wasm32")]
impl LocalStorage {
    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }
}

#[cfg(target_arch = "wasm32")]
impl SessionStorage for LocalStorage {
    fn get(&self, key: &str) -> Option<String> {
        Self::storage()?.get_item(key).ok()?
    }
    fn set(&self, key: &str, value: &str) {
        if let Some(s) = Self::storage() {
            let _ = s.set_item(key, value);
        }
    }
    fn remove(&self, key: &str) {
        if let Some(s) = Self::storage() {
            let _ = s.remove_item(key);
        }
    }
    fn lock(&self) -> LockFuture {
        crate::web_lock::request(WEB_LOCK_NAME)
    }
}

/// The Web Lock every client of an origin takes around changing the stored session.
#[cfg(target_arch = "wasm32")]
pub const WEB_LOCK_NAME: &str = "nhost-rs:session";

/// What a store holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stored {
    /// A whole session (`nhostSession`), boxed: it is much larger than a token.
    Session(Box<Session>),
    /// Only a refresh token (the older nhost-js keys, or a session value that cannot be read
    /// but still carries its refresh token).
    Token(RefreshToken),
}

impl Stored {
    pub(crate) fn refresh_token(&self) -> &RefreshToken {
        match self {
            Stored::Session(s) => &s.refresh_token,
            Stored::Token(t) => t,
        }
    }
}

/// Writes a session: one JSON value under [`SESSION_KEY`]; the older keys are removed so no
/// stale token lingers under them.
pub(crate) fn persist(storage: &dyn SessionStorage, session: &Session) {
    storage.set(SESSION_KEY, &encode_session(session));
    for key in [
        REFRESH_TOKEN_KEY,
        REFRESH_TOKEN_ID_KEY,
        REFRESH_TOKEN_EXPIRES_AT_KEY,
    ] {
        storage.remove(key);
    }
}

/// Removes the stored session.
pub(crate) fn clear(storage: &dyn SessionStorage) {
    for key in [
        SESSION_KEY,
        REFRESH_TOKEN_KEY,
        REFRESH_TOKEN_ID_KEY,
        REFRESH_TOKEN_EXPIRES_AT_KEY,
    ] {
        storage.remove(key);
    }
}

/// What the store holds, read leniently: a session under [`SESSION_KEY`] (ours, or the current
/// nhost-js's), else a refresh token under the older key. Tokens are cleaned of what other code
/// may have wrapped them in (whitespace, JSON quotes).
pub(crate) fn load(storage: &dyn SessionStorage, namespace: &str, now: u64) -> Option<Stored> {
    if let Some(text) = storage.get(SESSION_KEY) {
        let value = parse(&text);
        if let Some(session) = value
            .as_ref()
            .and_then(|v| session_from_value(v, namespace, now))
        {
            return Some(Stored::Session(Box::new(session)));
        }
        // A value we cannot read as a session may still carry the one thing that matters.
        if let Some(token) = value
            .as_ref()
            .and_then(|v| v.get("refreshToken"))
            .and_then(Value::as_str)
            .and_then(clean_token)
        {
            return Some(Stored::Token(token));
        }
    }
    storage
        .get(REFRESH_TOKEN_KEY)
        .as_deref()
        .and_then(clean_token)
        .map(Stored::Token)
}

/// A stored refresh token without what careless code wraps around it: surrounding whitespace and
/// JSON quotes (`"\"…\""`, what `JSON.stringify` of a string writes). `None` when nothing usable
/// is left.
pub(crate) fn clean_token(raw: &str) -> Option<RefreshToken> {
    let mut token = raw.trim();
    while token.len() >= 2 && token.starts_with('"') && token.ends_with('"') {
        token = token[1..token.len() - 1].trim();
    }
    let usable = !token.is_empty()
        && token.len() <= 512
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"');
    usable.then(|| RefreshToken::new(token))
}

/// A session as we write it (`accessTokenExpiresAt` on this client's clock) or as the current
/// nhost-js writes it (no `accessTokenExpiresAt`: the token's `exp` is used). Only the two tokens
/// are required; a user that cannot be read is left out rather than losing the session.
fn session_from_value(v: &Value, namespace: &str, now: u64) -> Option<Session> {
    let access_token = v.get("accessToken")?.as_str()?.to_owned();
    let refresh_token = clean_token(v.get("refreshToken")?.as_str()?)?;
    let decoded = decode_access_token(&access_token, namespace);
    let expires_in = v.get("accessTokenExpiresIn").and_then(Value::as_u64);
    let expires_at = v
        .get("accessTokenExpiresAt")
        .and_then(Value::as_u64)
        .or_else(|| {
            v.get("decodedToken")
                .and_then(|d| d.get("exp"))
                .and_then(Value::as_u64)
        })
        .or_else(|| decoded.as_ref().and_then(|d| d.exp))
        // Nothing says when it expires: treat it as expired, so it is refreshed first.
        .unwrap_or(now);
    Some(Session {
        access_token: AccessToken::new(access_token),
        access_token_expires_in: expires_in.unwrap_or_else(|| expires_at.saturating_sub(now)),
        access_token_expires_at: expires_at,
        refresh_token,
        refresh_token_id: v
            .get("refreshTokenId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        user: v.get("user").and_then(user_from_value),
        claims: decoded.map(|d| d.claims),
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn user_from_value(v: &Value) -> Option<User> {
    serde_json::from_value(v.clone()).ok()
}

#[cfg(target_arch = "wasm32")]
fn user_from_value(v: &Value) -> Option<User> {
    crate::json::FromJson::from_json(v).ok()
}

#[cfg(not(target_arch = "wasm32"))]
fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

#[cfg(target_arch = "wasm32")]
fn parse(text: &str) -> Option<Value> {
    crate::js::parse(text).ok()
}

#[cfg(not(target_arch = "wasm32"))]
fn encode_session(session: &Session) -> String {
    serde_json::to_string(session).unwrap_or_default()
}

#[cfg(target_arch = "wasm32")]
fn encode_session(session: &Session) -> String {
    crate::js::stringify(&crate::json::ToJson::to_json(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_storage_round_trips() {
        let s = MemoryStorage::default();
        assert_eq!(s.get("k"), None);
        s.set("k", "v");
        assert_eq!(s.get("k").as_deref(), Some("v"));
        s.remove("k");
        assert_eq!(s.get("k"), None);
    }
}
