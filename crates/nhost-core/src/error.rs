//! One error type, shaped `{status, error, message}` like nhost-js and the hooks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Pseudo-status of errors that never reached the server (connection refused, DNS, timeout…).
pub const STATUS_NETWORK: u16 = 0;
/// Pseudo-status of unexpected client-side errors (an undecodable success response…).
pub const STATUS_OTHER: u16 = 1;
/// Pseudo-status of input rejected before any request (`invalid-email`, `invalid-password`…).
pub const STATUS_VALIDATION: u16 = 10;
/// Pseudo-status of calls that make no sense in the current state (`already-signed-in`…).
pub const STATUS_STATE: u16 = 20;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $id:literal, )*) => {
        /// The `error` id of an [`AuthError`]: every id the Nhost Auth server sends, the client-side
        /// ids nhost-js uses, and [`ErrorCode::Other`] for ids this version does not know.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// An id this version does not know, kept as sent.
            Other(String),
        }

        /// Every known code with its wire id: one table for both directions instead of two
        /// 40-arm matches (smaller in the browser bundle).
        const KNOWN: &[(ErrorCode, &str)] = &[ $( (ErrorCode::$variant, $id), )* ];

        impl ErrorCode {
            /// The id as it appears on the wire, e.g. `invalid-refresh-token`.
            pub fn as_str(&self) -> &str {
                match self {
                    ErrorCode::Other(s) => s,
                    known => KNOWN
                        .iter()
                        .find(|(code, _)| code == known)
                        .map_or("", |(_, id)| id),
                }
            }

            /// Parses a wire id; unknown ids become [`ErrorCode::Other`].
            pub fn parse(id: &str) -> Self {
                KNOWN
                    .iter()
                    .find(|(_, known)| *known == id)
                    .map_or_else(|| ErrorCode::Other(id.to_owned()), |(code, _)| code.clone())
            }
        }
    };
}

error_codes! {
    // Server ids (PROTOCOL.md), current servers.
    /// 400: the request does not match the spec.
    InvalidRequest => "invalid-request",
    /// 400.
    DefaultRoleMustBeInAllowedRoles => "default-role-must-be-in-allowed-roles",
    /// 401: the user is disabled.
    DisabledUser => "disabled-user",
    /// 409: the endpoint is off on this server (e.g. anonymous users not enabled).
    DisabledEndpoint => "disabled-endpoint",
    /// 409.
    EmailAlreadyInUse => "email-already-in-use",
    /// 400.
    EmailAlreadyVerified => "email-already-verified",
    /// 403: anonymous users may not do this.
    ForbiddenAnonymous => "forbidden-anonymous",
    /// 500.
    InternalServerError => "internal-server-error",
    /// 401: wrong email or password.
    InvalidEmailPassword => "invalid-email-password",
    /// 401.
    InvalidPat => "invalid-pat",
    /// 400.
    LocaleNotAllowed => "locale-not-allowed",
    /// 400.
    PasswordInHibpDatabase => "password-in-hibp-database",
    /// 400.
    PasswordTooShort => "password-too-short",
    /// 400.
    RedirectToNotAllowed => "redirectTo-not-allowed",
    /// 400.
    RoleNotAllowed => "role-not-allowed",
    /// 403: sign-up is disabled on the server.
    SignupDisabled => "signup-disabled",
    /// 401: the email is not verified yet.
    UnverifiedUser => "unverified-user",
    /// 400 from the server, 20 from the client: the user is not anonymous.
    UserNotAnonymous => "user-not-anonymous",
    /// 401: the refresh token is unknown, expired or already rotated.
    InvalidRefreshToken => "invalid-refresh-token",
    /// 401.
    InvalidTicket => "invalid-ticket",
    /// 401.
    DisabledMfaTotp => "disabled-mfa-totp",
    /// 400.
    NoTotpSecret => "no-totp-secret",
    /// 401.
    InvalidTotp => "invalid-totp",
    /// 400.
    MfaTypeNotFound => "mfa-type-not-found",
    /// 400.
    TotpAlreadyActive => "totp-already-active",
    /// 400.
    InvalidState => "invalid-state",
    /// 400.
    CannotSendSms => "cannot-send-sms",
    /// 400.
    InvalidOtp => "invalid-otp",
    // Ids of older servers.
    /// 401 (older servers), 20 from the client: no user is signed in.
    UnauthenticatedUser => "unauthenticated-user",
    /// 404 (older servers).
    RouteNotFound => "route-not-found",
    /// 400 (older servers).
    UserNotFound => "user-not-found",
    /// 403 (older servers).
    Forbidden => "forbidden",
    /// 401 from newer servers' request validation: missing or bad bearer token.
    Unauthorized => "unauthorized",
    /// 429: too many requests (the server sends an empty body; the client names it).
    TooManyRequests => "too-many-requests",
    // Client-side ids.
    /// 0: the request did not complete (connection, DNS, timeout, dropped connection).
    Network => "network",
    /// 1: the server answered something this client cannot read.
    InvalidResponse => "invalid-response",
    /// 10: not an email address.
    InvalidEmail => "invalid-email",
    /// 10: the password is too short or too long.
    InvalidPassword => "invalid-password",
    /// 10: there is no refresh token to use.
    NoRefreshToken => "no-refresh-token",
    /// 20: a session exists already.
    AlreadySignedIn => "already-signed-in",
    /// 20: a stored session is still being restored (start-up, or waiting for the network):
    /// signing in now would replace it.
    SessionRestoring => "session-restoring",
    /// 10: the client was built with settings that cannot work (no auth URL, a bad URL…).
    InvalidConfiguration => "invalid-configuration",
    /// 20: the operation has no session endpoint, and a client in server-session mode
    /// ([`NhostClientBuilder::session_endpoints`](crate::NhostClientBuilder::session_endpoints))
    /// talks to nothing else.
    UnavailableInServerSessionMode => "unavailable-in-server-session-mode",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::parse(&String::deserialize(d)?))
    }
}

/// Every failure of this crate: `{status, error, message}`, exactly the shape the hooks expose.
///
/// `status` is the HTTP status for server errors, or one of the pseudo-statuses
/// [`STATUS_NETWORK`] (0), [`STATUS_OTHER`] (1), [`STATUS_VALIDATION`] (10), [`STATUS_STATE`] (20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({error}, status {status})")]
pub struct AuthError {
    /// HTTP status, or a pseudo-status below 100.
    pub status: u16,
    /// The error id.
    pub error: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
    /// The response body when it could not be decoded, for debugging.
    #[serde(skip)]
    pub raw_body: Option<String>,
}

impl AuthError {
    /// An error with the given parts.
    pub fn new(status: u16, error: ErrorCode, message: impl Into<String>) -> Self {
        AuthError {
            status,
            error,
            message: message.into(),
            raw_body: None,
        }
    }

    /// Status 0 / `network`: the request did not complete.
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(STATUS_NETWORK, ErrorCode::Network, message)
    }

    /// Status 10: input rejected before any request.
    pub fn validation(error: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(STATUS_VALIDATION, error, message)
    }

    /// Status 20: the call makes no sense in the current state.
    pub fn state(error: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(STATUS_STATE, error, message)
    }

    /// Whether retrying later may succeed: network failures and 5xx. Everything else (4xx,
    /// validation, state) will fail the same way again.
    pub fn is_transient(&self) -> bool {
        self.status == STATUS_NETWORK || (500..600).contains(&self.status)
    }

    /// Decodes an error response: the handler shape `{status, error, message}`, the validation
    /// shape `{error, reason?}`, an empty body (429 and others), or anything else (kept raw).
    pub fn from_response(status: u16, body: &str) -> Self {
        let trimmed = body.trim();
        if trimmed.is_empty() {
            let (code, message) = match status {
                429 => (
                    ErrorCode::TooManyRequests,
                    "Too many requests, try again later".to_owned(),
                ),
                _ => (
                    ErrorCode::Other(format!("http-{status}")),
                    format!("HTTP {status} with an empty body"),
                ),
            };
            return Self::new(status, code, message);
        }
        match error_fields(trimmed) {
            Some([Some(id), message, reason]) => {
                let message = message.or(reason).unwrap_or_else(|| id.clone());
                Self::new(status, ErrorCode::parse(&id), message)
            }
            _ => {
                let mut e = Self::new(
                    status,
                    ErrorCode::Other(format!("http-{status}")),
                    format!("HTTP {status} with a body that is not an Nhost error"),
                );
                e.raw_body = Some(trimmed.chars().take(2048).collect());
                e
            }
        }
    }
}

/// The `{error, message, reason}` of an error body (each optional), or `None` when the body is
/// not such an object.
#[cfg(not(target_arch = "wasm32"))]
fn error_fields(body: &str) -> Option<[Option<String>; 3]> {
    #[derive(Deserialize)]
    struct Wire {
        error: Option<String>,
        message: Option<String>,
        reason: Option<String>,
    }
    let w = serde_json::from_str::<Wire>(body).ok()?;
    Some([w.error, w.message, w.reason])
}

/// The `{error, message, reason}` of an error body (each optional), or `None` when the body is
/// not such an object.
#[cfg(target_arch = "wasm32")]
fn error_fields(body: &str) -> Option<[Option<String>; 3]> {
    crate::json::error_fields(&crate::js::parse(body).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_three_server_shapes_and_garbage() {
        let cases: &[(u16, &str, u16, &str, &str)] = &[
            (
                401,
                r#"{"status":401,"error":"invalid-refresh-token","message":"Invalid or expired refresh token"}"#,
                401,
                "invalid-refresh-token",
                "Invalid or expired refresh token",
            ),
            (
                400,
                r#"{"error":"invalid-request","reason":"unknown field"}"#,
                400,
                "invalid-request",
                "unknown field",
            ),
            (
                400,
                r#"{"error":"request body has an error"}"#,
                400,
                "request body has an error",
                "request body has an error",
            ),
            (
                429,
                "",
                429,
                "too-many-requests",
                "Too many requests, try again later",
            ),
            (
                503,
                "<html>bad gateway</html>",
                503,
                "http-503",
                "HTTP 503 with a body that is not an Nhost error",
            ),
        ];
        for (status, body, want_status, want_id, want_message) in cases {
            let e = AuthError::from_response(*status, body);
            assert_eq!(e.status, *want_status, "{body}");
            assert_eq!(e.error.as_str(), *want_id, "{body}");
            assert_eq!(e.message, *want_message, "{body}");
        }
        assert_eq!(
            AuthError::from_response(503, "<html>").raw_body.as_deref(),
            Some("<html>"),
            "undecodable bodies are kept"
        );
    }

    #[test]
    fn ids_round_trip_and_unknown_ids_survive() {
        for id in [
            "invalid-refresh-token",
            "redirectTo-not-allowed",
            "network",
            "already-signed-in",
        ] {
            assert_eq!(ErrorCode::parse(id).as_str(), id);
            assert!(
                !matches!(ErrorCode::parse(id), ErrorCode::Other(_)),
                "{id} is known"
            );
        }
        for (code, id) in KNOWN {
            assert_eq!(ErrorCode::parse(id), *code);
            assert_eq!(code.as_str(), *id);
        }
        assert_eq!(
            ErrorCode::parse("brand-new-id"),
            ErrorCode::Other("brand-new-id".into())
        );
        let json = serde_json::to_value(AuthError::network("down")).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"status": 0, "error": "network", "message": "down"})
        );
    }

    #[test]
    fn only_network_and_5xx_are_transient() {
        assert!(AuthError::network("x").is_transient());
        assert!(AuthError::from_response(502, "").is_transient());
        assert!(!AuthError::from_response(401, "").is_transient());
        assert!(!AuthError::from_response(429, "").is_transient());
        assert!(!AuthError::state(ErrorCode::AlreadySignedIn, "x").is_transient());
    }
}
