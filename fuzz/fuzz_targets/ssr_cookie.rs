//! Fuzzes nhost-ssr's session cookie reader: `Cookie` headers through the whole
//! `NhostSessionLayer` (cookie parsing, the several-cookies rule, AES-GCM opening with the
//! cookie name as associated data, the session JSON, the opened-cookie memory, the fresh / due
//! decision, the response's cookie), in-process on one tokio runtime, with a fixed key.
//!
//! Input: a mode byte, then the rest. Even modes send the rest as raw `Cookie` headers (one per
//! line): nothing in them is sealed with the key, so no request may get a session. Odd modes
//! seal the rest's last line with the key (any plaintext, so the session JSON parser is fuzzed
//! behind a valid seal) and send it beside the other lines as cookies; a session reaches the
//! handler only when that plaintext is a session. Bit 1 picks the layer behind a trusted proxy,
//! with the first line as its `X-Forwarded-Proto` and `Forwarded` headers.
//!
//! Refreshes never leave the process: the coordinator answers "unavailable" or "rejected"
//! (by the token's hash) without running the work.

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use nhost_core::{AuthError, ErrorCode};
use nhost_ssr::{
    NhostSessionLayer, RefreshCoordinator, RefreshKey, RefreshOutcome, RefreshWork, SecureCookie,
    Session,
};
use tower::ServiceExt as _;
use tower_cookies::Key;
use tower_cookies::cookie::{Cookie, CookieJar};

const NAME: &str = "nhostSession";

/// Answers every refresh without the network: "rejected" or "unavailable", by the token's hash.
struct OfflineCoordinator;

impl RefreshCoordinator for OfflineCoordinator {
    fn coordinate<'a>(
        &'a self,
        key: &'a RefreshKey,
        _race_window: Duration,
        _work: RefreshWork,
    ) -> futures_like::BoxFuture<'a, RefreshOutcome> {
        let rejected = key.id().as_bytes().first().is_some_and(|b| *b >= b'8');
        Box::pin(async move {
            if rejected {
                RefreshOutcome::Rejected(AuthError::new(
                    401,
                    ErrorCode::InvalidRefreshToken,
                    "invalid refresh token",
                ))
            } else {
                RefreshOutcome::Unavailable(AuthError::network("offline"))
            }
        })
    }

    fn publish<'a>(
        &'a self,
        _key: &'a RefreshKey,
        _race_window: Duration,
        _outcome: RefreshOutcome,
    ) -> futures_like::BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    key: Key,
    direct: Router,
    proxied: Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let key = nhost_ssr::key_from_bytes(&[7u8; 64]).expect("a key");
        let app = |secure: SecureCookie| {
            let layer = NhostSessionLayer::builder()
                // Never asked: the coordinator answers for it.
                .auth_url("http://127.0.0.1:9")
                .cookie_key(key.clone())
                .cookie_name(NAME)
                .secure(secure)
                .coordinator(OfflineCoordinator)
                .build()
                .expect("a layer");
            let _guard = rt.enter();
            Router::new()
                .route(
                    "/",
                    get(|session: Option<Session>| async move {
                        match session {
                            Some(s) => format!("session {}", s.user_id().unwrap_or_default()),
                            None => "none".to_owned(),
                        }
                    }),
                )
                .layer(layer)
        };
        Fixture {
            direct: app(SecureCookie::Always),
            proxied: app(SecureCookie::FromTrustedProxy),
            rt,
            key,
        }
    })
}

fn seal(key: &Key, plaintext: &str) -> String {
    let mut jar = CookieJar::new();
    jar.private_mut(key)
        .add(Cookie::new(NAME, plaintext.to_owned()));
    jar.get(NAME).map(|c| c.value().to_owned()).expect("sealed")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let sealed_mode = mode & 1 == 1;
    let proxied = mode & 2 == 2;
    let text = String::from_utf8_lossy(rest);
    let mut lines: Vec<&str> = text.split('\n').collect();

    let mut req = Request::get("/");
    let mut headers = http::HeaderMap::new();
    if proxied && let Ok(v) = HeaderValue::from_str(lines[0]) {
        headers.append("x-forwarded-proto", v.clone());
        headers.append(header::FORWARDED, v);
    }
    let https = if proxied {
        SecureCookie::FromTrustedProxy.is_https(&headers)
    } else {
        true
    };
    let name = if https {
        format!("__Host-{NAME}")
    } else {
        NAME.to_owned()
    };
    let mut plaintext = None;
    if sealed_mode {
        let last = lines.pop().unwrap_or_default();
        plaintext = Some(last.to_owned());
        let sealed = seal(&f.key, last);
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("{name}={sealed}")).expect("a sealed value is ASCII"),
        );
    }
    for line in &lines {
        if let Ok(v) = HeaderValue::from_str(line) {
            headers.append(header::COOKIE, v);
        }
    }
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let req = req.body(Body::empty()).expect("a request");
    let router = if proxied { &f.proxied } else { &f.direct };

    let (status, body, set_cookies) = f.rt.block_on(async {
        let res = router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let set_cookies: Vec<String> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ASCII").to_owned())
            .collect();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, body, set_cookies)
    });
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let got_session = body.starts_with(b"session ");
    if got_session {
        // Only a value sealed with the key opens, and only to a session.
        let plaintext = plaintext.expect("a session only from the sealed cookie");
        let session: nhost_core::Session =
            serde_json::from_str(&plaintext).expect("a session only from a session's JSON");
        let shown = format!("session {}", session.user_id().unwrap_or_default());
        assert_eq!(&body[..], shown.as_bytes());
    }
    // The layer never sets a cookie it did not seal, and never one over the browser's limit;
    // with no refresh possible, it only ever clears.
    for c in &set_cookies {
        assert!(c.len() <= 4096 + 200, "{c}");
        assert!(
            c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"),
            "{c}"
        );
    }
});
