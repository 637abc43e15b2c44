//! `POST /signin/anonymous`, `POST /token`, `POST /token/verify`, `POST /signout`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use serde::Deserialize;
use uuid::Uuid;

use super::{check_display_name, check_locale_shape, refresh_expiry, session_json};
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalBearer, OptionalJsonBody};
use crate::state::AppState;
use crate::store::{NewRefreshToken, NewUser, Rotation};
use crate::tokens::{hash_refresh_token, new_refresh_token, new_row_id};

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SignInAnonymousRequest {
    display_name: Option<String>,
    locale: Option<String>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /signin/anonymous` → `{"session": Session}`.
pub(crate) async fn sign_in_anonymous(
    State(state): State<AppState>,
    OptionalJsonBody(body): OptionalJsonBody<SignInAnonymousRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.stats.count_anonymous_sign_in();
    let c = &state.config;
    if !c.anonymous_users_enabled {
        return Err(ApiError::disabled_endpoint());
    }
    if c.disable_signup {
        return Err(ApiError::signup_disabled());
    }
    let body = body.unwrap_or(SignInAnonymousRequest {
        display_name: None,
        locale: None,
        metadata: None,
    });
    if let Some(locale) = &body.locale {
        check_locale_shape(locale)?;
    }
    // The spec leaves this display name unchecked; it is held to the sign-up rule (at most 32
    // letters, numbers, symbols, spaces or ,.'-) because it is shown in pages like any other:
    // stricter than upstream, so a client that works here works there.
    if let Some(name) = &body.display_name {
        check_display_name(name)?;
    }
    // A locale that is well-formed but not allowed is silently replaced, as upstream does.
    let locale = body
        .locale
        .filter(|l| c.locale_allowed.contains(l))
        .unwrap_or_else(|| c.locale_default.clone());
    let user = NewUser {
        id: new_row_id(),
        display_name: body.display_name.unwrap_or_else(|| "Anonymous User".into()),
        locale,
        email: None,
        password_hash: None,
        default_role: c.anonymous_role.clone(),
        roles: vec![c.anonymous_role.clone()],
        is_anonymous: true,
        metadata: body.metadata.map(serde_json::Value::Object),
        ticket: None,
    };
    let (token, hash) = new_refresh_token();
    let refresh = NewRefreshToken {
        id: new_row_id(),
        hash,
        expires_at: refresh_expiry(&state),
    };
    // Anonymous users have no email, so a unique violation cannot come from one.
    let row = state
        .store
        .create_user(&user, Some(&refresh))
        .await?
        .map_err(|_| ApiError::internal())?;
    let session = session_json(&state, row, token, refresh.id)?;
    Ok(Json(serde_json::json!({ "session": session })))
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RefreshTokenRequest {
    refresh_token: String,
}

/// `POST /token` → bare `Session`, rotating the refresh token.
pub(crate) async fn refresh_token(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshTokenRequest>,
) -> Result<Json<crate::wire::SessionJson>, ApiError> {
    state.stats.count_token_request();
    // The spec's pattern: a lowercase hyphenated UUID.
    let old = body.refresh_token.as_str();
    let well_formed = old.len() == 36
        && Uuid::try_parse(old).is_ok()
        && !old.bytes().any(|b| b.is_ascii_uppercase());
    if !well_formed {
        return Err(ApiError::bad_request("refreshToken must be a UUID"));
    }
    let (token, new_hash) = new_refresh_token();
    match state
        .store
        .rotate_refresh_token(&hash_refresh_token(old), &new_hash, refresh_expiry(&state))
        .await?
    {
        Rotation::Rotated {
            refresh_token_id,
            user,
        } => Ok(Json(session_json(&state, *user, token, refresh_token_id)?)),
        Rotation::Invalid => Err(ApiError::invalid_refresh_token()),
        Rotation::Disabled => Err(ApiError::disabled_user()),
    }
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(rename_all = "camelCase")]
pub(crate) struct SignOutRequest {
    refresh_token: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /signout` → `"OK"`. `all: true` needs a valid bearer token; otherwise the one refresh
/// token is deleted (an unknown one still answers OK, like upstream). The bearer is optional on
/// this route, so `all: true` without one is refused by the handler, as upstream's is:
/// `400 invalid-request`, not the middleware's 401.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    OptionalBearer(claims): OptionalBearer,
    JsonBody(body): JsonBody<SignOutRequest>,
) -> Result<Json<&'static str>, ApiError> {
    if body.all {
        let claims = claims.ok_or_else(|| {
            ApiError::invalid_request("signing out of all sessions needs a bearer token")
        })?;
        state
            .store
            .delete_user_refresh_tokens(claims.user_id)
            .await?;
    } else {
        let token = body.refresh_token.ok_or_else(|| {
            ApiError::invalid_request("refreshToken is required unless `all` is true")
        })?;
        state
            .store
            .delete_refresh_token(&hash_refresh_token(&token))
            .await?;
    }
    Ok(Json("OK"))
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyTokenRequest {
    token: Option<String>,
}

/// `POST /token/verify` → `"OK"` for a valid access token, from the body or the bearer header.
/// The bearer is optional on this route: with neither, the handler (as upstream's, which looks
/// the JWT up in the request context) answers `400 invalid-request`.
pub(crate) async fn verify_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<VerifyTokenRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let from_header = || {
        headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
    };
    let token = body
        .and_then(|b| b.token)
        .or_else(from_header)
        .ok_or_else(|| {
            ApiError::invalid_request("no token: send {\"token\": …} or a bearer header")
        })?;
    state
        .config
        .jwt_secret
        .verify(token.trim())
        .map(|_| Json("OK"))
        .ok_or_else(|| ApiError::unauthorized("access token is invalid or expired"))
}
