//! Extractors that turn every kind of bad input into the protocol's error shapes.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::jwt::VerifiedClaims;
use crate::state::AppState;

/// A JSON body that must be present and match `T` (which denies unknown fields where the spec does).
pub(crate) struct JsonBody<T>(pub(crate) T);

/// A JSON body that may be absent or empty (`POST /signin/anonymous` takes no body at all).
pub(crate) struct OptionalJsonBody<T>(pub(crate) Option<T>);

async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::Validation {
            status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            error: "invalid-request",
            reason: format!("request body is larger than {limit} bytes"),
        })
}

/// Every request body of the spec is an object. serde would also read a struct from an array of
/// its fields in order (`["<token>"]`), which the real server refuses: so check the shape first,
/// then deserialise straight from the bytes (which, unlike going through a `Value`, also refuses
/// duplicate keys).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::bad_request(
            "request body has an error: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body has an error: {e}")))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("request body is required"));
        }
        parse(&bytes).map(JsonBody)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        // `null` is what some clients send for "no options".
        if bytes.trim_ascii() == b"null" {
            return Ok(OptionalJsonBody(None));
        }
        parse(&bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

/// A valid access token from `Authorization: Bearer …`.
pub(crate) struct Bearer(pub(crate) VerifiedClaims);

/// `Authorization` may be absent; when present it must be valid.
pub(crate) struct OptionalBearer(pub(crate) Option<VerifiedClaims>);

/// Reads and verifies the bearer token, if there is an `Authorization` header.
fn bearer(parts: &Parts, state: &AppState) -> Result<Option<VerifiedClaims>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("authorization header must be `Bearer <access token>`")
        })?;
    state
        .config
        .jwt_secret
        .verify(token)
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("access token is invalid or expired"))
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        bearer(parts, state)?.map(Bearer).ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <access token>` header")
        })
    }
}

impl FromRequestParts<AppState> for OptionalBearer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        bearer(parts, state).map(OptionalBearer)
    }
}

/// Checks a value against the spec's `format: email` the way a pragmatic validator does:
/// one `@`, a non-empty local part, a dotted domain, no spaces, at most 254 bytes.
pub(crate) fn is_valid_email(email: &str) -> bool {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::is_valid_email;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.com", "x@sub.domain.org"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@@b.co", "a@.b.co", "a@b..co", "a@b.co.",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
