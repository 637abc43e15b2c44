//! Email sign-up and sign-in: `POST /signup/email-password`, `POST /signin/email-password`,
//! `POST /signin/passwordless/email`, the `GET /verify` link their emails carry, and
//! `POST /token/exchange`, which completes a PKCE link.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{
    SignUpOptions, TicketKind, check_code_challenge, check_password, check_password_length,
    hash_password, new_session, send_email, verify_password,
};
use crate::error::ApiError;
use crate::extract::{JsonBody, is_valid_email};
use crate::pkce;
use crate::state::AppState;
use crate::store::{NewRefreshToken, NewUser};
use crate::tokens::{new_refresh_token, new_row_id};

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SignUpEmailPasswordRequest {
    email: String,
    password: String,
    options: Option<SignUpOptions>,
    /// PKCE: when the email must be verified, the link's redirect carries a one-time `code`.
    code_challenge: Option<String>,
}

/// `POST /signup/email-password` → `{"session": Session}`, or `{}` when the email must be verified first.
pub(crate) async fn sign_up_email_password(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SignUpEmailPasswordRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_code_challenge(body.code_challenge.as_deref())?;
    if state.config.disable_signup {
        return Err(ApiError::signup_disabled());
    }
    if !is_valid_email(&body.email) {
        return Err(ApiError::bad_request("email is not a valid email address"));
    }
    check_password(&state, &body.password)?;
    let options = body
        .options
        .unwrap_or_default()
        .resolve(&state, &body.email)?;
    if state.store.user_by_email(&body.email).await?.is_some() {
        return Err(ApiError::email_already_in_use());
    }
    let verify = state.config.email_verification_required;
    let ticket = verify.then(|| TicketKind::VerifyEmail.new_ticket());
    let user = NewUser {
        id: new_row_id(),
        display_name: options.display_name,
        locale: options.locale,
        email: Some(body.email.clone()),
        password_hash: Some(hash_password(&state, body.password).await?),
        default_role: options.default_role,
        roles: options.allowed_roles,
        is_anonymous: false,
        metadata: options.metadata,
        ticket: ticket.clone(),
    };
    let (token, hash) = new_refresh_token();
    let refresh = NewRefreshToken {
        id: new_row_id(),
        hash,
        expires_at: super::refresh_expiry(&state),
    };
    let Ok(row) = state
        .store
        .create_user(&user, (!verify).then_some(&refresh))
        .await?
    else {
        return Err(ApiError::email_already_in_use());
    };
    if let Some((ticket, _)) = ticket {
        send_email(
            &state,
            &body.email,
            TicketKind::VerifyEmail,
            &ticket,
            &options.redirect_to,
            body.code_challenge.as_deref(),
        );
        return Ok(Json(serde_json::json!({})));
    }
    let session = super::session_json(&state, row, token, refresh.id)?;
    Ok(Json(serde_json::json!({ "session": session })))
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields)]
pub(crate) struct SignInEmailPasswordRequest {
    email: String,
    password: String,
}

/// `POST /signin/email-password` → `{"session": Session}`.
pub(crate) async fn sign_in_email_password(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SignInEmailPasswordRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !is_valid_email(&body.email) {
        return Err(ApiError::bad_request("email is not a valid email address"));
    }
    // Refused before looking the user up: a password no account can have tells nothing.
    check_password_length(&body.password)?;
    let user = state.store.user_by_email(&body.email).await?;
    // Anonymous users have no email, so this tells nothing either.
    if user.as_ref().is_some_and(|u| u.is_anonymous) {
        return Err(ApiError::forbidden_anonymous());
    }
    // One bcrypt comparison whether or not the account exists or has a password: same time.
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = verify_password(&state, body.password, hash).await;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::invalid_email_password());
    };
    if user.disabled {
        return Err(ApiError::disabled_user());
    }
    if state.config.email_verification_required && !user.email_verified {
        return Err(ApiError::unverified_user());
    }
    let session = new_session(&state, user).await?;
    Ok(Json(serde_json::json!({ "session": session })))
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SignInPasswordlessEmailRequest {
    email: String,
    options: Option<SignUpOptions>,
    /// PKCE: the magic link's redirect then carries a one-time `code`.
    code_challenge: Option<String>,
}

/// `POST /signin/passwordless/email` → `"OK"`, with a magic link in the mailbox. Unknown emails
/// become new users (unless sign-up is disabled).
pub(crate) async fn sign_in_passwordless_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SignInPasswordlessEmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    check_code_challenge(body.code_challenge.as_deref())?;
    if !state.config.passwordless_enabled {
        return Err(ApiError::disabled_endpoint());
    }
    if !is_valid_email(&body.email) {
        return Err(ApiError::bad_request("email is not a valid email address"));
    }
    let options = body
        .options
        .unwrap_or_default()
        .resolve(&state, &body.email)?;
    let (ticket, expires_at) = TicketKind::Passwordless.new_ticket();
    match state.store.user_by_email(&body.email).await? {
        Some(user) if user.disabled => return Err(ApiError::disabled_user()),
        Some(user) if user.is_anonymous => return Err(ApiError::forbidden_anonymous()),
        Some(user) => state.store.set_ticket(user.id, &ticket, expires_at).await?,
        None => {
            if state.config.disable_signup {
                return Err(ApiError::signup_disabled());
            }
            let user = NewUser {
                id: new_row_id(),
                display_name: options.display_name,
                locale: options.locale,
                email: Some(body.email.clone()),
                password_hash: None,
                default_role: options.default_role,
                roles: options.allowed_roles,
                is_anonymous: false,
                metadata: options.metadata,
                ticket: Some((ticket.clone(), expires_at)),
            };
            if state.store.create_user(&user, None).await?.is_err() {
                // Someone registered this email between our read and our insert.
                return Err(ApiError::email_already_in_use());
            }
        }
    }
    send_email(
        &state,
        &body.email,
        TicketKind::Passwordless,
        &ticket,
        &options.redirect_to,
        body.code_challenge.as_deref(),
    );
    Ok(Json("OK"))
}

/// `GET /verify?ticket=…&type=…&redirectTo=…[&codeChallenge=…]` → `302` to
/// `redirectTo?refreshToken=…&type=…`, or — with a PKCE `codeChallenge` — to
/// `redirectTo?code=…&type=…` (no refresh token in the URL); to `redirectTo?error=…&errorDescription=…`
/// when the ticket is not valid.
pub(crate) async fn verify(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ticket = query
        .get("ticket")
        .ok_or_else(|| ApiError::bad_request("query parameter `ticket` is required"))?;
    let redirect_to = query
        .get("redirectTo")
        .ok_or_else(|| ApiError::bad_request("query parameter `redirectTo` is required"))?;
    let challenge = query.get("codeChallenge").map(String::as_str);
    check_code_challenge(challenge)?;
    // Never redirect to a URL we were not told to trust, not even with an error.
    let mut location = state.redirects.check(redirect_to)?;
    let outcome = match (
        TicketKind::from_ticket(ticket),
        state.store.consume_ticket(ticket).await?,
    ) {
        (Some(kind), Some(user)) if !user.disabled => match challenge {
            Some(challenge) => {
                let (code, hash) = pkce::new_authorization_code();
                let ttl = chrono::Duration::from_std(state.config.pkce_code_expires_in)
                    .unwrap_or(chrono::Duration::MAX);
                let expires_at = crate::store::now()
                    .checked_add_signed(ttl)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
                state
                    .store
                    .insert_authorization_code(user.id, &hash, challenge, redirect_to, expires_at)
                    .await?;
                Ok((("code", code), kind))
            }
            None => {
                let (token, hash) = new_refresh_token();
                let refresh = NewRefreshToken {
                    id: new_row_id(),
                    hash,
                    expires_at: super::refresh_expiry(&state),
                };
                state.store.insert_refresh_token(user.id, &refresh).await?;
                Ok((("refreshToken", token.to_string()), kind))
            }
        },
        (_, Some(_)) => Err(ApiError::disabled_user()),
        _ => Err(ApiError::invalid_ticket()),
    };
    // Added to the parsed URL's query, so that they land before any fragment.
    match outcome {
        Ok(((name, secret), kind)) => {
            location
                .query_pairs_mut()
                .append_pair(name, &secret)
                .append_pair("type", kind.link_type());
        }
        Err(e) => {
            let (id, message) = e.id_and_message();
            location
                .query_pairs_mut()
                .append_pair("error", id)
                .append_pair("errorDescription", &message);
        }
    }
    let location = HeaderValue::from_str(location.as_str())
        .map_err(|_| ApiError::bad_request("redirectTo is not a valid URL"))?;
    Ok((StatusCode::FOUND, [(LOCATION, location)]).into_response())
}

#[derive(Deserialize)] // no Debug: bodies carry one-time codes and verifiers
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TokenExchangeRequest {
    code: String,
    code_verifier: String,
}

/// `POST /token/exchange` `{code, codeVerifier}` → `{"session": Session}`: turns the one-time
/// code of a PKCE email link into a session. The code is consumed only together with the
/// challenge of the verifier presented (one `DELETE … WHERE code_hash AND code_challenge`), so a
/// wrong verifier leaves it for the right one; an unknown, used, expired or unmatched code is
/// `400 invalid-request`, as hasura-auth answers.
pub(crate) async fn token_exchange(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenExchangeRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if body.code.is_empty() {
        return Err(ApiError::bad_request("code must not be empty"));
    }
    pkce::check_verifier(&body.code_verifier)?;
    let user_id = state
        .store
        .consume_authorization_code(
            &pkce::hash_authorization_code(&body.code),
            &pkce::challenge_of(&body.code_verifier),
        )
        .await?
        .ok_or_else(|| ApiError::invalid_request("Invalid or expired authorization code"))?;
    let user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or_else(|| ApiError::invalid_request("Invalid or expired authorization code"))?;
    if user.disabled {
        return Err(ApiError::disabled_user());
    }
    let session = new_session(&state, user).await?;
    Ok(Json(serde_json::json!({ "session": session })))
}
