//! Domain types: sessions, users, Hasura claims, and the secret-token newtypes.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use web_time::{SystemTime, UNIX_EPOCH};

use crate::error::AuthError;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Its `Debug` prints `[redacted]`; read it with [`Self::expose`] where it is really needed.
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a token.
            pub fn new(token: impl Into<String>) -> Self {
                Self(token.into())
            }
            /// The token itself. Never log it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret!(
    /// A JWT access token: send it as `Authorization: Bearer …` to Hasura.
    AccessToken
);
secret!(
    /// A refresh token: a one-time secret exchanged for a new session at `POST /token`.
    RefreshToken
);

impl RefreshToken {
    /// Whether there is no token: a session held in server-session mode
    /// ([`NhostClientBuilder::session_endpoints`](crate::NhostClientBuilder::session_endpoints)),
    /// whose refresh token stays on the site's server.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which session a refresh, a deadline or a retry belongs to — the identity the client and its
/// state machine compare, and the single-flight key of a refresh.
///
/// In direct mode it is the refresh token itself (what a refresh sends, so a flight is "the
/// refresh of this token"). A session held in server-session mode has no refresh token; its key
/// is a digest of its access token, which changes with every refresh. The digest is an
/// identifier, not a secret, and nothing sends it anywhere.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey(String);

impl SessionKey {
    /// The key of `session`.
    pub(crate) fn of(session: &Session) -> SessionKey {
        if session.refresh_token.is_empty() {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::hash::DefaultHasher::new();
            session.access_token.expose().hash(&mut hasher);
            // `\0` first: never equal to a refresh token (a UUID) nor to another key kind.
            SessionKey(format!("\u{0}session:{:016x}", hasher.finish()))
        } else {
            Self::of_token(&session.refresh_token)
        }
    }

    /// The key of the session that `token` refreshes (a stored token without its session).
    pub(crate) fn of_token(token: &RefreshToken) -> SessionKey {
        SessionKey(token.expose().to_owned())
    }

    /// The key of restoring a session held by the site's server (server-session mode, start-up).
    pub(crate) fn restore() -> SessionKey {
        SessionKey("\u{0}restore".to_owned())
    }

    /// The single-flight key.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// A user as the auth server describes it.
///
/// Read leniently: only `id` is required; any other field that is missing, `null` or of an
/// unexpected type takes its default. A `/token` answer is only read *after* the server rotated
/// the refresh token, so refusing it over a field the client does not need would lose the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// The user id (a UUID).
    pub id: String,
    /// When the user was created (RFC 3339).
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: String,
    /// Display name (`Anonymous User` for anonymous users).
    #[serde(default, deserialize_with = "lenient")]
    pub display_name: String,
    /// Avatar URL (may be empty).
    #[serde(default, deserialize_with = "lenient")]
    pub avatar_url: String,
    /// Two-letter locale.
    #[serde(default, deserialize_with = "lenient")]
    pub locale: String,
    /// Email, absent for anonymous users.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    /// Phone number, if any.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_number: Option<String>,
    /// Whether the user signed in anonymously and has not been deanonymized.
    #[serde(default, deserialize_with = "lenient")]
    pub is_anonymous: bool,
    /// The default Hasura role.
    #[serde(default, deserialize_with = "lenient")]
    pub default_role: String,
    /// Every role the user may use.
    #[serde(default, deserialize_with = "lenient")]
    pub roles: Vec<String>,
    /// Free-form metadata (`null` when none).
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Whether the email is verified.
    #[serde(default, deserialize_with = "lenient")]
    pub email_verified: bool,
    /// Whether the phone number is verified.
    #[serde(default, deserialize_with = "lenient")]
    pub phone_number_verified: bool,
    /// Active MFA type, if any.
    #[serde(default, deserialize_with = "lenient")]
    pub active_mfa_type: Option<String>,
}

/// Reads any JSON value, then `T` from it, or `T::default()` when it is not a `T`.
pub(crate) fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// The Hasura claims of an access token, decoded (not verified: the client has no key, and
/// needs none — Hasura and the server verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HasuraClaims {
    /// `x-hasura-user-id`.
    pub user_id: String,
    /// `x-hasura-default-role`.
    pub default_role: String,
    /// `x-hasura-allowed-roles`.
    pub allowed_roles: Vec<String>,
    /// `x-hasura-user-is-anonymous`, sent as the string `"true"`/`"false"`.
    pub is_anonymous: bool,
}

/// What could be read from an access token's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedToken {
    pub(crate) claims: HasuraClaims,
    pub(crate) exp: Option<u64>,
}

/// Decodes the payload of a JWT: base64url JSON with Hasura's claims namespace.
pub(crate) fn decode_access_token(token: &str, namespace: &str) -> Option<DecodedToken> {
    let payload = token.split('.').nth(1)?;
    let json = parse_payload(payload.trim_end_matches('='))?;
    let ns = json.get(namespace)?;
    let text = |key: &str| ns.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let allowed_roles = match ns.get("x-hasura-allowed-roles") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        // Some setups send the list as a Postgres array literal string: `{a,b}`.
        Some(serde_json::Value::String(s)) => s
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|r| r.trim().trim_matches('"').to_owned())
            .filter(|r| !r.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    let is_anonymous = match ns.get("x-hasura-user-is-anonymous") {
        Some(serde_json::Value::String(s)) => s == "true",
        Some(serde_json::Value::Bool(b)) => *b,
        _ => false,
    };
    Some(DecodedToken {
        claims: HasuraClaims {
            user_id: text("x-hasura-user-id")
                .or_else(|| json.get("sub")?.as_str().map(str::to_owned))?,
            default_role: text("x-hasura-default-role").unwrap_or_default(),
            allowed_roles,
            is_anonymous,
        },
        exp: json.get("exp").and_then(|v| v.as_u64()),
    })
}

/// The JSON of a JWT payload (base64url without padding): `base64`'s decoder and serde_json.
#[cfg(not(target_arch = "wasm32"))]
fn parse_payload(payload: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The JSON of a JWT payload (base64url without padding): the browser's `atob` and `JSON`.
/// `atob` is the more forgiving decoder, which changes nothing for a token the server made.
#[cfg(target_arch = "wasm32")]
fn parse_payload(payload: &str) -> Option<serde_json::Value> {
    let bytes = crate::js::base64url_decode(payload)?;
    crate::js::parse(std::str::from_utf8(&bytes).ok()?).ok()
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    #[cfg(test)]
    let now = now.saturating_add_signed(test_clock::SKEW.with(std::cell::Cell::get));
    now
}

/// Unit tests move this thread's wall clock (a user fixing their clock, a VM resuming).
#[cfg(test)]
pub(crate) mod test_clock {
    thread_local! {
        /// Seconds added to the wall clock on this thread.
        pub(crate) static SKEW: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    }
}

/// A signed-in session.
///
/// It serialises (with its tokens — treat the output as a secret) so a server can hand the
/// session it rendered a page with to the browser's client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Session {
    /// The access token (a JWT).
    pub access_token: AccessToken,
    /// Lifetime of the access token in seconds, as the server said when issuing it.
    pub access_token_expires_in: u64,
    /// When the access token expires, in seconds since the Unix epoch.
    pub access_token_expires_at: u64,
    /// The refresh token (rotated by every refresh). Empty ([`RefreshToken::is_empty`]) in
    /// server-session mode: the site's server keeps it, and the client never sends one.
    pub refresh_token: RefreshToken,
    /// The refresh token's row id (stable across rotations); empty in server-session mode.
    pub refresh_token_id: String,
    /// The user, when the server sent it.
    pub user: Option<User>,
    /// The Hasura claims decoded from the access token.
    pub claims: Option<HasuraClaims>,
}

impl Session {
    /// Builds a session from the server's `Session` JSON, received at `received_at` (Unix seconds).
    pub(crate) fn from_wire(
        wire: crate::api::SessionWire,
        received_at: u64,
        namespace: &str,
    ) -> Self {
        let decoded = decode_access_token(&wire.access_token, namespace);
        // Trust the server's `accessTokenExpiresIn` relative to our clock rather than the
        // token's `exp`, so a skewed client clock does not make every token look expired.
        let expires_at = received_at.saturating_add(wire.access_token_expires_in);
        Session {
            access_token: AccessToken::new(wire.access_token),
            access_token_expires_in: wire.access_token_expires_in,
            access_token_expires_at: expires_at,
            refresh_token: RefreshToken::new(wire.refresh_token),
            refresh_token_id: wire.refresh_token_id.unwrap_or_default(),
            user: wire.user,
            claims: decoded.map(|d| d.claims),
        }
    }

    /// Builds a session from a session endpoint's `PublicSession` JSON (server-session mode),
    /// received at `received_at`: no refresh token, no id — the site's server keeps them.
    pub(crate) fn from_public_wire(
        wire: crate::api::PublicSessionWire,
        received_at: u64,
        namespace: &str,
    ) -> Self {
        let decoded = decode_access_token(&wire.access_token, namespace);
        Session {
            access_token: AccessToken::new(wire.access_token),
            access_token_expires_in: wire.access_token_expires_in,
            access_token_expires_at: received_at.saturating_add(wire.access_token_expires_in),
            refresh_token: RefreshToken::new(String::new()),
            refresh_token_id: String::new(),
            user: wire.user,
            claims: decoded.map(|d| d.claims),
        }
    }

    /// Reads `{"session": PublicSession | null}` — the answer of every session endpoint of a
    /// full-stack site (nhost-ssr's `session_routes()`), and the JSON nhost-ssr's
    /// `session_script` writes into a server-rendered page: `Ok(Some(_))` for a session,
    /// `Ok(None)` for `null` (the page was rendered signed out).
    ///
    /// The session has no refresh token and no id (the site's server keeps them), its claims
    /// are decoded with [`DEFAULT_CLAIMS_NAMESPACE`](crate::DEFAULT_CLAIMS_NAMESPACE) (a client
    /// built with another namespace decodes them again with its own), and its
    /// `access_token_expires_in` — the seconds the token had left when the server wrote it —
    /// is counted from now. Hand it to
    /// [`NhostClientBuilder::server_rendered`](crate::NhostClientBuilder::server_rendered).
    ///
    /// ```
    /// let json = r#"{"session":{"accessToken":"a.b.c","accessTokenExpiresIn":900,"user":null}}"#;
    /// let session = nhost_core::Session::from_public_json(json)?.expect("signed in");
    /// assert!(session.refresh_token.is_empty());
    /// assert_eq!(nhost_core::Session::from_public_json(r#"{"session":null}"#)?, None);
    /// # Ok::<(), nhost_core::AuthError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid-response` (status 1) when `json` is not that shape.
    pub fn from_public_json(json: &str) -> Result<Option<Session>, AuthError> {
        let payload: crate::api::PublicPayload = crate::api::decode(json.to_owned())?;
        Ok(payload.session.map(|wire| {
            Session::from_public_wire(wire, unix_now(), crate::client::DEFAULT_CLAIMS_NAMESPACE)
        }))
    }

    /// The same session with its claims decoded from the access token under `namespace`.
    pub(crate) fn with_claims_from(mut self, namespace: &str) -> Session {
        self.claims = decode_access_token(self.access_token.expose(), namespace).map(|d| d.claims);
        self
    }

    /// This session without its refresh token and id: what a client in server-session mode
    /// holds when it is handed a whole session.
    pub(crate) fn without_refresh_token(mut self) -> Session {
        self.refresh_token = RefreshToken::new(String::new());
        self.refresh_token_id = String::new();
        self
    }

    /// The user id, from the user or the claims.
    pub fn user_id(&self) -> Option<&str> {
        self.user
            .as_ref()
            .map(|u| u.id.as_str())
            .or_else(|| self.claims.as_ref().map(|c| c.user_id.as_str()))
    }

    /// Whether the user is anonymous (from the user, else the claims).
    pub fn is_anonymous(&self) -> bool {
        match (&self.user, &self.claims) {
            (Some(u), _) => u.is_anonymous,
            (None, Some(c)) => c.is_anonymous,
            (None, None) => false,
        }
    }

    /// Time left before the access token expires (zero when it has).
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(self.access_token_expires_at.saturating_sub(unix_now()))
    }

    /// This session as it should be handed to another client — the browser's, a handler's:
    /// `access_token_expires_in` becomes the time left now. [`NhostClient::adopt_session`] and
    /// [`NhostClientBuilder::initial_session`] count that from their own clock, so a receiver
    /// whose clock is off by minutes still refreshes on time.
    ///
    /// [`NhostClient::adopt_session`]: crate::NhostClient::adopt_session
    /// [`NhostClientBuilder::initial_session`]: crate::NhostClientBuilder::initial_session
    pub fn handed_over(&self) -> Session {
        let mut s = self.clone();
        s.access_token_expires_in = self.expires_in().as_secs();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: serde_json::Value) -> String {
        use base64::Engine as _;
        let enc = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.sig",
            enc(&serde_json::json!({"alg": "HS256"})),
            enc(&payload)
        )
    }

    #[test]
    fn decodes_hasura_claims() {
        let ns = "https://hasura.io/jwt/claims";
        let cases = [
            (
                serde_json::json!({"x-hasura-user-is-anonymous": "true"}),
                true,
            ),
            (
                serde_json::json!({"x-hasura-user-is-anonymous": "false"}),
                false,
            ),
            (
                serde_json::json!({"x-hasura-user-is-anonymous": true}),
                true,
            ),
            (serde_json::json!({}), false),
        ];
        for (extra, anonymous) in cases {
            let mut claims = serde_json::json!({
                "x-hasura-user-id": "u1",
                "x-hasura-default-role": "public",
                "x-hasura-allowed-roles": ["public"],
            });
            claims
                .as_object_mut()
                .expect("object")
                .extend(extra.as_object().expect("object").clone());
            let token = jwt(serde_json::json!({ ns: claims, "exp": 42, "sub": "u1" }));
            let d = decode_access_token(&token, ns).expect("decodes");
            assert_eq!(d.claims.user_id, "u1");
            assert_eq!(d.claims.default_role, "public");
            assert_eq!(d.claims.allowed_roles, ["public"]);
            assert_eq!(d.claims.is_anonymous, anonymous, "{extra}");
            assert_eq!(d.exp, Some(42));
        }
        let pg_array = jwt(
            serde_json::json!({ns: {"x-hasura-user-id": "u", "x-hasura-allowed-roles": "{me,user}"}}),
        );
        assert_eq!(
            decode_access_token(&pg_array, ns)
                .expect("decodes")
                .claims
                .allowed_roles,
            ["me", "user"]
        );
        for garbage in [
            "",
            "a.b.c",
            "x.!!!.y",
            &jwt(serde_json::json!({"no": "namespace"})),
        ] {
            assert_eq!(decode_access_token(garbage, ns), None, "{garbage}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let a = AccessToken::new("eyJsecret");
        let r = RefreshToken::new("1fb17604-86c7-444e-b337-09a644465f2d");
        assert_eq!(format!("{a:?}"), "AccessToken([redacted])");
        assert_eq!(format!("{r:?}"), "RefreshToken([redacted])");
        let s = Session {
            access_token: a,
            access_token_expires_in: 900,
            access_token_expires_at: 0,
            refresh_token: r,
            refresh_token_id: "id".into(),
            user: None,
            claims: None,
        };
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("eyJsecret") && !debug.contains("1fb17604"),
            "{debug}"
        );
    }
}
