//! The session cookie: what it carries, how it is sealed, its attributes and its size.
//!
//! The value is the session as JSON (access token, its expiry, refresh token, refresh-token id,
//! the decoded claims and — when it fits — the user), sealed with AES-256-GCM under the
//! application's [`Key`] by `tower-cookies`' private jar, with the cookie name as associated data.
//! A browser can neither read it nor change a single bit of it without the seal failing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::HeaderMap;
use nhost_core::Session;
use tower_cookies::cookie::{Cookie, CookieJar, SameSite};
use tower_cookies::{Cookies, Key};

/// How many opened cookies are remembered (then the memory starts afresh).
const OPENED_CAPACITY: usize = 4096;

/// Browsers keep at most 4096 bytes of `name=value` per cookie.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// When the cookie carries the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecureCookie {
    /// `Secure`, except when the request's `Host` is `localhost`, `127.0.0.1` or `[::1]` (plain-HTTP
    /// development). The default.
    #[default]
    ExceptLocalhost,
    /// Always `Secure`.
    Always,
    /// Never `Secure` (plain HTTP beyond localhost — not recommended).
    Never,
}

impl SecureCookie {
    pub(crate) fn applies(self, host: Option<&str>) -> bool {
        match self {
            SecureCookie::Always => true,
            SecureCookie::Never => false,
            SecureCookie::ExceptLocalhost => !host.is_some_and(is_localhost),
        }
    }
}

fn is_localhost(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1") || name.ends_with(".localhost")
}

/// How the session cookie is named, sealed and scoped.
pub(crate) struct CookieSettings {
    pub(crate) name: String,
    pub(crate) key: Key,
    pub(crate) secure: SecureCookie,
    pub(crate) max_age: Duration,
    /// Sealed values already opened, by their exact bytes: a browser sends the same cookie on
    /// every request until it changes, and opening (AES-GCM + JSON) is most of the layer's cost.
    /// Only values that opened are kept, so a hit is exactly as authentic as a fresh open.
    pub(crate) opened: Mutex<HashMap<Box<str>, Arc<Session>, foldhash::fast::RandomState>>,
}

/// What the request's cookie held.
pub(crate) enum Incoming {
    /// No session cookie.
    Missing,
    /// A cookie that does not open with our key or does not hold a session.
    Unreadable,
    /// A session we sealed.
    Session(Arc<Session>),
}

impl CookieSettings {
    /// Reads and opens the session cookie from the request's `Cookie` headers. When several
    /// cookies carry the name, the first one that opens wins.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Incoming {
        let mut seen = false;
        let values = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.name)
            .map(|(_, value)| value.trim_matches('"'));
        for value in values {
            seen = true;
            if let Some(session) = self.open(value) {
                return Incoming::Session(session);
            }
        }
        if seen {
            Incoming::Unreadable
        } else {
            Incoming::Missing
        }
    }

    fn open(&self, value: &str) -> Option<Arc<Session>> {
        if value.is_empty() || value.len() > MAX_COOKIE_BYTES {
            return None;
        }
        if let Some(hit) = self.opened_map().get(value) {
            return Some(hit.clone());
        }
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.name.clone(), value.to_owned()));
        let opened = jar.private(&self.key).get(&self.name)?;
        let session = Arc::new(serde_json::from_str::<Session>(opened.value()).ok()?);
        let mut map = self.opened_map();
        if map.len() >= OPENED_CAPACITY {
            map.clear();
        }
        map.insert(value.into(), session.clone());
        Some(session)
    }

    fn opened_map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<Session>, foldhash::fast::RandomState>>
    {
        self.opened.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seals `session` into a cookie value of at most [`MAX_COOKIE_BYTES`] with the name: the
    /// whole session when it fits, else without the user's metadata, else without the user (the
    /// access token's claims still carry id, roles and `is-anonymous`). `None` when even that does
    /// not fit (an access token of several kilobytes).
    pub(crate) fn seal(&self, session: &Session) -> Option<String> {
        let mut session = session.clone();
        for step in 0..3 {
            match step {
                0 => {}
                1 => match session.user.as_mut() {
                    Some(user) if !user.metadata.is_null() => {
                        user.metadata = serde_json::Value::Null
                    }
                    _ => continue,
                },
                _ => session.user = None,
            }
            let json = serde_json::to_string(&session).ok()?;
            if self.name.len() + 1 + sealed_len(json.len()) > MAX_COOKIE_BYTES {
                continue;
            }
            let mut jar = CookieJar::new();
            jar.private_mut(&self.key)
                .add(Cookie::new(self.name.clone(), json));
            return jar.get(&self.name).map(|c| c.value().to_owned());
        }
        None
    }

    /// Sets the cookie to an already sealed value.
    pub(crate) fn set(&self, cookies: &Cookies, sealed: String, host: Option<&str>) {
        let max_age = tower_cookies::cookie::time::Duration::seconds(
            i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
        );
        let cookie = Cookie::build((self.name.clone(), sealed))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure.applies(host))
            .max_age(max_age)
            .build();
        cookies.add(cookie);
    }

    /// Clears the cookie (`Max-Age=0`, same scope).
    pub(crate) fn clear(&self, cookies: &Cookies, host: Option<&str>) {
        let cookie = Cookie::build((self.name.clone(), ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure.applies(host))
            .build();
        cookies.remove(cookie);
    }
}

/// Length of the private jar's value for a plaintext of `n` bytes: base64 of nonce (12) +
/// ciphertext (n) + tag (16).
fn sealed_len(n: usize) -> usize {
    (n + 28).div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_detection() {
        for host in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:8080",
            "[::1]:3000",
            "app.localhost",
        ] {
            assert!(!SecureCookie::ExceptLocalhost.applies(Some(host)), "{host}");
        }
        for host in [
            "example.com",
            "example.com:443",
            "10.0.0.1",
            "localhost.evil.com",
        ] {
            assert!(SecureCookie::ExceptLocalhost.applies(Some(host)), "{host}");
        }
        assert!(SecureCookie::ExceptLocalhost.applies(None));
        assert!(SecureCookie::Always.applies(Some("localhost")));
        assert!(!SecureCookie::Never.applies(Some("example.com")));
    }

    #[test]
    fn sealed_length_formula_matches_the_jar() {
        let key = Key::generate();
        for n in [0, 1, 2, 3, 100, 1000, 2999] {
            let mut jar = CookieJar::new();
            jar.private_mut(&key).add(Cookie::new("c", "x".repeat(n)));
            let value = jar.get("c").map(|c| c.value().len());
            assert_eq!(value, Some(sealed_len(n)), "{n}");
        }
    }
}
