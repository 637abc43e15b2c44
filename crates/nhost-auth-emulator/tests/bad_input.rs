//! Bad input is a 4xx with a JSON `error`, never a 500 and never a crash: malformed JSON, wrong
//! types, invalid UTF-8, oversized bodies, arrays where objects belong. On SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

/// Every protocol route that reads a JSON body, and whether it needs a bearer token to get as
/// far as reading it.
const BODY_ROUTES: [(&str, bool); 9] = [
    ("/signin/anonymous", false),
    ("/token", false),
    ("/token/exchange", false),
    ("/token/verify", false),
    ("/signout", false),
    ("/user/deanonymize", true),
    ("/signup/email-password", false),
    ("/signin/email-password", false),
    ("/signin/passwordless/email", false),
];

/// A server and an anonymous user's access token (for `/user/deanonymize`).
async fn server(backend: Backend) -> (Server, String) {
    let s = start_default(backend).await;
    let session = s.sign_in_anonymous().await;
    (s, access_token(&session))
}

/// Sends `body` to every body route and expects `status` with a JSON `error`.
async fn send_everywhere(s: &Server, bearer: &str, body: &[u8], status: u16, what: &str) {
    for (path, needs_bearer) in BODY_ROUTES {
        let r = s
            .post_raw(path, body.to_vec(), needs_bearer.then_some(bearer))
            .await;
        assert_eq!(
            r.status,
            status,
            "{what} to {path}: expected {status}, got {}",
            r.describe()
        );
        assert_client_error(&r, &format!("{what} to {path}"));
    }
}

/// The server still answers, and still works.
async fn assert_alive(s: &Server) {
    let r = s.get("/healthz").await;
    assert_eq!(
        r.status,
        200,
        "the server should still be up: {}",
        r.describe()
    );
    s.sign_in_anonymous().await;
}

async fn malformed_json(backend: Backend) {
    let (s, bearer) = server(backend).await;
    let bodies: [&[u8]; 9] = [
        b"{",
        b"{\"refreshToken\": }",
        b"not json",
        b"{\"a\":1,}",
        b"{'refreshToken': 'x'}",
        b"{\"email\":\"a@b.co\"}{\"password\":\"x\"}",
        b"\0",
        b"{\"email\": \"a@b.co\", \"email\": \"c@d.co\", \"password\": \"abcdef\"}",
        b"}",
    ];
    for body in bodies {
        let what = format!("malformed JSON {:?}", String::from_utf8_lossy(body));
        send_everywhere(&s, &bearer, body, 400, &what).await;
    }
    assert_alive(&s).await;
}
both!(malformed_json);

async fn wrong_types(backend: Backend) {
    let (s, bearer) = server(backend).await;
    let cases: Vec<(&str, Value)> = vec![
        ("/signin/anonymous", json!({ "displayName": 42 })),
        ("/signin/anonymous", json!({ "locale": 12 })),
        ("/signin/anonymous", json!({ "metadata": "a string" })),
        ("/signin/anonymous", json!({ "metadata": [1, 2] })),
        ("/token", json!({ "refreshToken": 42 })),
        (
            "/token",
            json!({ "refreshToken": ["1fb17604-86c7-444e-b337-09a644465f2d"] }),
        ),
        ("/token", json!({ "refreshToken": { "id": "x" } })),
        ("/token/verify", json!({ "token": 42 })),
        (
            "/token/exchange",
            json!({ "code": 42, "codeVerifier": "a".repeat(43) }),
        ),
        (
            "/token/exchange",
            json!({ "code": "x", "codeVerifier": ["a"] }),
        ),
        ("/signout", json!({ "refreshToken": 42 })),
        ("/signout", json!({ "all": "yes" })),
        (
            "/signup/email-password",
            json!({ "email": 42, "password": PASSWORD }),
        ),
        (
            "/signup/email-password",
            json!({ "email": "a@example.com", "password": 42 }),
        ),
        (
            "/signup/email-password",
            json!({ "email": "a@example.com", "password": PASSWORD, "options": "x" }),
        ),
        (
            "/signup/email-password",
            json!({ "email": "a@example.com", "password": PASSWORD, "options": { "allowedRoles": "user" } }),
        ),
        (
            "/signin/email-password",
            json!({ "email": ["a@example.com"], "password": PASSWORD }),
        ),
        (
            "/signin/email-password",
            json!({ "email": "a@example.com", "password": null }),
        ),
        ("/signin/passwordless/email", json!({ "email": 42 })),
        (
            "/user/deanonymize",
            json!({ "signInMethod": 42, "email": "a@example.com" }),
        ),
        (
            "/user/deanonymize",
            json!({ "signInMethod": "carrier-pigeon", "email": "a@example.com" }),
        ),
        (
            "/user/deanonymize",
            json!({ "signInMethod": "passwordless", "email": 42 }),
        ),
        (
            "/user/deanonymize",
            json!({ "signInMethod": "email-password", "email": "a@example.com", "password": 123456 }),
        ),
    ];
    for (path, body) in cases {
        let r = s.post_auth(path, &bearer, &body).await;
        assert_eq!(
            r.status,
            400,
            "wrong type {body} to {path}: {}",
            r.describe()
        );
        assert_client_error(&r, &format!("{body} to {path}"));
    }
    assert_alive(&s).await;
}
both!(wrong_types);

async fn invalid_utf8(backend: Backend) {
    let (s, bearer) = server(backend).await;
    let bodies: [&[u8]; 4] = [
        b"\xff\xfe\xfd",
        b"{\"displayName\": \"\xff\xfe\"}",
        b"{\"refreshToken\": \"\xc3\x28\"}",
        b"{\"email\": \"a\xed\xa0\x80@example.com\", \"password\": \"secret\"}",
    ];
    for body in bodies {
        send_everywhere(&s, &bearer, body, 400, &format!("invalid UTF-8 {body:?}")).await;
    }
    assert_alive(&s).await;
}
both!(invalid_utf8);

async fn body_too_large(backend: Backend) {
    let (s, bearer) = server(backend).await;
    let big = format!("{{\"displayName\": \"{}\"}}", "a".repeat(70 * 1024));
    assert!(big.len() > 64 * 1024);
    for (path, needs_bearer) in BODY_ROUTES {
        let r = s
            .post_raw(path, big.clone(), needs_bearer.then_some(bearer.as_str()))
            .await;
        assert_eq!(
            r.status,
            413,
            "a {} byte body to {path}: {}",
            big.len(),
            r.status
        );
        assert_client_error(&r, &format!("an oversized body to {path}"));
    }
    assert_alive(&s).await;
}
both!(body_too_large);

async fn array_instead_of_object(backend: Backend) {
    let (s, bearer) = server(backend).await;
    let bodies: [&[u8]; 6] = [b"[]", b"[1, 2]", b"[{}]", b"\"OK\"", b"42", b"true"];
    for body in bodies {
        let what = format!("{} instead of an object", String::from_utf8_lossy(body));
        send_everywhere(&s, &bearer, body, 400, &what).await;
    }
    assert_alive(&s).await;
}
both!(array_instead_of_object);

async fn array_encoding_of_a_valid_request(backend: Backend) {
    // serde can read a struct from a JSON array of its fields in order; the protocol's bodies
    // are objects (`type: object` in the spec), so these must be refused like any other array.
    let (s, _) = server(backend).await;
    let session = s.sign_in_anonymous().await;
    let token = refresh_token(&session);
    let r = s.post("/token", &json!([token])).await;
    assert_eq!(
        r.status,
        400,
        "[\"<refresh token>\"] is not a RefreshTokenRequest object: {}",
        r.describe()
    );
    assert_client_error(&r, "an array to /token");
    let r = s
        .post("/signin/anonymous", &json!([null, null, null]))
        .await;
    assert_eq!(
        r.status,
        400,
        "[null, null, null] is not a SignInAnonymousRequest object: {}",
        r.describe()
    );
    assert_client_error(&r, "an array to /signin/anonymous");
    let r = s
        .post(
            "/signin/email-password",
            &json!(["nobody@example.com", PASSWORD]),
        )
        .await;
    assert_eq!(
        r.status,
        400,
        "an array is not a SignInEmailPasswordRequest object: {}",
        r.describe()
    );
    assert_client_error(&r, "an array to /signin/email-password");
    assert_alive(&s).await;
}
both!(array_encoding_of_a_valid_request);

async fn deeply_nested_json(backend: Backend) {
    let (s, bearer) = server(backend).await;
    let arrays = "[".repeat(30_000);
    send_everywhere(&s, &bearer, arrays.as_bytes(), 400, "30,000 nested arrays").await;
    let objects = format!("{{\"metadata\": {}", "{\"a\": ".repeat(5_000));
    send_everywhere(&s, &bearer, objects.as_bytes(), 400, "5,000 nested objects").await;
    let closed = format!(
        "{{\"metadata\": {}1{}}}",
        "{\"a\": ".repeat(1_000),
        "}".repeat(1_000)
    );
    let r = s.post_raw("/signin/anonymous", closed, None).await;
    assert_client_error(&r, "metadata nested 1,000 deep");
    assert_alive(&s).await;
}
both!(deeply_nested_json);

async fn missing_body(backend: Backend) {
    let (s, bearer) = server(backend).await;
    for (path, needs_bearer) in BODY_ROUTES {
        if path == "/signin/anonymous" {
            continue; // takes no body
        }
        let mut req = s.http.post(s.endpoint(path));
        if needs_bearer {
            req = req.bearer_auth(&bearer);
        }
        let r = s.send(req).await;
        assert_client_error(&r, &format!("no body to {path}"));
    }
    assert_alive(&s).await;
}
both!(missing_body);

async fn bad_bearer_header(backend: Backend) {
    let (s, bearer) = server(backend).await;
    for header in [
        "Bearer",
        "Bearer ",
        &format!("Token {bearer}"),
        &format!("Bearer {bearer} extra"),
        "Bearer \u{7f}",
    ] {
        let Ok(value) = reqwest::header::HeaderValue::from_str(header) else {
            continue;
        };
        let r = s
            .send(
                s.http
                    .get(s.endpoint("/user"))
                    .header("authorization", value),
            )
            .await;
        assert_eq!(r.status, 401, "Authorization: {header:?}: {}", r.describe());
        assert_client_error(&r, &format!("Authorization: {header:?}"));
    }
    assert_alive(&s).await;
}
both!(bad_bearer_header);
