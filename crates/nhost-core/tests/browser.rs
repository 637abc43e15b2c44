//! `nhost-core` in a real browser (headless Chromium, via `wasm-bindgen-test-runner`): the
//! `localStorage` session store and the keys it shares with nhost-js.
//!
//! Run by `cargo xtask test` (its browser step); natively this file is empty.
// The crate docs come first: a false `#![cfg]` drops every attribute after it, and natively
// `missing_docs` would then flag the empty crate.
#![cfg(target_arch = "wasm32")]

use nhost_core::{
    AuthState, LocalStorage, NhostClient, REFRESH_TOKEN_EXPIRES_AT_KEY, REFRESH_TOKEN_ID_KEY,
    REFRESH_TOKEN_KEY, SessionStorage,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens on the discard port: no test here may need the server.
const AUTH_URL: &str = "http://127.0.0.1:9";

/// A refresh token as nhost-js stores it (a UUID).
const STORED_REFRESH_TOKEN: &str = "5f0c3a3e-8d6b-4c1e-9a43-2b7d1e6f9c20";

/// The page's own `localStorage`, read and written without going through the crate.
fn local_storage() -> web_sys::Storage {
    web_sys::window()
        .expect("a browser window")
        .local_storage()
        .expect("localStorage is accessible")
        .expect("localStorage is enabled")
}

/// The tests share one page: each starts from (and leaves) no nhost keys.
fn clear_nhost_keys() {
    let storage = local_storage();
    for key in [
        REFRESH_TOKEN_KEY,
        REFRESH_TOKEN_ID_KEY,
        REFRESH_TOKEN_EXPIRES_AT_KEY,
        "nhost-core-browser-test",
    ] {
        storage.remove_item(key).expect("removeItem");
    }
}

#[wasm_bindgen_test]
fn local_storage_round_trips_through_window_local_storage() {
    clear_nhost_keys();
    let key = "nhost-core-browser-test";
    let store = LocalStorage;

    assert_eq!(store.get(key), None);
    store.set(key, "value-1");
    assert_eq!(store.get(key).as_deref(), Some("value-1"));
    // It is the page's real localStorage, not a copy.
    assert_eq!(
        local_storage().get_item(key).expect("getItem").as_deref(),
        Some("value-1")
    );
    store.set(key, "value-2");
    assert_eq!(store.get(key).as_deref(), Some("value-2"));
    store.remove(key);
    assert_eq!(store.get(key), None);
    assert_eq!(local_storage().get_item(key).expect("getItem"), None);
    // Removing what is not there is fine.
    store.remove(key);

    // Written by someone else (nhost-js), read by us.
    local_storage()
        .set_item(REFRESH_TOKEN_KEY, STORED_REFRESH_TOKEN)
        .expect("setItem");
    assert_eq!(
        store.get(REFRESH_TOKEN_KEY).as_deref(),
        Some(STORED_REFRESH_TOKEN)
    );
    clear_nhost_keys();
}

#[wasm_bindgen_test]
fn client_with_local_storage_starts_loading_from_the_nhost_js_key() {
    clear_nhost_keys();
    local_storage()
        .set_item(REFRESH_TOKEN_KEY, STORED_REFRESH_TOKEN)
        .expect("setItem");

    let client = NhostClient::builder()
        .auth_url(AUTH_URL)
        .storage(LocalStorage)
        .build()
        .expect("client builds");
    assert_eq!(client.auth_state(), AuthState::Loading);
    assert!(!client.is_authenticated());
    clear_nhost_keys();
}

#[wasm_bindgen_test]
fn client_without_a_stored_token_starts_signed_out() {
    clear_nhost_keys();
    let client = NhostClient::builder()
        .auth_url(AUTH_URL)
        .storage(LocalStorage)
        .build()
        .expect("client builds");
    assert_eq!(client.auth_state(), AuthState::SignedOut);
}

#[wasm_bindgen_test]
fn default_storage_on_wasm_is_local_storage_not_memory() {
    clear_nhost_keys();
    local_storage()
        .set_item(REFRESH_TOKEN_KEY, STORED_REFRESH_TOKEN)
        .expect("setItem");

    // No `.storage(…)`: with `MemoryStorage` as the default it would start signed out.
    let client = NhostClient::builder()
        .auth_url(AUTH_URL)
        .build()
        .expect("client builds");
    assert_eq!(client.auth_state(), AuthState::Loading);
    clear_nhost_keys();
}

/// In the browser the JSON goes through the engine's `JSON` and a hand mapping, not serde_json:
/// a session still comes out as serde writes it and goes back in unchanged.
#[wasm_bindgen_test]
fn sessions_cross_tabs_in_the_shape_serde_writes() {
    use nhost_core::__browser::{session_from_js, session_to_js};
    use nhost_core::Session;

    let json = serde_json::json!({
        "accessToken": "at", "accessTokenExpiresIn": 900, "accessTokenExpiresAt": 1_795_797_543u64,
        "refreshToken": "rt", "refreshTokenId": "rid",
        "user": {
            "id": "u1", "createdAt": "2026-01-01T00:00:00Z", "displayName": "Ada Ü", "avatarUrl": "",
            "locale": "en", "email": "ada@example.com", "isAnonymous": false, "defaultRole": "user",
            "roles": ["user", "me"], "metadata": {"n": 2, "f": 2.5, "s": "\"quoted\"\n", "z": null},
            "emailVerified": true, "phoneNumberVerified": false, "activeMfaType": null
        },
        "claims": {"user_id": "u1", "default_role": "user", "allowed_roles": ["user", "me"], "is_anonymous": false}
    });
    let session: Session = serde_json::from_value(json.clone()).expect("serde reads it");
    let js = session_to_js(&session);
    let text = js_sys::JSON::stringify(&js)
        .expect("stringify")
        .as_string()
        .expect("a string");
    let reread: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(reread, json, "the shape serde writes");
    assert_eq!(session_from_js(&js), Some(session.clone()), "round trip");
    let parsed = js_sys::JSON::parse(&serde_json::to_string(&session).expect("serde writes it"))
        .expect("parse");
    assert_eq!(
        session_from_js(&parsed),
        Some(session),
        "reads what serde writes"
    );
    assert_eq!(
        session_from_js(&js_sys::JSON::parse(r#"{"accessToken": 1}"#).expect("parse")),
        None
    );
}

/// Error bodies, decoded through the browser's `JSON`, as natively.
#[wasm_bindgen_test]
fn error_bodies_decode_as_natively() {
    use nhost_core::AuthError;

    let cases: &[(u16, &str, &str, &str)] = &[
        (
            401,
            r#"{"status":401,"error":"invalid-refresh-token","message":"Invalid or expired refresh token"}"#,
            "invalid-refresh-token",
            "Invalid or expired refresh token",
        ),
        (
            400,
            r#"{"error":"invalid-request","reason":"unknown field"}"#,
            "invalid-request",
            "unknown field",
        ),
        (400, r#"{"error":"x"}"#, "x", "x"),
        (
            429,
            "",
            "too-many-requests",
            "Too many requests, try again later",
        ),
        (
            503,
            "<html>bad gateway</html>",
            "http-503",
            "HTTP 503 with a body that is not an Nhost error",
        ),
        (
            400,
            r#"{"error": 5}"#,
            "http-400",
            "HTTP 400 with a body that is not an Nhost error",
        ),
    ];
    for (status, body, id, message) in cases {
        let e = AuthError::from_response(*status, body);
        assert_eq!(
            (e.status, e.error.as_str(), e.message.as_str()),
            (*status, *id, *message),
            "{body}"
        );
    }
}
