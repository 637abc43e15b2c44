//! Fuzzes the emulator's request extraction — the JSON bodies of its routes, the bearer header,
//! the query strings of `/verify` — through its whole router (Host check, CORS, rate limits,
//! panic catching, every extractor and handler) in-process, on an in-memory SQLite database.
//!
//! Input: a route byte, a flags byte, then the rest, split at its first NUL into a header part
//! and a body (or, for `GET /verify`, a query string). Flags: bit 0 sends the header part as
//! `Authorization: Bearer <it>`; bit 1 instead signs it (if it is a JSON object) as the claims of
//! an access token with the emulator's key, so handlers behind a valid signature see arbitrary
//! claims; bit 2 leaves out `Content-Type`.
//!
//! Every answer must be below 500 (a panic is caught by the router and becomes a 500, so this is
//! also how a panic shows), and every 4xx but the empty-bodied 429 a JSON object with a
//! non-empty string `error`.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;
use nhost_auth_emulator::fuzzing::{ADDR, App};
use nhost_auth_emulator::{Config, DEV_JWT_KEY};
use serde_json::Value;
use tower::ServiceExt as _;

const ROUTES: [(Method, &str); 12] = [
    (Method::POST, "/signin/anonymous"),
    (Method::POST, "/token"),
    (Method::POST, "/token/verify"),
    (Method::POST, "/signout"),
    (Method::GET, "/user"),
    (Method::POST, "/user/deanonymize"),
    (Method::POST, "/signup/email-password"),
    (Method::POST, "/signin/email-password"),
    (Method::POST, "/signin/passwordless/email"),
    (Method::GET, "/verify"),
    (Method::POST, "/token/exchange"),
    (Method::GET, "/.well-known/jwks.json"),
];

/// Inputs between two resets of the database and the mailbox.
const RESET_EVERY: usize = 2048;

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: App,
    key: jsonwebtoken::EncodingKey,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut config = Config::default();
        config.bcrypt_cost = 4;
        let app = rt.block_on(App::new(config)).expect("the emulator's app");
        Fixture {
            rt,
            app,
            key: jsonwebtoken::EncodingKey::from_secret(DEV_JWT_KEY.as_bytes()),
        }
    })
}

/// Percent-encodes what a URI's query cannot hold; `%` itself is kept, so that malformed escapes
/// reach the query parser too.
fn query(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let f = fixture();
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    if COUNT.fetch_add(1, Ordering::Relaxed) % RESET_EVERY == RESET_EVERY - 1 {
        f.rt.block_on(f.app.reset());
    }
    let (method, path) = &ROUTES[usize::from(*route) % ROUTES.len()];
    let (head, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    let uri = if *path == "/verify" {
        format!("{path}?{}", query(body))
    } else {
        (*path).to_owned()
    };
    let mut req = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::HOST, ADDR.to_string());
    if flags & 4 == 0 {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    if flags & 2 != 0 {
        if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(head) {
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &f.key,
            )
            .expect("claims sign");
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
    } else if flags & 1 != 0 {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(head);
        if let Ok(v) = http::HeaderValue::from_bytes(&value) {
            req = req.header(header::AUTHORIZATION, v);
        }
    }
    let body = if *path == "/verify" {
        Body::empty()
    } else {
        Body::from(body.to_vec())
    };
    let Ok(mut req) = req.body(body) else {
        return;
    };
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));

    let (status, bytes) = f.rt.block_on(async {
        let res = f.app.router().oneshot(req).await.expect("infallible");
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        status.as_u16() < 500,
        "{method} {path}: HTTP {status} {text}"
    );
    if status.is_client_error() && status.as_u16() != 429 {
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: HTTP {status} not JSON ({e}): {text}"));
        assert!(
            body.get("error")
                .and_then(Value::as_str)
                .is_some_and(|e| !e.is_empty()),
            "{method} {path}: HTTP {status} {text}"
        );
    }
});
