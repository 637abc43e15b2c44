//! Same-origin checks for state-changing requests: `Sec-Fetch-Site` when the browser sends it,
//! else `Origin` against the site's scheme, host and port.

use http::uri::Authority;
use http::{HeaderMap, Uri, header};

use crate::SecureCookie;

/// Whether a request comes from a page of the site itself, as far as the browser says — the rule
/// of Go's `http.CrossOriginProtection`, strict form:
///
/// 1. `Sec-Fetch-Site` (sent by every current browser, and not settable by a page) decides when
///    present: only `same-origin` passes. `same-site` (a sibling subdomain is another origin),
///    `cross-site` and `none` (a navigation the user typed, which no `fetch` of the site's own
///    pages produces) are refused;
/// 2. else an `Origin` header must equal the site's origin: the scheme the layer's
///    [`SecureCookie`] setting gives for the request, the host and the port of `Host` (or, for
///    HTTP/2, of the request's `:authority`); `Origin: null` is refused;
/// 3. else (no browser headers: `curl`, a server-side client) the request passes — such a client
///    holds the cookie itself, so it cannot be made to act by another site.
///
/// The session endpoints ([`SessionRoutes`](crate::SessionRoutes)) check every state-changing
/// call with it. A site's own form actions may use it as well; a form the user submits after
/// typing the URL carries `Sec-Fetch-Site: none`, which such a check may want to let through:
///
/// ```
/// use http::HeaderMap;
/// use nhost_ssr::SecureCookie;
///
/// fn form_post_allowed(headers: &HeaderMap, uri: &http::Uri, secure: SecureCookie) -> bool {
///     headers.get("sec-fetch-site").is_some_and(|s| s == "none")
///         || nhost_ssr::is_same_origin(headers, uri, secure)
/// }
/// # let mut h = HeaderMap::new();
/// # h.insert("host", "example.com".parse().unwrap());
/// # h.insert("origin", "https://evil.example".parse().unwrap());
/// # assert!(!form_post_allowed(&h, &"/".parse().unwrap(), SecureCookie::Always));
/// ```
pub fn is_same_origin(headers: &HeaderMap, uri: &Uri, secure: SecureCookie) -> bool {
    same_origin(headers, uri, secure.is_https(headers))
}

pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri, https: bool) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let scheme = if https { "https" } else { "http" };
    let default_port = if https { 443 } else { 80 };
    let origin = origin.to_str().ok().and_then(|o| o.parse::<Uri>().ok());
    let host = match headers.get(header::HOST) {
        Some(h) => h.to_str().ok().and_then(|h| h.parse::<Authority>().ok()),
        None => uri.authority().cloned(),
    };
    let (Some(origin), Some(host)) = (origin, host) else {
        return false;
    };
    let Some(origin_authority) = origin.authority() else {
        return false;
    };
    origin.scheme_str() == Some(scheme)
        && origin
            .path_and_query()
            .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty())
        && origin_authority.host().eq_ignore_ascii_case(host.host())
        && origin_authority.port_u16().unwrap_or(default_port)
            == host.port_u16().unwrap_or(default_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], https: bool) -> bool {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        same_origin(&h, &Uri::from_static("/"), https)
    }

    #[test]
    fn origin_rules() {
        let host = ("host", "localhost:3000");
        assert!(check(&[host], false), "no browser headers: curl");
        assert!(check(&[host, ("origin", "http://localhost:3000")], false));
        assert!(check(&[host, ("origin", "http://LOCALHOST:3000")], false));
        assert!(!check(&[host, ("origin", "https://localhost:3000")], false));
        assert!(!check(&[host, ("origin", "http://localhost:3000")], true));
        assert!(!check(&[host, ("origin", "http://localhost:3001")], false));
        assert!(!check(&[host, ("origin", "http://localhost")], false));
        assert!(!check(&[host, ("origin", "null")], false));
        assert!(!check(&[host, ("origin", "http://evil.com")], false));
        assert!(
            !check(&[("origin", "http://localhost:3000")], false),
            "no Host"
        );
        let https = ("host", "example.com");
        assert!(check(&[https, ("origin", "https://example.com")], true));
        assert!(check(&[https, ("origin", "https://example.com:443")], true));
        assert!(!check(&[https, ("origin", "https://a.example.com")], true));
        // Sec-Fetch-Site decides when present; only same-origin passes.
        assert!(check(&[host, ("sec-fetch-site", "same-origin")], false));
        for site in ["cross-site", "same-site", "none", "garbage"] {
            assert!(!check(&[host, ("sec-fetch-site", site)], false), "{site}");
        }
        assert!(!check(
            &[
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://localhost:3000")
            ],
            false
        ));
    }

    #[test]
    fn http2_requests_use_the_uri_authority() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            "https://example.com".parse().expect("value"),
        );
        let uri = Uri::from_static("https://example.com/_nhost/token");
        assert!(same_origin(&h, &uri, true));
        let other = Uri::from_static("https://other.example/_nhost/token");
        assert!(!same_origin(&h, &other, true));
    }
}
