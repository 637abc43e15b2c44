//! What keeps a local development server local. Vite and webpack-dev-server learnt both of these
//! from CVEs of the "any website can read localhost" class:
//!
//! - **The `Host` check** (every route): a page on `attacker.example` whose DNS name is rebound
//!   to 127.0.0.1 reaches this server *same-origin*, past every CORS rule; its requests still say
//!   `Host: attacker.example`. Only this server's own names are answered: `localhost` and
//!   `*.localhost`, any IP address (an address cannot be rebound), the host of
//!   `AUTH_SERVER_URL`, and the names listed in `AUTH_EMULATOR_ALLOWED_HOSTS`.
//! - **The emulator-route guard** (`/_emulator/*`, which hands out every magic link): no CORS at
//!   all, a refusal for any request that says it comes from another origin (`Origin`, or Fetch
//!   Metadata's `Sec-Fetch-Site`), and for state changes a request no cross-site form can send
//!   (`Content-Type: application/json`, or an `X-Nhost-Emulator` header) — a browser has to ask
//!   before sending either cross-origin, and the answer is no.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The header that makes a state-changing `/_emulator` request non-simple without a JSON body.
pub(crate) const EMULATOR_HEADER: &str = "x-nhost-emulator";

/// The host names this server answers to, besides `localhost`, `*.localhost` and IP addresses.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedHosts {
    /// Lowercase names, matched exactly.
    names: Vec<String>,
    /// Lowercase suffixes with their leading dot (`.example.test`): the name and its subdomains.
    suffixes: Vec<String>,
}

impl AllowedHosts {
    /// From `AUTH_EMULATOR_ALLOWED_HOSTS` (`name` or `.suffix` entries) and the host of the
    /// public server URL, which email links point at.
    pub(crate) fn new<'a>(configured: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hosts = AllowedHosts::default();
        for entry in configured {
            let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
            if entry.len() > 1 && entry.starts_with('.') {
                hosts.suffixes.push(entry);
            } else if !entry.is_empty() {
                hosts.names.push(entry);
            }
        }
        hosts
    }

    /// Whether a `Host` header value (`name`, `name:port`, `[v6]:port`) is one of ours.
    pub(crate) fn allows(&self, host_header: &str) -> bool {
        let Some(host) = host_without_port(host_header) else {
            return false;
        };
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return v6.parse::<std::net::Ipv6Addr>().is_ok();
        }
        if host.parse::<std::net::Ipv4Addr>().is_ok() {
            return true;
        }
        // A fully-qualified name may end with a dot; it names the same host.
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == "localhost"
            || host.ends_with(".localhost")
            || self.names.contains(&host)
            || self
                .suffixes
                .iter()
                .any(|s| host.ends_with(s.as_str()) || host == s[1..])
    }
}

/// `name:port` → `name`; `[v6]:port` → `[v6]`; `None` when the value is not a plausible host.
fn host_without_port(value: &str) -> Option<&str> {
    if value.starts_with('[') {
        let end = value.find(']')?;
        let rest = &value[end + 1..];
        return (rest.is_empty() || is_port(rest.strip_prefix(':')?)).then(|| &value[..=end]);
    }
    let host = match value.rsplit_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return None,
        None => value,
    };
    (!host.is_empty()).then_some(host)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

fn forbidden(message: String) -> Response {
    ApiError::Handler {
        status: StatusCode::FORBIDDEN,
        error: "forbidden",
        message,
    }
    .into_response()
}

/// Middleware on every route: answers only requests addressed to one of this server's names.
pub(crate) async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(host) if allowed.allows(&host) => next.run(req).await,
        Some(host) => {
            // Echoed so the developer sees which name to allow; JSON-escaped, and cut short.
            let shown: String = host.chars().take(100).collect();
            forbidden(format!(
                "Blocked request: the Host `{shown}` is not this server's. A local development \
                 server answers only localhost, IP addresses and the host of AUTH_SERVER_URL \
                 (DNS rebinding defence); to allow another name, add it to \
                 AUTH_EMULATOR_ALLOWED_HOSTS."
            ))
        }
        None => forbidden(
            "Blocked request: no Host header. Add the server's name; to allow another name, \
             add it to AUTH_EMULATOR_ALLOWED_HOSTS."
                .into(),
        ),
    }
}

/// Why a request to `/_emulator/*` is refused, if it is.
pub(crate) fn emulator_refusal(method: &Method, headers: &HeaderMap) -> Option<&'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Another origin (or an opaque one: `null`). The server's own origin is `http://<Host>`;
    // the Host itself has been checked already.
    if let Some(origin) = header(ORIGIN.as_str()) {
        let own = header(HOST.as_str()).is_some_and(|host| {
            origin
                .strip_prefix("http://")
                .is_some_and(|o| o.eq_ignore_ascii_case(host))
        });
        if !own {
            return Some(
                "the emulator-only routes answer no other origin (they hand out every magic link)",
            );
        }
    }
    // Fetch Metadata tells requests that carry no Origin (an <img>, a no-cors GET) apart;
    // `none` is a URL typed in the address bar.
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some("the emulator-only routes refuse cross-site requests");
    }
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let json = header(CONTENT_TYPE.as_str()).is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json && !headers.contains_key(EMULATOR_HEADER) {
            return Some(
                "state-changing emulator-only routes need `Content-Type: application/json` or an \
                 `X-Nhost-Emulator` header, which no cross-site form can send",
            );
        }
    }
    None
}

/// Middleware on `/_emulator/*`: see the module documentation.
pub(crate) async fn guard_emulator_routes(req: Request, next: Next) -> Response {
    match emulator_refusal(req.method(), req.headers()) {
        Some(why) => forbidden(format!("Blocked request: {why}.")),
        None => next.run(req).await,
    }
}

/// Whether a path is one of the emulator-only routes (which get no CORS headers).
pub(crate) fn is_emulator_path(path: &str) -> bool {
    path == "/_emulator" || path.starts_with("/_emulator/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let allowed = AllowedHosts::new(["auth.test", ".dev.example", " Box.LAN. ", ""]);
        for ok in [
            "localhost",
            "localhost:4000",
            "LocalHost.:4000",
            "app.localhost:4000",
            "127.0.0.1",
            "127.0.0.1:4000",
            "10.0.0.7:4000",
            "[::1]:4000",
            "[::1]",
            "[fe80::1]:4000",
            "auth.test:4000",
            "dev.example",
            "a.b.dev.example:1",
            "box.lan",
        ] {
            assert!(allowed.allows(ok), "{ok}");
        }
        for bad in [
            "",
            ":4000",
            "evil.example",
            "localhost.evil.example",
            "notlocalhost",
            "auth.test.evil.example",
            "xdev.example",
            "127.0.0.1.nip.io",
            "[::1",
            "[::1]x",
            "[evil]:4000",
            "localhost:port",
            "a:b:c",
        ] {
            assert!(!allowed.allows(bad), "{bad}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("a header value"));
        }
        h
    }

    #[test]
    fn emulator_requests() {
        let host = ("host", "127.0.0.1:4000");
        let refused = |m: Method, h: &[(&'static str, &str)]| emulator_refusal(&m, &headers(h));
        assert!(refused(Method::GET, &[host]).is_none(), "a tool");
        assert!(
            refused(
                Method::GET,
                &[
                    host,
                    ("origin", "http://127.0.0.1:4000"),
                    ("sec-fetch-site", "same-origin")
                ]
            )
            .is_none(),
            "the same origin"
        );
        assert!(refused(Method::GET, &[host, ("sec-fetch-site", "none")]).is_none());
        for origin in [
            "https://evil.example",
            "null",
            "http://127.0.0.1:4001",
            "https://127.0.0.1:4000",
        ] {
            assert!(
                refused(Method::GET, &[host, ("origin", origin)]).is_some(),
                "{origin}"
            );
        }
        assert!(refused(Method::GET, &[host, ("sec-fetch-site", "cross-site")]).is_some());
        assert!(refused(Method::GET, &[host, ("sec-fetch-site", "same-site")]).is_some());
        assert!(refused(Method::POST, &[host]).is_some(), "a simple POST");
        assert!(refused(Method::DELETE, &[host, ("content-type", "text/plain")]).is_some());
        assert!(
            refused(
                Method::POST,
                &[host, ("content-type", "Application/JSON; charset=utf-8")]
            )
            .is_none()
        );
        assert!(refused(Method::POST, &[host, (EMULATOR_HEADER, "1")]).is_none());
    }
}
