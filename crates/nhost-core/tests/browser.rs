//! `nhost-core` in a real browser (headless Chromium, via `wasm-bindgen-test-runner`): the
//! `localStorage` session store and the keys it shares with nhost-js, the Web Lock that
//! serialises refreshes across tabs, the JSON mapping, and two clients of one page sharing a
//! session against an `nhost-auth-emulator`.
//!
//! Run by `cargo xtask test` (its browser step), which starts the emulator and sets
//! `NHOST_TEST_AUTH_URL` at compile time; natively this file is empty.
// The crate docs come first: a false `#![cfg]` drops every attribute after it, and natively
// `missing_docs` would then flag the empty crate.
#![cfg(target_arch = "wasm32")]

use std::future::Future;

use futures_util::future::{Either, select};
use js_sys::{Function, Promise, Reflect};
use nhost_core::{
    AuthState, LocalStorage, NhostClient, REFRESH_TOKEN_EXPIRES_AT_KEY, REFRESH_TOKEN_ID_KEY,
    REFRESH_TOKEN_KEY, SESSION_KEY, SessionStorage, WEB_LOCK_NAME,
};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;
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
        SESSION_KEY,
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

/// The emulator `cargo xtask test` starts (anonymous users on, role `public`).
fn emulator_url() -> &'static str {
    option_env!("NHOST_TEST_AUTH_URL").expect(
        "NHOST_TEST_AUTH_URL is not set at compile time: run `cargo xtask test`, which starts the emulators",
    )
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Polls `future` for at most `ms` milliseconds without consuming it: `Some` if it finished.
async fn poll_for<F: Future + Unpin>(ms: u32, future: &mut F) -> Option<F::Output> {
    match select(future, Box::pin(sleep(ms))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}

/// A JavaScript function of the test page.
fn js_function(args: &str, body: &str) -> Function {
    Function::new_with_args(args, body)
}

async fn promise(value: JsValue) -> JsValue {
    JsFuture::from(value.dyn_into::<Promise>().expect("a promise"))
        .await
        .expect("the promise resolves")
}

/// The browser's own view of the lock: `(held, pending)` requests named [`WEB_LOCK_NAME`].
async fn lock_queue() -> (usize, usize) {
    let query = js_function(
        "name",
        "return navigator.locks.query().then(s => [
            s.held.filter(l => l.name === name).length,
            s.pending.filter(l => l.name === name).length,
        ]);",
    );
    let result = promise(
        query
            .call1(&JsValue::NULL, &WEB_LOCK_NAME.into())
            .expect("query"),
    )
    .await;
    let at = |i: u32| {
        Reflect::get_u32(&result, i)
            .ok()
            .and_then(|v| v.as_f64())
            .expect("a count") as usize
    };
    (at(0), at(1))
}

#[wasm_bindgen_test]
async fn the_web_lock_is_exclusive_and_released_on_drop() {
    let first = LocalStorage.lock().await;
    assert!(first.is_held(), "Chromium has navigator.locks");
    assert_eq!(lock_queue().await, (1, 0));

    let mut second = LocalStorage.lock();
    assert!(
        poll_for(300, &mut second).await.is_none(),
        "a second request waits while the lock is held"
    );
    assert_eq!(lock_queue().await, (1, 1));
    drop(first);
    let second = poll_for(2_000, &mut second)
        .await
        .expect("granted once the first is dropped");
    assert!(second.is_held());
    drop(second);
    sleep(50).await;
    assert_eq!(lock_queue().await, (0, 0), "nothing left behind");
}

/// Takes the lock from the page's own JavaScript, as another tab would; calling the returned
/// function releases it.
async fn hold_from_javascript() -> Function {
    let take = js_function(
        "name",
        "return new Promise(granted => navigator.locks.request(name, () =>
            new Promise(release => granted(release))));",
    );
    promise(
        take.call1(&JsValue::NULL, &WEB_LOCK_NAME.into())
            .expect("request"),
    )
    .await
    .dyn_into()
    .expect("the release function")
}

/// Another tab's hold (the lock manager is per origin: a holder in this page's JavaScript is
/// what another tab is to it).
#[wasm_bindgen_test]
async fn a_lock_held_by_other_javascript_is_waited_for() {
    let release = hold_from_javascript().await;
    let mut ours = LocalStorage.lock();
    assert!(
        poll_for(300, &mut ours).await.is_none(),
        "waits for the other holder"
    );
    release.call0(&JsValue::NULL).expect("release");
    let ours = poll_for(2_000, &mut ours)
        .await
        .expect("granted after the release");
    assert!(ours.is_held());
}

/// A refresh abandoned while waiting for the lock (its future dropped, e.g. a timed-out call)
/// must not leave a request that takes the lock later and never gives it back.
#[wasm_bindgen_test]
async fn an_abandoned_lock_request_never_blocks_the_others() {
    let first = LocalStorage.lock().await;
    let mut abandoned = LocalStorage.lock();
    assert!(poll_for(100, &mut abandoned).await.is_none());
    drop(abandoned);
    sleep(50).await;
    assert_eq!(
        lock_queue().await,
        (1, 0),
        "the abandoned request was withdrawn"
    );
    drop(first);
    let mut next = LocalStorage.lock();
    let next = poll_for(2_000, &mut next)
        .await
        .expect("nobody else holds the lock");
    assert!(next.is_held());
    drop(next);

    // Dropped right after asking (the grant may already be on its way): still released.
    for _ in 0..20 {
        drop(LocalStorage.lock());
    }
    sleep(50).await;
    let mut again = LocalStorage.lock();
    assert!(
        poll_for(2_000, &mut again).await.is_some(),
        "not kept by a dropped request"
    );
}

/// The grant and the drop cross: the lock is granted to a request whose future nobody polls any
/// more, and the future is dropped before it took the grant. The grant must be released.
#[wasm_bindgen_test]
async fn a_grant_that_crosses_the_drop_is_released() {
    let release = hold_from_javascript().await;
    let mut ours = LocalStorage.lock();
    assert!(poll_for(100, &mut ours).await.is_none(), "queued");
    release.call0(&JsValue::NULL).expect("release");
    // Not polling `ours`: the browser grants it meanwhile.
    sleep(100).await;
    assert_eq!(
        lock_queue().await,
        (1, 0),
        "granted to the unpolled request"
    );
    drop(ours);
    sleep(50).await;
    assert_eq!(lock_queue().await, (0, 0), "released when dropped untaken");
}

/// Hides a property of a browser object (`navigator.locks`, `crypto.subtle`) behind an own
/// `undefined` one, as a browser without it has it; the real one shows again when this drops
/// (also when the test fails).
struct Hidden(&'static str);

impl Hidden {
    /// `object.property`, e.g. `"navigator.locks"`.
    fn new(path: &'static str) -> Hidden {
        let (object, property) = path.split_once('.').expect("object.property");
        js_function(
            "",
            &format!(
                "Object.defineProperty({object}, '{property}', {{value: undefined, configurable: true}});"
            ),
        )
        .call0(&JsValue::NULL)
        .unwrap_or_else(|e| panic!("hide {path}: {e:?}"));
        Hidden(path)
    }
}

impl Drop for Hidden {
    fn drop(&mut self) {
        let _ = js_function("", &format!("delete {};", self.0)).call0(&JsValue::NULL);
    }
}

#[wasm_bindgen_test]
async fn without_web_locks_the_lock_is_granted_at_once_and_not_held() {
    let hidden = Hidden::new("navigator.locks");
    let mut lock = LocalStorage.lock();
    let lock = poll_for(100, &mut lock)
        .await
        .expect("no waiting without Web Locks");
    assert!(!lock.is_held());
    drop(hidden);
    assert!(
        LocalStorage.lock().await.is_held(),
        "navigator.locks is back"
    );
}

/// Metadata keys that are special to JavaScript objects come through the browser's JSON mapping
/// as plain keys, and pollute no prototype.
#[wasm_bindgen_test]
fn metadata_keys_like_proto_survive_the_browser_json_mapping() {
    use nhost_core::__browser::{session_from_js, session_to_js};
    use nhost_core::Session;

    let json = serde_json::json!({
        "accessToken": "at", "accessTokenExpiresIn": 900, "accessTokenExpiresAt": 1_795_797_543u64,
        "refreshToken": "rt", "refreshTokenId": "rid",
        "user": {
            "id": "u1", "createdAt": "2026-01-01T00:00:00Z", "displayName": "Ada", "avatarUrl": "",
            "locale": "en", "email": null, "isAnonymous": true, "defaultRole": "public",
            "roles": ["public"], "emailVerified": false, "phoneNumberVerified": false,
            "activeMfaType": null,
            "metadata": {"__proto__": {"polluted": true}, "constructor": "c", "toString": 1}
        },
        "claims": null
    });
    let session: Session = serde_json::from_value(json).expect("serde reads it");
    let js = session_to_js(&session);
    let back = session_from_js(&js).expect("reads back");
    assert_eq!(back, session, "every metadata key kept");
    let text = js_sys::JSON::stringify(&js)
        .expect("stringify")
        .as_string()
        .expect("text");
    assert!(text.contains(r#""__proto__":{"polluted":true}"#), "{text}");
    let polluted = js_function("", "return ({}).polluted === undefined;")
        .call0(&JsValue::NULL)
        .expect("call");
    assert_eq!(polluted.as_bool(), Some(true), "no prototype was touched");
}

/// Counts the page's `fetch` calls to `/token` (the client's requests go through `window.fetch`).
struct TokenCalls;

impl TokenCalls {
    fn install() -> TokenCalls {
        js_function(
            "",
            "if (!window.__nhostOriginalFetch) {
                window.__nhostOriginalFetch = window.fetch;
                window.fetch = function (input, init) {
                    const url = typeof input === 'string' ? input : input.url;
                    if (new URL(url, location.href).pathname.endsWith('/token')) {
                        window.__nhostTokenCalls = (window.__nhostTokenCalls || 0) + 1;
                    }
                    return window.__nhostOriginalFetch.call(this, input, init);
                };
            }
            window.__nhostTokenCalls = 0;",
        )
        .call0(&JsValue::NULL)
        .expect("wrap fetch");
        TokenCalls
    }

    fn count(&self) -> u32 {
        js_function("", "return window.__nhostTokenCalls || 0;")
            .call0(&JsValue::NULL)
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(-1.0) as u32
    }
}

impl Drop for TokenCalls {
    fn drop(&mut self) {
        let _ = js_function(
            "",
            "if (window.__nhostOriginalFetch) {
                window.fetch = window.__nhostOriginalFetch;
                delete window.__nhostOriginalFetch;
            }",
        )
        .call0(&JsValue::NULL);
    }
}

fn local_client() -> NhostClient {
    NhostClient::builder()
        .auth_url(emulator_url())
        .storage(LocalStorage)
        .auto_refresh(false)
        .build()
        .expect("client builds")
}

/// Two clients of one origin (two tabs, here two clients of one page: same `localStorage`, same
/// lock manager) refreshing at the same moment: one `/token` request, one session, both keep it.
#[wasm_bindgen_test]
async fn two_clients_sharing_local_storage_refresh_once_and_keep_the_user() {
    clear_nhost_keys();
    let a = local_client();
    let session = a
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous sign-in");
    let stored = local_storage()
        .get_item(SESSION_KEY)
        .expect("getItem")
        .expect("the whole session is stored under nhostSession");
    assert!(
        stored.contains(session.refresh_token.expose()),
        "{}",
        stored.len()
    );
    assert_eq!(
        local_storage()
            .get_item(REFRESH_TOKEN_KEY)
            .expect("getItem"),
        None
    );

    let b = local_client();
    assert!(matches!(b.initialize().await, AuthState::SignedIn(_)));
    assert_eq!(
        b.session().map(|s| s.refresh_token),
        Some(session.refresh_token.clone())
    );

    let calls = TokenCalls::install();
    let (ra, rb) = futures_util::future::join(a.refresh_session(), b.refresh_session()).await;
    let (ra, rb) = (ra.expect("a refreshes"), rb.expect("b refreshes"));
    assert_eq!(calls.count(), 1, "one request for both");
    assert_eq!(ra.refresh_token, rb.refresh_token, "one session");
    assert_ne!(ra.refresh_token, session.refresh_token, "rotated");
    assert_eq!(ra.user_id(), session.user_id());

    // Both keep it: the next refresh, from either, is accepted by the server.
    let again = b
        .refresh_session()
        .await
        .expect("the shared session is alive");
    assert_eq!(again.user_id(), session.user_id());
    drop(calls);
    a.sign_out(Default::default()).await.expect("sign out");
    clear_nhost_keys();
}

/// Unpadded base64url by the `base64` crate: an encoder independent of the `atob`/`btoa` the
/// crate uses in the browser.
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE challenge by Web Crypto is RFC 7636's, and sha2's for a verifier of every length the
/// RFC allows.
#[wasm_bindgen_test]
async fn the_pkce_challenge_by_web_crypto_is_s256() {
    use sha2::Digest as _;
    assert_eq!(
        nhost_core::__browser::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
            .await
            .expect("Web Crypto on a local page"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    for len in [43, 44, 45, 64, 128] {
        let verifier: String = "abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            .chars()
            .cycle()
            .take(len)
            .collect();
        assert_eq!(
            nhost_core::__browser::pkce_challenge(&verifier)
                .await
                .expect("Web Crypto"),
            base64url(&sha2::Sha256::digest(verifier.as_bytes())),
            "verifier of {len} characters"
        );
    }
}

/// An access token's claims read by `atob` and `JSON`: UTF-8 beyond ASCII, every padding length,
/// and tokens that are not base64 or not JSON, which give no claims rather than wrong ones.
#[wasm_bindgen_test]
fn access_token_claims_decode_utf8_at_every_padding_length() {
    let ns = "https://hasura.io/jwt/claims";
    // User ids whose payloads are 0, 1 and 2 bytes past a multiple of three.
    for user_id in ["ü-ユーザー", "ü-ユーザー1", "ü-ユーザー12"] {
        let payload = format!(
            r#"{{"sub":"s","exp":1700000000,"{ns}":{{"x-hasura-user-id":"{user_id}","x-hasura-default-role":"rôle","x-hasura-allowed-roles":["rôle","user"],"x-hasura-user-is-anonymous":"true"}}}}"#
        );
        let token = format!("e30.{}.sig", base64url(payload.as_bytes()));
        let claims = nhost_core::__browser::access_token_claims(&token, ns)
            .unwrap_or_else(|| panic!("claims of {payload}"));
        assert_eq!(claims.user_id, user_id);
        assert_eq!(claims.default_role, "rôle");
        assert_eq!(claims.allowed_roles, ["rôle", "user"]);
        assert!(claims.is_anonymous);
    }
    for bad in ["e30.%%%.sig", "e30.a.sig", "e30", "e30.bm90IGpzb24.sig"] {
        assert_eq!(
            nhost_core::__browser::access_token_claims(bad, ns),
            None,
            "{bad}"
        );
    }
}

/// Without Web Crypto (`crypto.subtle` hidden, as on plain http other than localhost) asking for
/// a link fails with `no-web-crypto` before anything is sent or stored: the client's server
/// (port 9) would have made it a network error.
#[wasm_bindgen_test]
async fn without_web_crypto_asking_for_a_link_says_so_and_sends_nothing() {
    let hidden = Hidden::new("crypto.subtle");
    let client = NhostClient::builder()
        .auth_url(AUTH_URL)
        .storage(nhost_core::MemoryStorage::default())
        .auto_refresh(false)
        .build()
        .expect("client builds");
    client.initialize().await;
    let e = client
        .sign_in_passwordless_email("someone@example.com", None)
        .await
        .expect_err("no Web Crypto");
    assert_eq!(e.error.as_str(), "no-web-crypto", "{e}");
    assert!(e.message.contains("secure context"), "{e}");
    assert_eq!(client.code_verifier(), None, "no verifier kept");
    drop(hidden);
    assert!(
        nhost_core::__browser::pkce_challenge("x").await.is_ok(),
        "crypto.subtle is back"
    );
}
