//! The JSON of the wire and session types, mapped by hand over [`serde_json::Value`].
//!
//! In the browser the text itself is parsed and written by the JavaScript engine's `JSON`
//! (see `js.rs`): serde_json's parser and the serde-derived visitors cost about 25 KB of gzipped
//! bundle, this mapping a fraction of that. Natively the serde derives do the work; the tests
//! below hold this mapping to exactly what they produce and accept.
//!
//! Decoding follows serde's rules for the derived types: unknown fields are ignored, a missing
//! `#[serde(default)]` field takes its default, a missing or `null` `Option` is `None`, and a
//! present field of the wrong type rejects the whole value. (serde also reads a struct from an
//! array of its fields in order; nothing sends that, and this mapping does not read it.)

use serde_json::{Map, Value};

#[cfg(feature = "server-session")]
use crate::api::SessionSignOutRequest;
use crate::api::{
    DeanonymizeRequest, EmailPasswordRequest, PasswordlessEmailRequest, PublicPayload,
    PublicSessionWire, RefreshTokenRequest, SessionPayload, SessionWire, SignOutRequest,
    TokenExchangeRequest,
};
use crate::options::{SignInAnonymousOptions, SignUpOptions};
use crate::session::{AccessToken, HasuraClaims, RefreshToken, Session, User};

/// Why a value could not be decoded.
pub(crate) type Invalid = String;

/// Encodes a value as the serde derive would.
pub(crate) trait ToJson {
    fn to_json(&self) -> Value;
}

/// Decodes a value as the serde derive would.
pub(crate) trait FromJson: Sized {
    fn from_json(value: &Value) -> Result<Self, Invalid>;
}

fn invalid(key: &str) -> Invalid {
    format!("missing or invalid field `{key}`")
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Invalid> {
    value
        .as_object()
        .ok_or_else(|| format!("expected {what} object"))
}

/// Required string.
fn string(o: &Map<String, Value>, key: &str) -> Result<String, Invalid> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(invalid(key)),
    }
}

/// `Option<String>`: missing or `null` is `None`.
fn opt_string(o: &Map<String, Value>, key: &str) -> Result<Option<String>, Invalid> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(o, key).map(Some),
    }
}

/// Required `u64`.
fn u64(o: &Map<String, Value>, key: &str) -> Result<u64, Invalid> {
    o.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(key))
}

/// Required (or, with `or_default`, defaulted) `Vec<String>`.
fn strings(o: &Map<String, Value>, key: &str, or_default: bool) -> Result<Vec<String>, Invalid> {
    match o.get(key) {
        None if or_default => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| invalid(key)))
            .collect(),
        _ => Err(invalid(key)),
    }
}

/// `Option<T>`: missing or `null` is `None`.
fn opt<T: FromJson>(o: &Map<String, Value>, key: &str) -> Result<Option<T>, Invalid> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::from_json(v).map(Some),
    }
}

/// Builds an object from `(key, value)` pairs, leaving out the `None`s
/// (`skip_serializing_if = "Option::is_none"`). One loop of inserts, not `collect` (which
/// sorts first, and would be instantiated once per object size).
fn build(fields: &mut [(&'static str, Option<Value>)]) -> Value {
    let mut map = Map::new();
    for (k, v) in fields {
        if let Some(v) = v.take() {
            map.insert((*k).to_owned(), v);
        }
    }
    Value::Object(map)
}

fn text(s: &str) -> Option<Value> {
    Some(Value::String(s.to_owned()))
}

fn opt_text(s: &Option<String>) -> Option<Value> {
    s.as_deref().and_then(text)
}

fn texts(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

fn opt_map(m: &Option<Map<String, Value>>) -> Option<Value> {
    m.clone().map(Value::Object)
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_json)
    }
}

impl FromJson for String {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "expected a string".to_owned())
    }
}

/// A lenient `String` (`crate::session::lenient`): anything but a string is empty.
fn lenient_string(o: &Map<String, Value>, key: &str) -> String {
    string(o, key).unwrap_or_default()
}

/// A lenient `Option<String>`: anything but a string is `None`.
fn lenient_opt_string(o: &Map<String, Value>, key: &str) -> Option<String> {
    string(o, key).ok()
}

/// A lenient `bool`: anything but a boolean is `false`.
fn lenient_bool(o: &Map<String, Value>, key: &str) -> bool {
    o.get(key).and_then(Value::as_bool).unwrap_or_default()
}

impl FromJson for User {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a user")?;
        Ok(User {
            id: string(o, "id")?,
            created_at: lenient_string(o, "createdAt"),
            display_name: lenient_string(o, "displayName"),
            avatar_url: lenient_string(o, "avatarUrl"),
            locale: lenient_string(o, "locale"),
            email: lenient_opt_string(o, "email"),
            phone_number: lenient_opt_string(o, "phoneNumber"),
            is_anonymous: lenient_bool(o, "isAnonymous"),
            default_role: lenient_string(o, "defaultRole"),
            roles: strings(o, "roles", false).unwrap_or_default(),
            metadata: o.get("metadata").cloned().unwrap_or_default(),
            email_verified: lenient_bool(o, "emailVerified"),
            phone_number_verified: lenient_bool(o, "phoneNumberVerified"),
            active_mfa_type: lenient_opt_string(o, "activeMfaType"),
        })
    }
}

impl ToJson for User {
    fn to_json(&self) -> Value {
        build(&mut [
            ("id", text(&self.id)),
            ("createdAt", text(&self.created_at)),
            ("displayName", text(&self.display_name)),
            ("avatarUrl", text(&self.avatar_url)),
            ("locale", text(&self.locale)),
            ("email", opt_text(&self.email)),
            ("phoneNumber", opt_text(&self.phone_number)),
            ("isAnonymous", Some(Value::Bool(self.is_anonymous))),
            ("defaultRole", text(&self.default_role)),
            ("roles", Some(texts(&self.roles))),
            ("metadata", Some(self.metadata.clone())),
            ("emailVerified", Some(Value::Bool(self.email_verified))),
            (
                "phoneNumberVerified",
                Some(Value::Bool(self.phone_number_verified)),
            ),
            (
                "activeMfaType",
                Some(opt_text(&self.active_mfa_type).unwrap_or_default()),
            ),
        ])
    }
}

impl FromJson for HasuraClaims {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a claims")?;
        Ok(HasuraClaims {
            user_id: string(o, "user_id")?,
            default_role: string(o, "default_role")?,
            allowed_roles: strings(o, "allowed_roles", false)?,
            is_anonymous: o
                .get("is_anonymous")
                .and_then(Value::as_bool)
                .ok_or_else(|| invalid("is_anonymous"))?,
        })
    }
}

impl ToJson for HasuraClaims {
    fn to_json(&self) -> Value {
        build(&mut [
            ("user_id", text(&self.user_id)),
            ("default_role", text(&self.default_role)),
            ("allowed_roles", Some(texts(&self.allowed_roles))),
            ("is_anonymous", Some(Value::Bool(self.is_anonymous))),
        ])
    }
}

impl FromJson for Session {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a session")?;
        Ok(Session {
            access_token: AccessToken::new(string(o, "accessToken")?),
            access_token_expires_in: u64(o, "accessTokenExpiresIn")?,
            access_token_expires_at: u64(o, "accessTokenExpiresAt")?,
            refresh_token: RefreshToken::new(string(o, "refreshToken")?),
            refresh_token_id: string(o, "refreshTokenId")?,
            user: opt(o, "user")?,
            claims: opt(o, "claims")?,
        })
    }
}

impl ToJson for Session {
    fn to_json(&self) -> Value {
        build(&mut [
            ("accessToken", text(self.access_token.expose())),
            (
                "accessTokenExpiresIn",
                Some(self.access_token_expires_in.into()),
            ),
            (
                "accessTokenExpiresAt",
                Some(self.access_token_expires_at.into()),
            ),
            ("refreshToken", text(self.refresh_token.expose())),
            ("refreshTokenId", text(&self.refresh_token_id)),
            ("user", Some(self.user.to_json())),
            ("claims", Some(self.claims.to_json())),
        ])
    }
}

impl FromJson for SessionWire {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a session")?;
        Ok(SessionWire {
            access_token: string(o, "accessToken")?,
            access_token_expires_in: u64(o, "accessTokenExpiresIn")?,
            refresh_token: string(o, "refreshToken")?,
            refresh_token_id: lenient_opt_string(o, "refreshTokenId"),
            user: o.get("user").and_then(|u| User::from_json(u).ok()),
        })
    }
}

impl FromJson for SessionPayload {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a session payload")?;
        Ok(SessionPayload {
            session: opt(o, "session")?,
            mfa: o.get("mfa").filter(|v| !v.is_null()).cloned(),
        })
    }
}

impl FromJson for PublicSessionWire {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a session")?;
        Ok(PublicSessionWire {
            access_token: string(o, "accessToken")?,
            access_token_expires_in: u64(o, "accessTokenExpiresIn")?,
            user: o.get("user").and_then(|u| User::from_json(u).ok()),
        })
    }
}

impl FromJson for PublicPayload {
    fn from_json(value: &Value) -> Result<Self, Invalid> {
        let o = object(value, "a session payload")?;
        Ok(PublicPayload {
            session: opt(o, "session")?,
        })
    }
}

/// The error body's `{error, message, reason}` (each an optional string).
pub(crate) fn error_fields(value: &Value) -> Result<[Option<String>; 3], Invalid> {
    let o = object(value, "an error")?;
    Ok([
        opt_string(o, "error")?,
        opt_string(o, "message")?,
        opt_string(o, "reason")?,
    ])
}

impl ToJson for SignInAnonymousOptions {
    fn to_json(&self) -> Value {
        build(&mut [
            ("displayName", opt_text(&self.display_name)),
            ("locale", opt_text(&self.locale)),
            ("metadata", opt_map(&self.metadata)),
        ])
    }
}

impl ToJson for SignUpOptions {
    fn to_json(&self) -> Value {
        build(&mut [
            ("allowedRoles", self.allowed_roles.as_deref().map(texts)),
            ("defaultRole", opt_text(&self.default_role)),
            ("displayName", opt_text(&self.display_name)),
            ("locale", opt_text(&self.locale)),
            ("metadata", opt_map(&self.metadata)),
            ("redirectTo", opt_text(&self.redirect_to)),
        ])
    }
}

impl ToJson for RefreshTokenRequest<'_> {
    fn to_json(&self) -> Value {
        build(&mut [("refreshToken", text(self.refresh_token))])
    }
}

impl ToJson for SignOutRequest<'_> {
    fn to_json(&self) -> Value {
        build(&mut [
            ("refreshToken", text(self.refresh_token)),
            ("all", Some(Value::Bool(self.all))),
        ])
    }
}

#[cfg(feature = "server-session")]
impl ToJson for SessionSignOutRequest {
    fn to_json(&self) -> Value {
        build(&mut [("all", Some(Value::Bool(self.all)))])
    }
}

impl ToJson for EmailPasswordRequest<'_> {
    fn to_json(&self) -> Value {
        build(&mut [
            ("email", text(self.email)),
            ("password", text(self.password)),
            ("options", self.options.map(ToJson::to_json)),
            ("codeChallenge", self.code_challenge.and_then(text)),
        ])
    }
}

impl ToJson for PasswordlessEmailRequest<'_> {
    fn to_json(&self) -> Value {
        build(&mut [
            ("email", text(self.email)),
            ("options", self.options.map(ToJson::to_json)),
            ("codeChallenge", self.code_challenge.and_then(text)),
        ])
    }
}

impl ToJson for DeanonymizeRequest<'_> {
    fn to_json(&self) -> Value {
        build(&mut [
            ("signInMethod", text(self.sign_in_method)),
            ("email", text(self.email)),
            ("password", self.password.and_then(text)),
            ("options", self.options.map(ToJson::to_json)),
            ("codeChallenge", self.code_challenge.and_then(text)),
        ])
    }
}

impl ToJson for TokenExchangeRequest<'_> {
    fn to_json(&self) -> Value {
        build(&mut [
            ("code", text(self.code)),
            ("codeVerifier", text(self.code_verifier)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;

    /// Whatever serde accepts, the mapping decodes to the same value; whatever it rejects, the
    /// mapping rejects.
    fn same_decoding<T: FromJson + DeserializeOwned + PartialEq + std::fmt::Debug>(v: Value) {
        let by_serde = serde_json::from_value::<T>(v.clone()).ok();
        let by_hand = T::from_json(&v).ok();
        assert_eq!(by_hand, by_serde, "{v}");
    }

    fn same_encoding<T: ToJson + Serialize>(x: &T) {
        assert_eq!(
            x.to_json(),
            serde_json::to_value(x).expect("serialises"),
            "{}",
            x.to_json()
        );
    }

    fn user_json() -> Value {
        json!({
            "id": "u1", "createdAt": "2026-01-01T00:00:00Z", "displayName": "Ada",
            "avatarUrl": "", "locale": "en", "email": "ada@example.com", "isAnonymous": false,
            "defaultRole": "user", "roles": ["user", "me"], "metadata": {"a": [1, 2.5, null]},
            "emailVerified": true, "phoneNumberVerified": false, "activeMfaType": null,
            "unknown": 1
        })
    }

    fn session_json() -> Value {
        json!({
            "accessToken": "at", "accessTokenExpiresIn": 900, "accessTokenExpiresAt": 1000,
            "refreshToken": "rt", "refreshTokenId": "rid", "user": user_json(),
            "claims": {"user_id": "u1", "default_role": "user", "allowed_roles": ["user"], "is_anonymous": false}
        })
    }

    /// `v` with `key` set to `to`, or removed when `to` is `None`.
    fn with(v: &Value, key: &str, to: Option<Value>) -> Value {
        let mut v = v.clone();
        let o = v.as_object_mut().expect("object");
        match to {
            Some(x) => o.insert(key.to_owned(), x),
            None => o.remove(key),
        };
        v
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Wire {
        error: Option<String>,
        message: Option<String>,
        reason: Option<String>,
    }

    impl FromJson for Wire {
        fn from_json(value: &Value) -> Result<Self, Invalid> {
            let [error, message, reason] = error_fields(value)?;
            Ok(Wire {
                error,
                message,
                reason,
            })
        }
    }

    /// serde also reads a struct from an array of its fields in order (`"user": ["id"]`); no
    /// server or tab writes that, and the mapping does not read it.
    fn is_nested_struct_as_array(key: &str, to: &Option<Value>) -> bool {
        matches!(key, "user" | "claims" | "session") && matches!(to, Some(Value::Array(_)))
    }

    #[test]
    fn decodes_as_serde_does() {
        let odd = [
            None,
            Some(Value::Null),
            Some(json!(7)),
            Some(json!("x")),
            Some(json!(true)),
            Some(json!([])),
            Some(json!(["a"])),
            Some(json!({})),
        ];
        let user = user_json();
        same_decoding::<User>(user.clone());
        same_decoding::<User>(json!({"id": "u"}));
        for key in user.as_object().expect("object").keys() {
            for to in &odd {
                same_decoding::<User>(with(&user, key, to.clone()));
            }
        }
        let session = session_json();
        same_decoding::<Session>(session.clone());
        for key in session.as_object().expect("object").keys() {
            for to in &odd {
                if is_nested_struct_as_array(key, to) {
                    continue;
                }
                same_decoding::<Session>(with(&session, key, to.clone()));
            }
        }
        let claims = session["claims"].clone();
        for key in claims.as_object().expect("object").keys() {
            for to in &odd {
                same_decoding::<HasuraClaims>(with(&claims, key, to.clone()));
            }
        }
        // The server's session: no expiry time, no claims, maybe no row id.
        let wire = json!({"accessToken": "at", "accessTokenExpiresIn": 900, "refreshToken": "rt",
            "refreshTokenId": "rid", "user": user_json()});
        for key in wire.as_object().expect("object").keys() {
            for to in &odd {
                if is_nested_struct_as_array(key, to) {
                    continue;
                }
                let v = with(&wire, key, to.clone());
                let by_serde = serde_json::from_value::<SessionWire>(v.clone()).ok();
                let by_hand = SessionWire::from_json(&v).ok();
                assert_eq!(
                    by_hand.map(|w| (w.access_token, w.refresh_token_id, w.user)),
                    by_serde.map(|w| (w.access_token, w.refresh_token_id, w.user)),
                    "{v}"
                );
            }
        }
        for payload in [
            json!({"session": wire}),
            json!({"session": null}),
            json!({}),
            json!({"session": null, "mfa": {"ticket": "t"}}),
            json!({"mfa": null}),
            json!({"session": 1}),
            json!("OK"),
        ] {
            let by_serde = serde_json::from_value::<SessionPayload>(payload.clone()).ok();
            let by_hand = SessionPayload::from_json(&payload).ok();
            assert_eq!(
                by_hand.map(|p| (p.session.map(|s| s.access_token), p.mfa)),
                by_serde.map(|p| (p.session.map(|s| s.access_token), p.mfa)),
                "{payload}"
            );
        }
        // A session endpoint's public session (server-session mode).
        let public = json!({"accessToken": "at", "accessTokenExpiresIn": 60, "user": user_json()});
        for key in public.as_object().expect("object").keys() {
            for to in &odd {
                if is_nested_struct_as_array(key, to) {
                    continue;
                }
                let v = with(&public, key, to.clone());
                let by_serde = serde_json::from_value::<PublicSessionWire>(v.clone()).ok();
                let by_hand = PublicSessionWire::from_json(&v).ok();
                assert_eq!(
                    by_hand.map(|w| (w.access_token, w.access_token_expires_in, w.user)),
                    by_serde.map(|w| (w.access_token, w.access_token_expires_in, w.user)),
                    "{v}"
                );
            }
        }
        for payload in [
            json!({"session": public}),
            json!({"session": null}),
            json!({}),
            json!({"session": 1}),
            json!(null),
        ] {
            let by_serde = serde_json::from_value::<PublicPayload>(payload.clone()).ok();
            let by_hand = PublicPayload::from_json(&payload).ok();
            assert_eq!(
                by_hand.map(|p| p.session.map(|s| s.access_token)),
                by_serde.map(|p| p.session.map(|s| s.access_token)),
                "{payload}"
            );
        }
        for body in [
            json!({"status": 401, "error": "invalid-refresh-token", "message": "m"}),
            json!({"error": "invalid-request", "reason": "r"}),
            json!({"error": null}),
            json!({"error": 5}),
            json!({"message": "only"}),
            json!("text"),
        ] {
            same_decoding::<Wire>(body);
        }
        for s in [json!("OK"), json!(1), json!(null), json!({})] {
            same_decoding::<String>(s);
        }
    }

    #[test]
    fn encodes_as_serde_does() {
        let session: Session = serde_json::from_value(session_json()).expect("session");
        same_encoding(&session);
        let bare = Session {
            user: None,
            claims: None,
            ..session.clone()
        };
        same_encoding(&bare);
        let mut user = session.user.clone().expect("user");
        user.email = None;
        user.active_mfa_type = Some("totp".into());
        user.phone_number = Some("+1".into());
        same_encoding(&user);

        let metadata = json!({"k": [1, -2, 2.5, "s", null, {"x": true}]})
            .as_object()
            .cloned();
        let anonymous = SignInAnonymousOptions::default();
        same_encoding(&anonymous);
        let mut anonymous = anonymous.display_name("Guest").locale("fr");
        anonymous.metadata = metadata.clone();
        same_encoding(&anonymous);
        let options = SignUpOptions::default();
        same_encoding(&options);
        let mut options = options
            .display_name("Ada")
            .locale("en")
            .redirect_to("https://x")
            .roles("user", vec!["user".into(), "me".into()]);
        options.metadata = metadata;
        same_encoding(&options);

        same_encoding(&RefreshTokenRequest { refresh_token: "t" });
        for all in [true, false] {
            same_encoding(&SessionSignOutRequest { all });
        }
        for all in [false, true] {
            same_encoding(&SignOutRequest {
                refresh_token: "t",
                all,
            });
        }
        same_encoding(&TokenExchangeRequest {
            code: "c",
            code_verifier: "v",
        });
        for (opts, code_challenge) in [None, Some(&options)]
            .into_iter()
            .flat_map(|o| [(o, None), (o, Some("challenge"))])
        {
            same_encoding(&EmailPasswordRequest {
                email: "e",
                password: "p",
                options: opts,
                code_challenge,
            });
            same_encoding(&PasswordlessEmailRequest {
                email: "e",
                options: opts,
                code_challenge,
            });
            for password in [None, Some("p")] {
                same_encoding(&DeanonymizeRequest {
                    sign_in_method: "email-password",
                    email: "e",
                    password,
                    options: opts,
                    code_challenge,
                });
            }
        }
    }
}
