//! What the black-box conformance tests share: starting an emulator on a backend (in-memory
//! SQLite or a private PostgreSQL database), talking HTTP to it, and checking the shapes that
//! `/work/shared/reference/PROTOCOL.md` (the hasura-auth wire protocol) prescribes.
//!
//! Every conformance case is an `async fn case(backend: Backend)`; `both!(case);` turns it into
//! `mod case { async fn sqlite(); async fn postgres(); }` so that each case runs on both stores.

// Every test binary uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub, unused_macros)]

use std::collections::BTreeSet;
use std::ops::Deref;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nhost_auth_emulator::{Config, Database, Email, Emulator};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use uuid::Uuid;

/// Generates the SQLite and PostgreSQL variants of conformance cases:
/// `both!(name);` expands to `mod name { sqlite(), postgres() }`, each calling `name(backend)`.
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::common::Backend::Postgres).await;
            }
        }
    )+};
}

/// Where the emulator under test keeps its users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A private in-memory SQLite database.
    Sqlite,
    /// A fresh database on the PostgreSQL server named by `NHOST_TEST_DATABASE_URL`.
    Postgres,
}

/// The environment variable holding an admin URL of a throwaway PostgreSQL server.
pub const PG_ENV: &str = "NHOST_TEST_DATABASE_URL";

/// The default `AUTH_CLIENT_URL`, which is also the default `redirectTo`.
pub const CLIENT_URL: &str = "http://localhost:3000";

/// The claims namespace Hasura reads.
pub const NS: &str = "https://hasura.io/jwt/claims";

/// A password long enough for every default.
pub const PASSWORD: &str = "correct-horse-battery";

/// Keys of a `User` without email and phone number (both are omitted when null).
pub const USER_KEYS: [&str; 12] = [
    "activeMfaType",
    "avatarUrl",
    "createdAt",
    "defaultRole",
    "displayName",
    "emailVerified",
    "id",
    "isAnonymous",
    "locale",
    "metadata",
    "phoneNumberVerified",
    "roles",
];

/// Keys of a `Session`.
pub const SESSION_KEYS: [&str; 5] = [
    "accessToken",
    "accessTokenExpiresIn",
    "refreshToken",
    "refreshTokenId",
    "user",
];

/// A database created for one test, on the server named by [`PG_ENV`]; dropped (best effort)
/// with the test's [`Server`], so that a long-lived server does not fill up.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// Its URL, for `Database::Postgres`.
    pub url: String,
}

/// Creates `nhost_test_<uuid>` on the server named by [`PG_ENV`].
pub async fn fresh_postgres_database() -> PgDatabase {
    let admin = std::env::var(PG_ENV).ok().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| {
        panic!(
            "{PG_ENV} is not set: run `cargo xtask test`, which starts a throwaway PostgreSQL \
             (or set it yourself to an admin URL such as postgres://postgres@127.0.0.1:5432/postgres)"
        )
    });
    let name = format!("nhost_test_{}", Uuid::new_v4().simple());
    // The URL may hold a password: never print it.
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to the PostgreSQL server named by {PG_ENV}: {e}")
        });
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| {
            panic!("CREATE DATABASE {name} failed on the server named by {PG_ENV}: {e}")
        });
    let _ = conn.close().await;
    let url = url_with_database(&admin, &name);
    PgDatabase { admin, name, url }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // This runs inside the test's runtime, which cannot block on a future: use a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    // FORCE: the emulator's pool may still hold connections.
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(&sql).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// `postgres://user@host:port/admin_db?opts` → `postgres://user@host:port/<name>?opts`.
pub fn url_with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base
        .find("://")
        .map(|i| i + 3)
        .unwrap_or_else(|| panic!("{PG_ENV} must be a postgres:// URL"));
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A started emulator plus an HTTP client that does not follow redirects (to see `/verify`'s 302).
pub struct Server {
    pub emu: Emulator,
    pub http: reqwest::Client,
    pub backend: Backend,
    /// Declared after `emu`, so dropped after it.
    database: Option<PgDatabase>,
}

impl Deref for Server {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        &self.emu
    }
}

/// Starts an emulator on `backend` with the test defaults (bcrypt cost 4), adjusted by `tweak`.
pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config::default();
    config.bcrypt_cost = 4;
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    config.database = match &database {
        None => Database::SqliteMemory,
        Some(db) => Database::Postgres(db.url.clone()),
    };
    tweak(&mut config);
    let emu = Emulator::start(config)
        .await
        .unwrap_or_else(|e| panic!("the emulator did not start on {backend:?}: {e}"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client");
    Server {
        emu,
        http,
        backend,
        database,
    }
}

/// Starts an emulator with the defaults (anonymous users on, email verification required).
pub async fn start_default(backend: Backend) -> Server {
    start(backend, |_| {}).await
}

/// A response, read to the end.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The body as JSON; panics with the status and body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "expected a JSON body, got HTTP {} {:?}: {e}",
                self.status,
                self.text()
            )
        })
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `HTTP 401 {"error":…}`, for assertion messages.
    pub fn describe(&self) -> String {
        format!("HTTP {} {}", self.status, self.text())
    }
}

impl Server {
    /// The URL of a protocol route.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.emu.url())
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed on {:?}: {e}", self.backend));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res
            .bytes()
            .await
            .expect("a readable response body")
            .to_vec();
        Reply {
            status,
            headers,
            bytes,
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.http.post(self.endpoint(path)).json(body))
            .await
    }

    /// `POST path` with a JSON body and `Authorization: Bearer <token>`.
    pub async fn post_auth(&self, path: &str, bearer: &str, body: &Value) -> Reply {
        self.send(
            self.http
                .post(self.endpoint(path))
                .bearer_auth(bearer)
                .json(body),
        )
        .await
    }

    /// `POST path` with these exact body bytes, labelled `Content-Type: application/json`.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<Vec<u8>>,
        bearer: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .post(self.endpoint(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.into());
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// `POST path` with no body and no content type at all.
    pub async fn post_nothing(&self, path: &str) -> Reply {
        self.send(self.http.post(self.endpoint(path))).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.endpoint(path))).await
    }

    /// `GET path` with `Authorization: Bearer <token>`.
    pub async fn get_auth(&self, path: &str, bearer: &str) -> Reply {
        self.send(self.http.get(self.endpoint(path)).bearer_auth(bearer))
            .await
    }

    /// `POST /signin/anonymous` without a body; asserts 200 and returns the session.
    pub async fn sign_in_anonymous(&self) -> Value {
        let r = self.post_nothing("/signin/anonymous").await;
        assert_eq!(
            r.status,
            200,
            "anonymous sign-in should succeed: {}",
            r.describe()
        );
        let body = r.json();
        assert_eq!(
            keys(&body),
            set(&["session"]),
            "anonymous sign-in answers {{\"session\": …}} only: {body}"
        );
        body["session"].clone()
    }

    /// `POST /token`.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post("/token", &json!({ "refreshToken": refresh_token }))
            .await
    }

    /// `POST /token`, asserting 200; returns the (bare) session.
    pub async fn refresh_ok(&self, refresh_token: &str) -> Value {
        let r = self.refresh(refresh_token).await;
        assert_eq!(r.status, 200, "refreshing should succeed: {}", r.describe());
        r.json()
    }

    /// `POST /signup/email-password`.
    pub async fn sign_up(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/signup/email-password",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// `POST /signin/email-password`.
    pub async fn sign_in(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/signin/email-password",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// `POST /signin/email-password`, asserting 200; returns the session.
    pub async fn sign_in_ok(&self, email: &str, password: &str) -> Value {
        let r = self.sign_in(email, password).await;
        assert_eq!(
            r.status,
            200,
            "email+password sign-in should succeed: {}",
            r.describe()
        );
        let body = r.json();
        assert_eq!(
            keys(&body),
            set(&["session"]),
            "sign-in answers {{\"session\": …}}: {body}"
        );
        body["session"].clone()
    }

    /// A registered user's session, whatever the verification setting: signs up, follows the
    /// verification link when one is sent, and signs in.
    pub async fn registered_session(&self, email: &str, password: &str) -> Value {
        let r = self.sign_up(email, password).await;
        assert_eq!(r.status, 200, "sign-up should succeed: {}", r.describe());
        let body = r.json();
        if let Some(session) = body.get("session") {
            return session.clone();
        }
        let mail = self.last_email(email);
        self.follow_link(&mail.link).await;
        self.sign_in_ok(email, password).await
    }

    /// The newest email sent to `to`; panics when there is none.
    pub fn last_email(&self, to: &str) -> Email {
        self.mailbox()
            .to(to)
            .pop()
            .unwrap_or_else(|| panic!("no email was sent to {to}"))
    }

    /// Follows an email link; asserts the protocol's `302` to the client URL with a refresh
    /// token and returns the redirect's query parameters.
    pub async fn follow_link(&self, link: &str) -> Vec<(String, String)> {
        let r = self.send(self.http.get(link)).await;
        assert_eq!(
            r.status,
            302,
            "following {link} should redirect: {}",
            r.describe()
        );
        let location = r
            .header("location")
            .unwrap_or_else(|| panic!("a 302 needs a Location header: {link}"));
        let (base, query) = location.split_once('?').unwrap_or((location, ""));
        assert_eq!(
            base.trim_end_matches('/'),
            CLIENT_URL,
            "verify must redirect to the client URL, got {location}"
        );
        let params = parse_query(query);
        assert!(
            param(&params, "error").is_none(),
            "verify redirected with an error: {location}"
        );
        let token = param(&params, "refreshToken")
            .unwrap_or_else(|| panic!("no refreshToken in {location}"));
        assert_uuid_v4(token, "the refreshToken of the verify redirect");
        params
    }

    /// `POST /_emulator{path}` (the emulator-only routes live outside the API prefix) with the
    /// `X-Nhost-Emulator` header that state-changing emulator requests need.
    pub async fn emulator_post(&self, path: &str) -> Reply {
        let url = format!("http://{}/_emulator{path}", self.emu.addr());
        self.send(self.http.post(url).header("x-nhost-emulator", "1"))
            .await
    }

    /// `POST /_emulator/users/{id}/disable`, asserting it worked.
    pub async fn disable_user(&self, id: &str) {
        let r = self.emulator_post(&format!("/users/{id}/disable")).await;
        assert_eq!(
            r.status,
            200,
            "disabling a user should work: {}",
            r.describe()
        );
    }
}

/// The value of a query parameter.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits and percent-decodes `a=1&b=x%20y`.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(
                    u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape in {s}")),
                );
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 after percent-decoding")
}

/// The keys of a JSON object (empty for anything else).
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A set of keys, to compare with [`keys`].
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// `USER_KEYS` plus `extra`.
pub fn user_keys_with(extra: &[&str]) -> BTreeSet<String> {
    let mut k = set(&USER_KEYS);
    k.extend(extra.iter().map(|s| (*s).to_owned()));
    k
}

/// A string field of a JSON value; panics with the value when missing.
pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` should be a string in {v}"))
}

/// The user id of a session.
pub fn user_id(session: &Value) -> String {
    str_field(&session["user"], "id").to_owned()
}

/// The refresh token of a session.
pub fn refresh_token(session: &Value) -> String {
    str_field(session, "refreshToken").to_owned()
}

/// The access token of a session.
pub fn access_token(session: &Value) -> String {
    str_field(session, "accessToken").to_owned()
}

/// A lowercase, hyphenated UUID.
pub fn assert_uuid(s: &str, what: &str) -> Uuid {
    let id =
        Uuid::try_parse(s).unwrap_or_else(|e| panic!("{what} should be a UUID, got {s:?}: {e}"));
    assert_eq!(
        s,
        id.hyphenated().to_string(),
        "{what} should be a lowercase hyphenated UUID"
    );
    id
}

/// A lowercase, hyphenated, random (version 4) UUID.
pub fn assert_uuid_v4(s: &str, what: &str) -> Uuid {
    let id = assert_uuid(s, what);
    assert_eq!(
        id.get_version_num(),
        4,
        "{what} should be a version 4 (random) UUID, got {s}"
    );
    id
}

/// Shape 1: `{"status", "error", "message"}` exactly, with HTTP status = `status`.
pub fn assert_handler_error(r: &Reply, status: u16, id: &str) {
    assert_eq!(
        r.status,
        status,
        "expected HTTP {status} {id}, got {}",
        r.describe()
    );
    let body = r.json();
    assert_eq!(
        keys(&body),
        set(&["status", "error", "message"]),
        "a handler error is {{status, error, message}}: {body}"
    );
    assert_eq!(
        body["status"],
        json!(status),
        "the body's status equals the HTTP status: {body}"
    );
    assert_eq!(body["error"], json!(id), "error id: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message should be a non-empty string: {body}"
    );
}

/// Shape 1 or 2: HTTP `status` and a JSON object with a non-empty string `error` (and, when a
/// `status` key is present, it equals the HTTP status). Returns the error id.
pub fn assert_error(r: &Reply, status: u16) -> String {
    assert_eq!(
        r.status,
        status,
        "expected HTTP {status}, got {}",
        r.describe()
    );
    assert_error_body(r)
}

/// Any 4xx (never 5xx) with a JSON body carrying a string `error`. Returns the error id.
pub fn assert_client_error(r: &Reply, what: &str) -> String {
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx, got {}",
        r.describe()
    );
    assert_error_body(r)
}

fn assert_error_body(r: &Reply) -> String {
    let body = r.json();
    assert!(
        body.is_object(),
        "an error body is a JSON object: {}",
        r.describe()
    );
    let id = body["error"]
        .as_str()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "an error body has a non-empty string `error`: {}",
                r.describe()
            )
        });
    if let Some(s) = body.get("status") {
        assert_eq!(
            s,
            &json!(r.status),
            "the body's status equals the HTTP status: {}",
            r.describe()
        );
    }
    id.to_owned()
}

/// A `Session`'s exact keys and field types. Returns the user id.
pub fn assert_session_shape(session: &Value, access_ttl: u64) -> Uuid {
    assert_eq!(
        keys(session),
        set(&SESSION_KEYS),
        "Session keys (and no `mfa`): {session}"
    );
    let at = str_field(session, "accessToken");
    assert_eq!(
        at.split('.').count(),
        3,
        "accessToken should be a JWT: {at}"
    );
    assert_eq!(
        session["accessTokenExpiresIn"],
        json!(access_ttl),
        "accessTokenExpiresIn: {session}"
    );
    assert_uuid_v4(str_field(session, "refreshToken"), "refreshToken");
    assert_uuid(str_field(session, "refreshTokenId"), "refreshTokenId");
    assert_user_shape(&session["user"])
}

/// A `User`'s field types (not values); `email`/`phoneNumber` may be absent but never null.
pub fn assert_user_shape(user: &Value) -> Uuid {
    assert!(user.is_object(), "user should be an object: {user}");
    let id = assert_uuid(str_field(user, "id"), "user.id");
    let created = str_field(user, "createdAt");
    let when = chrono::DateTime::parse_from_rfc3339(created)
        .unwrap_or_else(|e| panic!("createdAt should be RFC 3339, got {created:?}: {e}"));
    let age = chrono::Utc::now().signed_duration_since(when);
    assert!(
        age.num_minutes().abs() < 10,
        "createdAt should be about now, got {created}"
    );
    for k in ["displayName", "avatarUrl", "locale", "defaultRole"] {
        str_field(user, k);
    }
    for k in ["isAnonymous", "emailVerified", "phoneNumberVerified"] {
        assert!(user[k].is_boolean(), "user.{k} should be a boolean: {user}");
    }
    assert!(
        user["roles"]
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string)),
        "user.roles should be an array of strings: {user}"
    );
    assert!(
        user["metadata"].is_null() || user["metadata"].is_object(),
        "user.metadata: {user}"
    );
    assert!(
        user["activeMfaType"].is_null() || user["activeMfaType"].is_string(),
        "user.activeMfaType: {user}"
    );
    for k in ["email", "phoneNumber"] {
        if let Some(v) = user.get(k) {
            assert!(
                v.is_string(),
                "user.{k} is omitted when null, never null: {user}"
            );
        }
    }
    let allowed = user_keys_with(&["email", "phoneNumber"]);
    assert!(
        keys(user).is_subset(&allowed),
        "unexpected keys in user: {user}"
    );
    id
}

/// A fresh anonymous user with the server defaults and role `role`: every field, exactly.
pub fn assert_anonymous_user(user: &Value, role: &str) {
    assert_user_shape(user);
    assert_eq!(
        keys(user),
        set(&USER_KEYS),
        "an anonymous user has no email nor phoneNumber key: {user}"
    );
    assert_eq!(user["displayName"], "Anonymous User", "displayName: {user}");
    assert_eq!(user["avatarUrl"], "", "avatarUrl: {user}");
    assert_eq!(user["locale"], "en", "locale: {user}");
    assert_eq!(user["isAnonymous"], true, "isAnonymous: {user}");
    assert_eq!(user["defaultRole"], role, "defaultRole: {user}");
    assert_eq!(user["roles"], json!([role]), "roles: {user}");
    assert_eq!(user["metadata"], Value::Null, "metadata: {user}");
    assert_eq!(user["emailVerified"], false, "emailVerified: {user}");
    assert_eq!(
        user["phoneNumberVerified"], false,
        "phoneNumberVerified: {user}"
    );
    assert_eq!(user["activeMfaType"], Value::Null, "activeMfaType: {user}");
}

/// A registered (de-anonymised or signed-up) user with the default registered roles.
pub fn assert_registered_user(user: &Value, email: &str) {
    assert_user_shape(user);
    assert_eq!(
        keys(user),
        user_keys_with(&["email"]),
        "a registered user has an email (and no phoneNumber): {user}"
    );
    assert_eq!(user["email"], email, "email: {user}");
    assert_eq!(user["isAnonymous"], false, "isAnonymous: {user}");
    assert_eq!(user["defaultRole"], "user", "defaultRole: {user}");
    assert_eq!(user["roles"], json!(["me", "user"]), "roles: {user}");
}

/// The header and the claims of a JWT, decoded without checking the signature.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let decode = |p: &str, what: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(p)
            .unwrap_or_else(|e| panic!("JWT {what} is not base64url: {e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT {what} is not JSON: {e}"))
    };
    (decode(parts[0], "header"), decode(parts[1], "payload"))
}

/// The Hasura claims of an access token.
pub fn hasura_claims(token: &str) -> Value {
    let (_, claims) = jwt_parts(token);
    let ns = claims[NS].clone();
    assert!(
        ns.is_object(),
        "the token should carry the {NS} namespace: {claims}"
    );
    ns
}

/// HMAC-SHA256 (RFC 2104), so that tests can check and forge HS256 tokens without a JWT library.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Signs `header.claims` with HS256 and `key`.
pub fn sign_hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("header JSON"));
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims JSON"));
    let input = format!("{h}.{c}");
    let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(key, input.as_bytes()));
    format!("{input}.{sig}")
}

/// Whether an HS256 token's signature matches `key`.
pub fn hs256_signature_valid(token: &str, key: &[u8]) -> bool {
    let Some((input, sig)) = token.rsplit_once('.') else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(sig)
        .is_ok_and(|sig| sig == hmac_sha256(key, input.as_bytes()))
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The emulator's own binary (`CARGO_BIN_EXE_nhost-auth-emulator`) on a free port of loopback,
/// storing in `database_url` (a SQLite path or a PostgreSQL URL): the child and the URL its
/// first stdout line names. Its output is drained so it never writes into a closed pipe. For
/// the tests that kill the process.
pub fn start_binary(database_url: impl AsRef<std::ffi::OsStr>) -> (std::process::Child, String) {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nhost-auth-emulator"))
        .args(["--port", "0", "--database-url"])
        .arg(database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the emulator binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    lines.read_line(&mut line).expect("a first line on stdout");
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("first stdout line names the URL, got {line:?}"))
        .to_owned();
    (child, url)
}
