//! The session cookie: what it carries, how it is sealed, its attributes and its size.
//!
//! The value is the session as JSON (access token, its expiry, refresh token, refresh-token id,
//! the decoded claims and — when it fits — the user), sealed with AES-256-GCM under the
//! application's [`Key`] by `tower-cookies`' private jar, with the cookie name as associated data.
//! A browser can neither read it nor change a single bit of it without the seal failing.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use nhost_core::Session;
use tower_cookies::cookie::{Cookie, CookieJar, SameSite};
use tower_cookies::{Cookies, Key};

/// How many opened cookies are remembered.
pub(crate) const OPENED_CAPACITY: usize = 4096;

/// Browsers keep at most 4096 bytes of `name=value` per cookie.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// The prefix of the cookie's name whenever it is `Secure`: browsers accept a `__Host-` cookie
/// only from a secure origin, with `Secure`, `Path=/` and no `Domain` — so a sibling subdomain,
/// or a plain-HTTP page of the same host, cannot plant or shadow it.
pub(crate) const HOST_PREFIX: &str = "__Host-";

/// Whether the session cookie is `Secure` (and `__Host-`-prefixed): decided by configuration,
/// never by the request's `Host` header — a reverse proxy that rewrites `Host` to
/// `127.0.0.1:3000` (nginx's default `proxy_pass`) must not strip `Secure` from production
/// cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecureCookie {
    /// The site is served over HTTPS (the default): the cookie is `Secure` and named
    /// `__Host-<name>`.
    #[default]
    Always,
    /// The scheme a trusted reverse proxy reports, per request: the cookie is plain
    /// (`<name>`, no `Secure`) only when every `X-Forwarded-Proto` value and every
    /// `Forwarded: proto=` says `http`; otherwise — `https`, or no such header — as
    /// [`Always`](Self::Always). Use it only when every request reaches the site through a
    /// proxy that sets these headers itself (a client can send them too).
    FromTrustedProxy,
    /// Plain-HTTP development (`http://localhost`): no `Secure`, no prefix. An explicit
    /// opt-in, warned about when the layer is built; never for a site others reach.
    PlainHttpDevelopment,
}

impl SecureCookie {
    /// Whether a request counts as served over HTTPS under this setting — what decides the
    /// cookie's `Secure` attribute and `__Host-` prefix, and what an application's own
    /// same-origin check should take as the site's scheme.
    pub fn is_https(self, headers: &HeaderMap) -> bool {
        match self {
            SecureCookie::Always => true,
            SecureCookie::PlainHttpDevelopment => false,
            SecureCookie::FromTrustedProxy => !forwarded_protos_all_http(headers),
        }
    }
}

/// True when the request carries forwarded-scheme headers and every value in them is `http`.
/// Any `https`, or anything unreadable, counts as HTTPS: the safe side.
fn forwarded_protos_all_http(headers: &HeaderMap) -> bool {
    let mut seen = false;
    for value in headers.get_all("x-forwarded-proto") {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for proto in value.split(',') {
            seen = true;
            if !proto.trim().eq_ignore_ascii_case("http") {
                return false;
            }
        }
    }
    for value in headers.get_all(http::header::FORWARDED) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        let params = value.split([',', ';']).filter_map(|p| p.split_once('='));
        for (name, proto) in params {
            if name.trim().eq_ignore_ascii_case("proto") {
                seen = true;
                if !proto.trim().trim_matches('"').eq_ignore_ascii_case("http") {
                    return false;
                }
            }
        }
    }
    seen
}

/// How the session cookie is named, sealed and scoped.
pub(crate) struct CookieSettings {
    /// The configured name: the associated data of the seal, and the cookie's name on plain HTTP.
    pub(crate) name: String,
    /// `__Host-` + `name`: the cookie's name whenever it is `Secure`. The sealed value is the
    /// same under both names, so one refresh outcome serves requests of either scheme.
    pub(crate) secure_name: String,
    pub(crate) key: Key,
    pub(crate) secure: SecureCookie,
    pub(crate) max_age: Duration,
    /// The PKCE verifier cookie's names: [`name`](Self::name) + `Pkce` (the seal's associated
    /// data and the plain-HTTP name) and [`secure_name`](Self::secure_name) + `Pkce`.
    verifier_name: String,
    secure_verifier_name: String,
    /// Sealed values already opened, by their exact bytes: a browser sends the same cookie on
    /// every request until it changes, and opening (AES-GCM + JSON) is most of the layer's cost.
    /// Only values that opened are kept, so a hit is exactly as authentic as a fresh open.
    /// `quick_cache`'s S3-FIFO policy admits new values on probation: a flood of cookies seen
    /// once (a script minting anonymous sessions) evicts itself, not the regular visitors.
    pub(crate) opened: quick_cache::sync::Cache<SealedValue, Opened>,
}

/// An opened cookie as the memory keeps it: its session, and the length of its sealed value
/// (the scan finds a remembered value where it starts, and goes on where it ends).
#[derive(Clone)]
pub(crate) struct Opened {
    session: Arc<Session>,
    len: usize,
}

/// A sealed cookie value, the key of the opened-cookie memory. It is hashed by its first
/// [`HASHED_PREFIX`] bytes only, and compared whole: the prefix is the base64 of the seal's
/// random 96-bit nonce and the first ciphertext bytes, so values the layer sealed differ there
/// already, and hashing 1.5 KB on every request cost more than the rest of the lookup. Only
/// values that opened are inserted — sealed by this application's key, under nonces nobody
/// chooses — so nobody can fill a bucket with colliding entries; a request that presents a
/// colliding value costs one more comparison. The length is not hashed: the scan looks a value
/// up where it starts, before it knows where it ends ([`ValueAt`]).
#[derive(PartialEq, Eq)]
pub(crate) struct SealedValue(Box<[u8]>);

/// How many leading bytes of a sealed value its hash covers: the base64 of the 12-byte nonce is
/// the first 16.
const HASHED_PREFIX: usize = 32;

/// The hash of a sealed value, owned or borrowed alike, or of the bytes that start with one.
fn hash_sealed<H: std::hash::Hasher>(value: &[u8], state: &mut H) {
    state.write(&value[..value.len().min(HASHED_PREFIX)]);
}

impl std::hash::Hash for SealedValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_sealed(&self.0, state);
    }
}

/// A sealed value as the request carries it: looks up a [`SealedValue`] without copying it.
#[derive(Clone, Copy)]
struct SealedRef<'a>(&'a [u8]);

impl std::hash::Hash for SealedRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_sealed(self.0, state);
    }
}

impl quick_cache::Equivalent<SealedValue> for SealedRef<'_> {
    fn equivalent(&self, key: &SealedValue) -> bool {
        *self.0 == *key.0
    }
}

/// The rest of a `Cookie` header from where a cookie's value starts: it is a remembered value
/// when it starts with one that is followed by the end of the pair — `;` or the end of the
/// header — so that the scan need not search the value's 1.5 KB for its end. A remembered
/// value opened, so it is base64 (no `;`, `"` or whitespace): read by the pair parser
/// ([`cookie_pair`]), the pair would give exactly that value.
#[derive(Clone, Copy)]
struct ValueAt<'a>(&'a [u8]);

impl std::hash::Hash for ValueAt<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_sealed(self.0, state);
    }
}

impl quick_cache::Equivalent<SealedValue> for ValueAt<'_> {
    fn equivalent(&self, key: &SealedValue) -> bool {
        // A value shorter than the hashed prefix hashes differently anyway: looked up the
        // usual way, after the pair parser (sealed values are far longer).
        key.0.len() >= HASHED_PREFIX
            && self.0.starts_with(&key.0)
            && self.0.get(key.0.len()).is_none_or(|&b| b == b';')
    }
}

/// What a request's `Cookie` headers hold under one of the layer's cookie names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    /// No cookie of that name.
    Missing,
    /// One value (possibly sent several times).
    One(&'a [u8]),
    /// Several different values (one planted on a longer `Path`, say).
    Ambiguous,
}

impl<'a> Found<'a> {
    fn add(&mut self, value: &'a [u8]) {
        *self = match *self {
            Found::Missing => Found::One(value),
            Found::One(first) if first == value => Found::One(first),
            _ => Found::Ambiguous,
        };
    }
}

/// The layer's two cookies in a request — the session and the PKCE verifier — read from its
/// `Cookie` headers in one pass.
#[derive(Clone)]
pub(crate) struct RequestCookies<'a> {
    pub(crate) session: Found<'a>,
    pub(crate) verifier: Found<'a>,
    /// The session of the session cookie's value, when the scan found that value among the
    /// opened ones (for [`CookieSettings::read`]).
    pub(crate) remembered: Option<Arc<Session>>,
}

/// What the request's cookie held.
pub(crate) enum Incoming {
    /// No session cookie.
    Missing,
    /// A cookie that does not open with our key or does not hold a session.
    Unreadable,
    /// Several different session cookies (one planted on a longer `Path`, say): none is used.
    Ambiguous,
    /// A session we sealed.
    Session(Arc<Session>),
}

impl CookieSettings {
    pub(crate) fn new(name: String, key: Key, secure: SecureCookie, max_age: Duration) -> Self {
        CookieSettings {
            secure_name: format!("{HOST_PREFIX}{name}"),
            verifier_name: format!("{name}Pkce"),
            secure_verifier_name: format!("{HOST_PREFIX}{name}Pkce"),
            name,
            key,
            secure,
            max_age,
            opened: quick_cache::sync::Cache::new(OPENED_CAPACITY),
        }
    }

    /// The cookie's name on a request served over HTTPS or not.
    pub(crate) fn wire_name(&self, https: bool) -> &str {
        if https { &self.secure_name } else { &self.name }
    }

    /// The session and verifier cookies of a request served over HTTPS or not, from its `Cookie`
    /// headers: one pass over their bytes, whatever else they hold (another cookie's non-ASCII
    /// value hides nothing). A session cookie whose value is among the opened ones is found
    /// there where its value starts, and the pass goes on after it: its 1.5 KB are compared
    /// once, not also searched for a `;`.
    pub(crate) fn scan<'a>(&self, headers: &'a HeaderMap, https: bool) -> RequestCookies<'a> {
        self.scan_with(headers, https, true)
    }

    /// [`scan`](Self::scan); `remember: false` reads every pair with the pair parser alone (what
    /// the tests hold the shortcut to).
    fn scan_with<'a>(
        &self,
        headers: &'a HeaderMap,
        https: bool,
        remember: bool,
    ) -> RequestCookies<'a> {
        let session = self.wire_name(https).as_bytes();
        let verifier = if https {
            &self.secure_verifier_name
        } else {
            &self.verifier_name
        }
        .as_bytes();
        let mut found = RequestCookies {
            session: Found::Missing,
            verifier: Found::Missing,
            remembered: None,
        };
        for header in headers.get_all(http::header::COOKIE) {
            let header = header.as_bytes();
            let mut start = 0;
            loop {
                // The shortcut: `<session>=` then a remembered value, then `;` or the end.
                let pair = start
                    + header[start..]
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                let end = if remember
                    && let Some(rest) = header[pair..].strip_prefix(session)
                    && let Some(value) = rest.strip_prefix(b"=")
                    && let Some(opened) = self.opened.get(&ValueAt(value))
                {
                    found.session.add(&value[..opened.len]);
                    found.remembered.get_or_insert(opened.session);
                    header.len() - value.len() + opened.len
                } else {
                    let end =
                        memchr::memchr(b';', &header[start..]).map_or(header.len(), |i| start + i);
                    if let Some((name, value)) = cookie_pair(&header[start..end]) {
                        if name == session {
                            found.session.add(value);
                        } else if name == verifier {
                            found.verifier.add(value);
                        }
                    }
                    end
                };
                if end == header.len() {
                    break;
                }
                start = end + 1;
            }
        }
        found
    }

    /// Opens the session cookie the request carries (`remembered`: its session, when the scan
    /// found its value among the opened ones). Several cookies with the name and *different*
    /// values (a browser sends the one with the longest `Path` first, so a planted cookie would
    /// win) are refused: no session, and nothing is written — clearing ours would hand the
    /// request to the planted one.
    pub(crate) fn read(&self, found: Found<'_>, remembered: Option<Arc<Session>>) -> Incoming {
        match found {
            Found::Missing => Incoming::Missing,
            Found::Ambiguous => Incoming::Ambiguous,
            Found::One(value) => match remembered {
                Some(session) => Incoming::Session(session),
                None => self
                    .open(value)
                    .map_or(Incoming::Unreadable, Incoming::Session),
            },
        }
    }

    fn open(&self, value: impl AsRef<[u8]>) -> Option<Arc<Session>> {
        let value = value.as_ref();
        if value.is_empty() || value.len() > MAX_COOKIE_BYTES {
            return None;
        }
        if let Some(hit) = self.opened.get(&SealedRef(value)) {
            return Some(hit.session);
        }
        let text = std::str::from_utf8(value).ok()?;
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.name.clone(), text.to_owned()));
        let opened = jar.private(&self.key).get(&self.name)?;
        let session = Arc::new(serde_json::from_str::<Session>(opened.value()).ok()?);
        let opened = Opened {
            session: session.clone(),
            len: value.len(),
        };
        self.opened.insert(SealedValue(value.into()), opened);
        Some(session)
    }

    #[cfg(test)]
    fn remembered(&self, value: &str) -> bool {
        self.opened.peek(&SealedRef(value.as_bytes())).is_some()
    }

    #[cfg(test)]
    fn remembered_count(&self) -> usize {
        self.opened.len()
    }

    /// Seals `session` into a cookie value of at most [`MAX_COOKIE_BYTES`] with either name: the
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
            // Counted with the longer of the cookie's two names (`__Host-<name>` whenever it is
            // `Secure`): the sealed value is the same under both, and a browser drops a cookie
            // whose `name=value` is over the limit — losing the session.
            if self.secure_name.len() + 1 + sealed_len(json.len()) > MAX_COOKIE_BYTES {
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
    pub(crate) fn set(&self, cookies: &Cookies, sealed: String, https: bool) {
        let max_age = tower_cookies::cookie::time::Duration::seconds(
            i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
        );
        let cookie = Cookie::build((self.wire_name(https).to_owned(), sealed))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(https)
            .max_age(max_age)
            .build();
        cookies.add(cookie);
    }

    /// Clears the cookie (`Max-Age=0`, same scope).
    pub(crate) fn clear(&self, cookies: &Cookies, https: bool) {
        let cookie = Cookie::build((self.wire_name(https).to_owned(), ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(https)
            .build();
        cookies.remove(cookie);
    }
}

/// The `name=value` pairs of one `Cookie` header, in the order the browser sent them: split at
/// `;`, each read by [`cookie_pair`]. Bytes, not text: a sealed value is ASCII, and it is found
/// by its exact bytes. The `;` are found with `memchr` — the session cookie alone is 1.5–4 KB.
#[cfg(test)]
fn cookie_pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut start = 0;
    memchr::memchr_iter(b';', header)
        .chain(std::iter::once(header.len()))
        .filter_map(move |end| {
            let pair = &header[start..end];
            start = end + 1;
            cookie_pair(pair)
        })
}

/// One `name=value` pair of a `Cookie` header (the bytes between two `;`): surrounding
/// whitespace trimmed, the value's surrounding double quotes dropped; `None` without `=`.
fn cookie_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let pair = pair.trim_ascii();
    let eq = memchr::memchr(b'=', pair)?;
    Some((&pair[..eq], trim_quotes(&pair[eq + 1..])))
}

/// `value` without the double quotes around it (as many as there are, on either side).
fn trim_quotes(mut value: &[u8]) -> &[u8] {
    while let [b'"', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b'"'] = value {
        value = rest;
    }
    value
}

/// How long the PKCE verifier cookie lives: from asking for an email link to following it.
pub(crate) const VERIFIER_MAX_AGE: Duration = Duration::from_secs(3600);

impl CookieSettings {
    /// The PKCE verifier cookie's name: the session cookie's, plus `Pkce` (so `__Host-` on
    /// HTTPS too). A sealed value is bound to its name: it cannot pass for a session cookie.
    fn verifier_name(&self, https: bool) -> &str {
        if https {
            &self.secure_verifier_name
        } else {
            &self.verifier_name
        }
    }

    /// The PKCE verifier the request's cookie holds, when it opens with our key and has the
    /// protocol's shape (43–128 characters of `[A-Za-z0-9-._~]`). Several different ones (one
    /// planted on a longer `Path`): none is used, as for the session cookie.
    pub(crate) fn read_verifier(&self, found: Found<'_>) -> Option<String> {
        let Found::One(value) = found else {
            return None;
        };
        if value.is_empty() || value.len() > 512 {
            return None;
        }
        let value = std::str::from_utf8(value).ok()?;
        let base = self.verifier_name.clone();
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(base.clone(), value.to_owned()));
        let verifier = jar.private(&self.key).get(&base)?.value().to_owned();
        let shaped = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'));
        shaped.then_some(verifier)
    }

    /// Keeps `verifier` in its sealed, `HttpOnly`, `SameSite=Lax` cookie for an hour: the
    /// request the email link leads to is a top-level navigation from elsewhere, which `Lax`
    /// cookies follow.
    pub(crate) fn set_verifier(&self, cookies: &Cookies, verifier: &str, https: bool) {
        let base = self.verifier_name.clone();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(base.clone(), verifier.to_owned()));
        let Some(sealed) = jar.get(&base).map(|c| c.value().to_owned()) else {
            return;
        };
        let cookie = Cookie::build((self.verifier_name(https).to_owned(), sealed))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(https)
            .max_age(tower_cookies::cookie::time::Duration::seconds(
                i64::try_from(VERIFIER_MAX_AGE.as_secs()).unwrap_or(i64::MAX),
            ))
            .build();
        cookies.add(cookie);
    }

    /// Clears the PKCE verifier cookie.
    pub(crate) fn clear_verifier(&self, cookies: &Cookies, https: bool) {
        let cookie = Cookie::build((self.verifier_name(https).to_owned(), ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(https)
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

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn https_comes_from_configuration_and_trusted_proxy_headers_only() {
        let localhost = headers(&[("host", "localhost:3000")]);
        assert!(SecureCookie::Always.is_https(&localhost));
        assert!(
            !SecureCookie::PlainHttpDevelopment
                .is_https(&headers(&[("x-forwarded-proto", "https")]))
        );
        let proxy = SecureCookie::FromTrustedProxy;
        assert!(proxy.is_https(&localhost), "no proxy header: the safe side");
        assert!(!proxy.is_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!proxy.is_https(&headers(&[("x-forwarded-proto", "HTTP, http")])));
        assert!(proxy.is_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(proxy.is_https(&headers(&[("x-forwarded-proto", "http, https")])));
        assert!(!proxy.is_https(&headers(&[("forwarded", "for=1.2.3.4;proto=http")])));
        assert!(proxy.is_https(&headers(&[("forwarded", "proto=http, proto=\"https\"")])));
        assert!(proxy.is_https(&headers(&[
            ("x-forwarded-proto", "http"),
            ("forwarded", "proto=https"),
        ])));
        assert!(proxy.is_https(&headers(&[("x-forwarded-proto", "gopher")])));
    }

    /// The PKCE verifier of a request served over HTTPS with these headers.
    fn verifier_of(settings: &CookieSettings, headers: &HeaderMap) -> Option<String> {
        settings.read_verifier(settings.scan(headers, true).verifier)
    }

    #[test]
    fn the_verifier_cookie_opens_only_with_the_key_and_when_unambiguous() {
        let settings = settings();
        let verifier = "v".repeat(43);
        let cookies = Cookies::default();
        settings.set_verifier(&cookies, &verifier, true);
        let sealed = cookies
            .get("__Host-nhostSessionPkce")
            .expect("set")
            .value()
            .to_owned();
        let one = format!("__Host-nhostSessionPkce={sealed}");
        assert_eq!(
            verifier_of(&settings, &headers(&[("cookie", &one)])),
            Some(verifier.clone())
        );
        // The same value twice is fine; a different second one (planted) makes it unusable.
        let twice = format!("{one}; {one}");
        assert_eq!(
            verifier_of(&settings, &headers(&[("cookie", &twice)])),
            Some(verifier)
        );
        let planted = format!("{one}; __Host-nhostSessionPkce=AAAA");
        assert_eq!(
            verifier_of(&settings, &headers(&[("cookie", &planted)])),
            None
        );
        // Sealed under the session cookie's name: not a verifier.
        let session_sealed = format!(
            "__Host-nhostSessionPkce={}",
            settings.seal(&session()).expect("fits")
        );
        assert_eq!(
            verifier_of(&settings, &headers(&[("cookie", &session_sealed)])),
            None
        );
    }

    /// The one pass over the `Cookie` headers finds each of the layer's cookies under its name
    /// only, in every header, and tells one value (sent once or repeated) from several.
    #[test]
    fn the_scan_finds_both_cookies_in_every_header_and_refuses_two_values() {
        let settings = settings();
        let scan = |pairs: &[(&str, &str)]| {
            let h = headers(pairs);
            let found = settings.scan(&h, true);
            let own = |f: Found<'_>| match f {
                Found::Missing => "missing".to_owned(),
                Found::One(v) => String::from_utf8(v.to_vec()).expect("utf-8"),
                Found::Ambiguous => "ambiguous".to_owned(),
            };
            (own(found.session), own(found.verifier))
        };
        let pair = |session: &str, verifier: &str| (session.to_owned(), verifier.to_owned());
        assert_eq!(scan(&[]), pair("missing", "missing"));
        assert_eq!(
            scan(&[(
                "cookie",
                "a=1; __Host-nhostSession=S; __Host-nhostSessionPkce=V"
            )]),
            pair("S", "V")
        );
        // Surrounding whitespace and double quotes go, as browsers and servers read them.
        assert_eq!(
            scan(&[(
                "cookie",
                " __Host-nhostSession=\"S\" ;\t__Host-nhostSessionPkce=V "
            )]),
            pair("S", "V")
        );
        // The plain-HTTP names, a name with a suffix or a prefix, and `name = value` are other
        // cookies.
        assert_eq!(
            scan(&[(
                "cookie",
                "nhostSession=X; __Host-nhostSessionX=X; x__Host-nhostSession=X; \
                 __Host-nhostSession =X"
            )]),
            pair("missing", "missing")
        );
        // The same value twice — in one header or across two — is that value; two values are
        // refused, wherever the second is.
        assert_eq!(
            scan(&[
                ("cookie", "__Host-nhostSession=S"),
                ("cookie", "__Host-nhostSession=S")
            ]),
            pair("S", "missing")
        );
        assert_eq!(
            scan(&[
                ("cookie", "__Host-nhostSession=S"),
                ("cookie", "__Host-nhostSession=T")
            ]),
            pair("ambiguous", "missing")
        );
        assert_eq!(
            scan(&[(
                "cookie",
                "__Host-nhostSession=S; x=1; __Host-nhostSession=T; y"
            )]),
            pair("ambiguous", "missing")
        );
    }

    /// Another cookie's non-ASCII bytes (browsers send what scripts set, UTF-8 included) no
    /// longer hide the session cookie beside it — they made the whole header unreadable, and
    /// the visitor signed out; a planted second session cookie in such a header is seen too.
    #[test]
    fn a_non_ascii_cookie_beside_ours_hides_nothing() {
        let settings = settings();
        let sealed = settings.seal(&session()).expect("fits");
        let mut bytes = b"theme=\xc3\xa9t\xc3\xa9; __Host-nhostSession=".to_vec();
        bytes.extend_from_slice(sealed.as_bytes());
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(&bytes).expect("obs-text is allowed"),
        );
        let found = settings.scan(&h, true);
        assert_eq!(found.session, Found::One(sealed.as_bytes()));
        assert!(matches!(
            settings.read(found.session, found.remembered),
            Incoming::Session(_)
        ));
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(b"\xff=\xff; __Host-nhostSession=planted")
                .expect("obs-text"),
        );
        assert_eq!(settings.scan(&h, true).session, Found::Ambiguous);
    }

    fn settings() -> CookieSettings {
        CookieSettings::new(
            "nhostSession".into(),
            Key::generate(),
            SecureCookie::Always,
            Duration::from_secs(60),
        )
    }

    fn session() -> Session {
        serde_json::from_value(serde_json::json!({
            "accessToken": "a", "accessTokenExpiresIn": 900,
            "accessTokenExpiresAt": 1, "refreshToken": "r",
            "refreshTokenId": "id", "user": null, "claims": null
        }))
        .expect("session")
    }

    /// Issue 16, item 14: a flood of cookies seen once (a script minting anonymous sessions)
    /// costs only the flood: the cookies of regular visitors stay remembered, and the memory
    /// stays bounded.
    #[test]
    fn a_flood_of_new_cookies_does_not_evict_the_regulars() {
        let settings = settings();
        let session = session();
        let regulars: Vec<String> = (0..300)
            .map(|_| settings.seal(&session).expect("fits"))
            .collect();
        for _ in 0..3 {
            for r in &regulars {
                assert!(settings.open(r).is_some());
            }
        }
        let (mut visits, mut misses) = (0, 0);
        for i in 0..12_000 {
            let flood = settings.seal(&session).expect("fits");
            assert!(settings.open(&flood).is_some());
            if i % 20 == 0 {
                let regular = &regulars[(i / 20) % regulars.len()];
                visits += 1;
                if !settings.remembered(regular) {
                    misses += 1;
                }
                assert!(settings.open(regular).is_some());
            }
        }
        assert!(
            misses * 100 <= visits,
            "{misses} of {visits} regular visits missed the memory"
        );
        assert!(settings.remembered_count() <= OPENED_CAPACITY);
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

    /// Property tests (issue 13): seal/open round trip for any session up to the 4 KB rule.
    ///
    /// Sessions with arbitrary Unicode in every user field, nested JSON metadata and tokens of
    /// up to several kilobytes, so that every outcome of [`CookieSettings::seal`] is common:
    /// the whole session, the user without metadata, no user, nothing. Each property runs
    /// [`CASES`] sessions (a few seconds in a debug build); `PROPTEST_CASES=…` runs longer. A
    /// failure prints the shrunk session and saves its seed under `proptest-regressions/`
    /// (committed: it is replayed first on every later run).
    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Value, json};

        /// Sessions per property in a normal test run.
        const CASES: u32 = 256;

        fn config() -> ProptestConfig {
            if std::env::var_os("PROPTEST_CASES").is_some() {
                ProptestConfig::default()
            } else {
                ProptestConfig::with_cases(CASES)
            }
        }

        /// Any printable Unicode (`\PC`: no control characters… but see [`arb_text`]).
        fn arb_text(max: usize) -> impl Strategy<Value = String> {
            prop_oneof![
                4 => proptest::string::string_regex(&format!("\\PC{{0,{max}}}")).expect("regex"),
                // Control characters, quotes and backslashes: what JSON must escape.
                1 => proptest::string::string_regex(&format!("[\\x00-\\x1f\"\\\\é€𝄞]{{0,{max}}}"))
                    .expect("regex"),
            ]
        }

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                // Any double: with serde_json's `float_roundtrip` they come back bit for bit
                // (see `full_precision_floats_in_metadata_survive_the_cookie`).
                any::<f64>()
                    .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                    .prop_map(Value::from),
                arb_text(40).prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 96, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::btree_map(arb_text(12), inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn arb_user() -> impl Strategy<Value = Value> {
            (
                (arb_text(40), arb_text(400), arb_text(200), arb_text(8)),
                (
                    prop::option::of(arb_text(60)),
                    prop::option::of(arb_text(20)),
                    any::<(bool, bool, bool)>(),
                ),
                (arb_text(20), prop::collection::vec(arb_text(20), 0..6)),
                prop_oneof![
                    1 => Just(Value::Null),
                    3 => arb_json(),
                    // Metadata that alone is most of a cookie.
                    1 => "[a-z]{1000,2500}".prop_map(|notes| json!({ "notes": notes })),
                ],
            )
                .prop_map(
                    |(
                        (id, display_name, avatar_url, locale),
                        (email, phone, (anonymous, email_verified, phone_verified)),
                        (default_role, roles),
                        metadata,
                    )| {
                        json!({
                            "id": id, "createdAt": "2026-12-02T00:00:00Z",
                            "displayName": display_name, "avatarUrl": avatar_url,
                            "locale": locale, "email": email, "phoneNumber": phone,
                            "isAnonymous": anonymous, "defaultRole": default_role,
                            "roles": roles, "metadata": metadata,
                            "emailVerified": email_verified,
                            "phoneNumberVerified": phone_verified, "activeMfaType": null,
                        })
                    },
                )
        }

        fn arb_session() -> impl Strategy<Value = Session> {
            (
                // A JWT is ASCII; sizes from tiny to more than the cookie can carry.
                prop_oneof![
                    2 => "[A-Za-z0-9_.-]{0,1200}",
                    2 => "[A-Za-z0-9_.-]{1500,3200}",
                    // Where a session without a user meets the 4 KB limit.
                    1 => "[A-Za-z0-9_.-]{2880,3000}",
                ],
                (any::<u64>(), any::<u64>()),
                (arb_text(40), arb_text(40)),
                prop::option::of(arb_user()),
                prop::option::of((
                    arb_text(40),
                    arb_text(20),
                    prop::collection::vec(arb_text(20), 0..4),
                    any::<bool>(),
                )),
            )
                .prop_map(
                    |(access, (expires_in, expires_at), (refresh, id), user, claims)| {
                        let claims =
                            claims.map(|(user_id, default_role, allowed_roles, anonymous)| {
                                json!({
                                    "user_id": user_id, "default_role": default_role,
                                    "allowed_roles": allowed_roles, "is_anonymous": anonymous,
                                })
                            });
                        serde_json::from_value(json!({
                            "accessToken": access, "accessTokenExpiresIn": expires_in,
                            "accessTokenExpiresAt": expires_at, "refreshToken": refresh,
                            "refreshTokenId": id, "user": user, "claims": claims,
                        }))
                        .expect("session")
                    },
                )
        }

        fn arb_name() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "nhostSession",
                "s",
                "a-rather-long-session-cookie-name",
            ])
            .prop_map(str::to_owned)
        }

        fn settings_named(name: String) -> CookieSettings {
            CookieSettings::new(
                name,
                Key::generate(),
                SecureCookie::Always,
                Duration::from_secs(60),
            )
        }

        /// The forms `seal` may store, fullest first: the session, its user without metadata,
        /// no user.
        fn forms(session: &Session) -> Vec<Session> {
            let mut forms = vec![session.clone()];
            if let Some(user) = session.user.as_ref().filter(|u| !u.metadata.is_null()) {
                let mut s = session.clone();
                let mut user = user.clone();
                user.metadata = Value::Null;
                s.user = Some(user);
                forms.push(s);
            }
            if session.user.is_some() {
                let mut s = session.clone();
                s.user = None;
                forms.push(s);
            }
            forms
        }

        /// `name=value` as the browser stores it, for the longer of the two names the cookie
        /// goes by (`__Host-<name>` whenever it is `Secure`), sealed by the jar itself.
        fn stored_bytes(settings: &CookieSettings, session: &Session) -> usize {
            let json = serde_json::to_string(session).expect("json");
            let mut jar = CookieJar::new();
            jar.private_mut(&settings.key)
                .add(Cookie::new(settings.name.clone(), json));
            let value = jar.get(&settings.name).map_or(0, |c| c.value().len());
            settings
                .wire_name(true)
                .len()
                .max(settings.wire_name(false).len())
                + 1
                + value
        }

        /// Found by `seal_then_open_gives_back_the_fullest_form_that_fits`: `seal` counted the
        /// configured name, but a `Secure` cookie goes out as `__Host-<name>`, 7 bytes longer,
        /// so a session just under the limit made a 4097–4103-byte cookie that browsers drop.
        #[test]
        fn the_limit_counts_the_host_prefixed_name() {
            let settings = settings_named("s".into());
            let mut sealed = 0;
            for len in 2800..3000 {
                let mut session = session();
                session.access_token = nhost_core::AccessToken::new("a".repeat(len));
                if let Some(value) = settings.seal(&session) {
                    sealed += 1;
                    let stored = settings.wire_name(true).len() + 1 + value.len();
                    assert!(stored <= MAX_COOKIE_BYTES, "{stored} bytes at {len}");
                }
            }
            assert!(sealed > 0, "the range crosses the limit");
        }

        /// Found by `seal_then_open_gives_back_the_fullest_form_that_fits` with arbitrary
        /// doubles in the user's metadata: serde_json without its `float_roundtrip` feature
        /// read some doubles back one unit in the last place off (here `-2.267653573723108e-285`
        /// came back as `-2.2676535737231078e-285`), so the session opened from the cookie was
        /// not the one sealed. The workspace's serde_json now has `float_roundtrip`.
        #[test]
        fn full_precision_floats_in_metadata_survive_the_cookie() {
            let settings = settings_named("nhostSession".into());
            let mut session = session();
            session.user = Some(
                serde_json::from_value(json!({
                    "id": "u", "metadata": {"g": -2.267653573723108e-285}
                }))
                .expect("user"),
            );
            let sealed = settings.seal(&session).expect("fits");
            assert_eq!(settings.open(&sealed).as_deref(), Some(&session));
        }

        /// The values of the cookies named `name` as the text parser before the one-pass scan
        /// read them (it skipped any header with a byte outside visible ASCII and tab).
        fn text_values<'a>(header: &'a str, name: &str) -> Vec<&'a str> {
            header
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .filter(|(n, _)| *n == name)
                .map(|(_, value)| value.trim_matches('"'))
                .collect()
        }

        /// What the text parser found of the cookie `name` in `headers`, as the scan says it.
        fn text_found<'a>(headers: &[&'a str], name: &str) -> Found<'a> {
            let mut found = Found::Missing;
            for value in headers.iter().flat_map(|h| text_values(h, name)) {
                found.add(value.as_bytes());
            }
            found
        }

        /// Bits of `Cookie` headers around remembered values: `S` and `T` stand for two sealed
        /// values the layer has opened, `S+` for one that starts with `S`, `S-` for `S` cut
        /// short.
        const PIECES: &[&str] = &[
            "__Host-nhostSession=",
            "S",
            "T",
            "S+",
            "S-",
            "\"",
            " ",
            "\t",
            ";",
            "; ",
            "=",
            "__Host-nhostSessionPkce=v",
            "a=1",
            "__Host-nhostSession",
            "nhostSession=",
        ];

        proptest! {
            #![proptest_config(config())]

            /// On every header the text parser read, the byte parser finds the same values of
            /// a cookie, in the same order: the scan changed what a request costs, not what
            /// it means.
            #[test]
            fn the_byte_parser_reads_what_the_text_parser_read(
                header in "[ab=; \t\"]{0,40}",
            ) {
                let bytes: Vec<&[u8]> = cookie_pairs(header.as_bytes())
                    .filter(|(name, _)| *name == b"ab")
                    .map(|(_, value)| value)
                    .collect();
                let text: Vec<&[u8]> =
                    text_values(&header, "ab").into_iter().map(str::as_bytes).collect();
                prop_assert_eq!(bytes, text);
            }

            /// The shortcut through the opened-cookie memory changes what a scan costs, not
            /// what it finds: on headers made of remembered values, their near misses, quotes,
            /// whitespace and separators, the scan finds what the pair parser alone finds, and
            /// both what the text parser found; the session it remembers is that of the value
            /// found, which `read` then opens.
            #[test]
            fn the_remembered_value_shortcut_finds_what_the_pair_parser_finds(
                headers in proptest::collection::vec(
                    proptest::collection::vec(0..PIECES.len(), 0..12), 1..3),
            ) {
                let settings = settings();
                let (s, t) = (
                    settings.seal(&session()).expect("fits"),
                    settings.seal(&session()).expect("fits"),
                );
                prop_assert!(settings.open(&s).is_some() && settings.open(&t).is_some());
                let texts: Vec<String> = headers
                    .iter()
                    .map(|pieces| {
                        pieces
                            .iter()
                            .map(|&i| match PIECES[i] {
                                "S" => s.clone(),
                                "T" => t.clone(),
                                "S+" => format!("{s}x"),
                                "S-" => s[..s.len() - 1].to_owned(),
                                piece => piece.to_owned(),
                            })
                            .collect()
                    })
                    .collect();
                let mut map = HeaderMap::new();
                for text in &texts {
                    map.append(http::header::COOKIE, text.parse().expect("visible ASCII"));
                }
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                let fast = settings.scan_with(&map, true, true);
                let slow = settings.scan_with(&map, true, false);
                prop_assert_eq!(fast.session, slow.session);
                prop_assert_eq!(fast.verifier, slow.verifier);
                prop_assert_eq!(slow.session, text_found(&texts, "__Host-nhostSession"));
                prop_assert_eq!(slow.verifier, text_found(&texts, "__Host-nhostSessionPkce"));
                prop_assert!(slow.remembered.is_none());
                // A remembered value beside a second, different session cookie leaves the
                // session ambiguous (`read` then refuses both); only a single value is opened
                // through the memory.
                match (&fast.remembered, fast.session) {
                    (Some(_), Found::Missing) => {
                        return Err(TestCaseError::fail("remembered without any value"));
                    }
                    (Some(remembered), Found::One(value)) => {
                        prop_assert!(value == s.as_bytes() || value == t.as_bytes());
                        let opened = settings.open(value).expect("opens");
                        prop_assert!(Arc::ptr_eq(remembered, &opened));
                    }
                    _ => {}
                }
                let read = |found: RequestCookies<'_>| {
                    match settings.read(found.session, found.remembered) {
                        Incoming::Missing => "missing".to_owned(),
                        Incoming::Unreadable => "unreadable".to_owned(),
                        Incoming::Ambiguous => "ambiguous".to_owned(),
                        Incoming::Session(session) => {
                            format!("session {:p}", Arc::as_ptr(&session))
                        }
                    }
                };
                prop_assert_eq!(read(fast), read(slow));
            }

            /// For any session, `seal` gives `None` or a value that, under either of the
            /// cookie's names (`__Host-<name>` included), fits [`MAX_COOKIE_BYTES`] of
            /// `name=value`; `open` of that value gives back the fullest form that fits — the
            /// session, else its user without metadata, else no user — and `None` means that
            /// not even the form without a user fits.
            #[test]
            fn seal_then_open_gives_back_the_fullest_form_that_fits(
                name in arb_name(),
                session in arb_session(),
            ) {
                let settings = settings_named(name);
                let forms = forms(&session);
                let fitting = forms
                    .iter()
                    .find(|f| stored_bytes(&settings, f) <= MAX_COOKIE_BYTES);
                match settings.seal(&session) {
                    None => prop_assert!(
                        fitting.is_none(),
                        "nothing sealed though a form of {} bytes fits",
                        fitting.map_or(0, |f| stored_bytes(&settings, f))
                    ),
                    Some(value) => {
                        for https in [true, false] {
                            let stored = settings.wire_name(https).len() + 1 + value.len();
                            prop_assert!(
                                stored <= MAX_COOKIE_BYTES,
                                "{} bytes of `{}=…`", stored, settings.wire_name(https)
                            );
                        }
                        let opened = settings.open(&value);
                        prop_assert_eq!(opened.as_deref(), fitting, "the fullest form that fits");
                        // A fresh open (not the opened-cookie memory) agrees.
                        settings.opened.clear();
                        let fresh = settings.open(&value);
                        prop_assert_eq!(fresh.as_deref(), fitting);
                    }
                }
            }

            /// A sealed value with any one byte changed (to any other printable ASCII byte)
            /// never opens — not even through the opened-cookie memory, which holds the
            /// original.
            #[test]
            fn a_flipped_byte_never_opens(
                session in arb_session(),
                at in any::<prop::sample::Index>(),
                byte in 0x21u8..0x7f,
            ) {
                let settings = settings_named("nhostSession".into());
                let Some(value) = settings.seal(&session) else {
                    return Ok(());
                };
                prop_assert!(settings.open(&value).is_some());
                let mut bytes = value.clone().into_bytes();
                let i = at.index(bytes.len());
                bytes[i] = if bytes[i] == byte { byte ^ 0x01 } else { byte };
                let flipped = String::from_utf8(bytes).expect("ASCII");
                prop_assert!(settings.open(&flipped).is_none(), "byte {} of {}", i, value.len());
            }
        }
    }
}
