//! Where the refresh token survives a reload: a key-value store, like nhost-js's `clientStorage`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::platform::MaybeSendSync;
use crate::session::{RefreshToken, Session};

/// nhost-js's key for the refresh token.
pub const REFRESH_TOKEN_KEY: &str = "nhostRefreshToken";
/// nhost-js's key for the refresh token's id.
pub const REFRESH_TOKEN_ID_KEY: &str = "nhostRefreshTokenId";
/// nhost-js's key for the **access** token's expiry, as an ISO 8601 string (the name is historical).
pub const REFRESH_TOKEN_EXPIRES_AT_KEY: &str = "nhostRefreshTokenExpiresAt";

/// A string key-value store for the session, with the same keys nhost-js uses, so a page that
/// moves from nhost-js to this crate keeps its users signed in.
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
}

/// Keeps the session in memory: gone with the process. The default on native.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    values: Mutex<HashMap<String, String>>,
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
}

/// The browser's `localStorage` (the default on wasm32). Outside a browser window, or when
/// storage is disabled, it stores nothing.
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
}

/// Writes a session under the nhost-js keys.
pub(crate) fn persist(storage: &dyn SessionStorage, session: &Session) {
    storage.set(REFRESH_TOKEN_KEY, session.refresh_token.expose());
    storage.set(REFRESH_TOKEN_ID_KEY, &session.refresh_token_id);
    storage.set(
        REFRESH_TOKEN_EXPIRES_AT_KEY,
        &iso8601(session.access_token_expires_at),
    );
}

/// Removes the stored session.
pub(crate) fn clear(storage: &dyn SessionStorage) {
    for key in [
        REFRESH_TOKEN_KEY,
        REFRESH_TOKEN_ID_KEY,
        REFRESH_TOKEN_EXPIRES_AT_KEY,
    ] {
        storage.remove(key);
    }
}

/// The stored refresh token, if any.
pub(crate) fn stored_refresh_token(storage: &dyn SessionStorage) -> Option<RefreshToken> {
    storage
        .get(REFRESH_TOKEN_KEY)
        .filter(|t| !t.trim().is_empty())
        .map(RefreshToken::new)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS.000Z`, the format JavaScript's `Date.toISOString` writes.
pub(crate) fn iso8601(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        for (unix, iso) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (1_795_797_543, "2026-11-27T16:39:03.000Z"),
            (4_102_444_799, "2099-12-31T23:59:59.000Z"),
        ] {
            assert_eq!(iso8601(unix), iso);
        }
    }

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
