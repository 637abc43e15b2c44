//! Where `redirectTo` may point: `AUTH_CLIENT_URL` and `AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS`,
//! compared as parsed URLs — same scheme, host and port, and a path at or below the allowed
//! path, segment by segment — never as string prefixes. A string prefix let `//evil.com/steal`
//! through an empty client URL, and `http://localhost:3000/app/../admin` through `/app`; the
//! `/verify` redirect then carries a refresh token to wherever it points.
//!
//! Parsing follows the WHATWG URL standard (the `url` crate), as browsers do, so the URL checked
//! here is the URL a browser follows.

use url::Url;

use crate::config::{Config, ConfigError};
use crate::error::ApiError;

/// The longest `redirectTo` accepted, in bytes. It is stored with every email in the mailbox and
/// echoed in links; browsers and proxies start refusing URLs not much longer than this anyway.
pub(crate) const MAX_REDIRECT_TO_BYTES: usize = 4096;

/// The parsed allow-list, checked once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct RedirectPolicy {
    allowed: Vec<Url>,
}

impl RedirectPolicy {
    /// Parses `AUTH_CLIENT_URL` and every allowed redirect URL; the first unusable one is an error
    /// naming the setting.
    pub(crate) fn new(config: &Config) -> Result<Self, ConfigError> {
        let mut allowed = vec![parse_allowed("AUTH_CLIENT_URL", &config.client_url)?];
        for url in &config.allowed_redirect_urls {
            allowed.push(parse_allowed(
                "AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS",
                url,
            )?);
        }
        Ok(RedirectPolicy { allowed })
    }

    /// The parsed `redirect_to` when it is allowed; `400 redirectTo-not-allowed` otherwise (and a
    /// validation error when it is longer than [`MAX_REDIRECT_TO_BYTES`]).
    pub(crate) fn check(&self, redirect_to: &str) -> Result<Url, ApiError> {
        if redirect_to.len() > MAX_REDIRECT_TO_BYTES {
            return Err(ApiError::bad_request(format!(
                "redirectTo must be at most {MAX_REDIRECT_TO_BYTES} bytes"
            )));
        }
        // A relative URL (`//evil.com`, `/path`) does not parse without a base: refused.
        let target = Url::parse(redirect_to).map_err(|_| ApiError::redirect_not_allowed())?;
        if self.allowed.iter().any(|allowed| allows(allowed, &target)) {
            Ok(target)
        } else {
            Err(ApiError::redirect_not_allowed())
        }
    }
}

/// An allowed redirect URL must be an absolute `http(s)` URL with a host and no credentials.
fn parse_allowed(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |why: &str| {
        ConfigError::Invalid(format!(
            "{name}: `{value}` {why}; use an absolute URL such as http://localhost:3000"
        ))
    };
    if value.contains('*') {
        // hasura-auth accepts glob patterns here; the emulator does not, and saying so beats
        // silently never matching.
        return Err(invalid(
            "is a pattern, which the emulator does not support (list each URL)",
        ));
    }
    if value.len() > MAX_REDIRECT_TO_BYTES {
        return Err(invalid("is too long"));
    }
    let url = Url::parse(value.trim()).map_err(|e| invalid(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("is not an http(s) URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("carries credentials"));
    }
    Ok(url)
}

/// Same origin (scheme, host, port — default ports made explicit), no credentials, and a path at
/// or below the allowed one (`/app` allows `/app`, `/app/`, `/app/x`, not `/apps`). Queries and
/// fragments of the target are free; the parser has already resolved `..` and `%2e%2e`.
fn allows(allowed: &Url, target: &Url) -> bool {
    if target.origin() != allowed.origin()
        || !target.username().is_empty()
        || target.password().is_some()
    {
        return false;
    }
    let base = allowed.path().trim_end_matches('/');
    let path = target.path();
    base.is_empty()
        || path == base
        || path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(client_url: &str) -> RedirectPolicy {
        let config = Config {
            client_url: client_url.into(),
            ..Config::default()
        };
        RedirectPolicy::new(&config).expect("a valid client URL")
    }

    #[test]
    fn the_client_url_allows_its_own_origin_only() {
        let p = policy("http://localhost:3000");
        for ok in [
            "http://localhost:3000",
            "http://localhost:3000/",
            "http://localhost:3000/x/y?z=1#f",
            "http://LOCALHOST:3000/x",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "//evil.com/steal",
            "/x",
            "http://localhost:3000.evil.com/",
            "http://localhost:3000@evil.com/",
            "http://user@localhost:3000/",
            "https://localhost:3000/",
            "http://localhost/",
            "http://localhost:80/",
            "javascript:alert(1)",
            "",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_compared_segment_by_segment_after_normalisation() {
        let p = policy("https://app.example.com/app/");
        for ok in [
            "https://app.example.com/app",
            "https://app.example.com/app/",
            "https://app.example.com:443/app/x",
            "https://app.example.com/app/./x",
        ] {
            assert!(p.check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://app.example.com/apps",
            "https://app.example.com/app/../admin",
            "https://app.example.com/app/%2E%2E/admin",
            "https://app.example.com/app\\..\\admin",
            "https://app.example.com/",
        ] {
            assert!(p.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unusable_settings_are_refused() {
        for bad in [
            "",
            " ",
            "localhost:3000",
            "//localhost:3000",
            "/app",
            "ftp://host/",
            "http://",
            "https://*.vercel.app",
            "http://user:pw@localhost:3000",
        ] {
            let config = Config {
                client_url: bad.into(),
                ..Config::default()
            };
            let err = RedirectPolicy::new(&config).expect_err(bad).to_string();
            assert!(err.starts_with("AUTH_CLIENT_URL: "), "{err}");
        }
        let config = Config {
            allowed_redirect_urls: vec!["//evil.com".into()],
            ..Config::default()
        };
        let err = RedirectPolicy::new(&config)
            .expect_err("refused")
            .to_string();
        assert!(
            err.starts_with("AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS: "),
            "{err}"
        );
    }

    #[test]
    fn length_is_bounded() {
        let p = policy("http://localhost:3000");
        let long = format!(
            "http://localhost:3000/{}",
            "a".repeat(MAX_REDIRECT_TO_BYTES)
        );
        assert!(p.check(&long).is_err());
    }
}
