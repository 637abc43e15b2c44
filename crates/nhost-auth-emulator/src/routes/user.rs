//! `GET /user` and `POST /user/deanonymize`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{
    SignUpOptions, TicketKind, check_code_challenge, check_password, hash_password, send_email,
};
use crate::error::ApiError;
use crate::extract::{Bearer, JsonBody, is_valid_email};
use crate::state::AppState;
use crate::store::Deanonymize;
use crate::wire::UserJson;

/// `GET /user` → bare `User`; anonymous users get `403 forbidden-anonymous` (current upstream).
pub(crate) async fn get_user(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Json<UserJson>, ApiError> {
    let user = state
        .store
        .user_by_id(claims.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token's user does not exist"))?;
    if user.is_anonymous {
        return Err(ApiError::forbidden_anonymous());
    }
    Ok(Json(user.into()))
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(rename_all = "kebab-case")]
pub(crate) enum SignInMethod {
    EmailPassword,
    Passwordless,
}

#[derive(Deserialize)] // no Debug: bodies may carry passwords and tokens
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DeanonymizeRequest {
    sign_in_method: SignInMethod,
    email: String,
    password: Option<String>,
    /// Deprecated upstream and ignored, but still accepted.
    #[allow(dead_code)]
    connection: Option<String>,
    options: Option<SignUpOptions>,
    /// PKCE: the link's redirect then carries a one-time `code` (nhost-js 4.x sends it here too).
    code_challenge: Option<String>,
}

/// `POST /user/deanonymize` → `"OK"`. The user keeps its id; roles are replaced with the
/// registered-user roles; when the user must confirm by email, every refresh token is revoked.
pub(crate) async fn deanonymize(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    JsonBody(body): JsonBody<DeanonymizeRequest>,
) -> Result<Json<&'static str>, ApiError> {
    // A malformed challenge is a request-validation error: refused before anything else.
    check_code_challenge(body.code_challenge.as_deref())?;
    if !claims.is_anonymous {
        return Err(ApiError::user_not_anonymous());
    }
    if !is_valid_email(&body.email) {
        return Err(ApiError::bad_request("email is not a valid email address"));
    }
    let password = match body.sign_in_method {
        SignInMethod::EmailPassword => {
            let password = body.password.ok_or_else(|| {
                ApiError::invalid_request("password is required for the email-password method")
            })?;
            check_password(&state, &password)?;
            Some(password)
        }
        SignInMethod::Passwordless => None,
    };
    let options = body
        .options
        .unwrap_or_default()
        .resolve(&state, &body.email)?;
    if state.store.user_by_email(&body.email).await?.is_some() {
        return Err(ApiError::email_already_in_use());
    }
    let password_hash = match password {
        Some(p) => Some(hash_password(&state, p).await?),
        None => None,
    };
    let ticket_kind = match (
        password_hash.is_some(),
        state.config.email_verification_required,
    ) {
        (false, _) => Some(TicketKind::Passwordless),
        (true, true) => Some(TicketKind::VerifyEmail),
        (true, false) => None,
    };
    let ticket = ticket_kind.map(TicketKind::new_ticket);
    let change = Deanonymize {
        user_id: claims.user_id,
        email: body.email.clone(),
        password_hash,
        display_name: options.display_name,
        locale: options.locale,
        metadata: options.metadata,
        default_role: options.default_role,
        roles: options.allowed_roles,
        ticket: ticket.clone(),
    };
    match state.store.deanonymize(&change).await? {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::user_not_anonymous()),
        Err(_) => return Err(ApiError::email_already_in_use()),
    }
    if let (Some(kind), Some((ticket, _))) = (ticket_kind, ticket) {
        send_email(
            &state,
            &body.email,
            kind,
            &ticket,
            &options.redirect_to,
            body.code_challenge.as_deref(),
        );
    }
    Ok(Json("OK"))
}
