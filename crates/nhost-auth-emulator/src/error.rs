//! The three error shapes of the protocol, and the ids the handlers use.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to the client.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// Shape 1, handler errors: `{"status", "error", "message"}`, HTTP status = `status`.
    Handler {
        status: StatusCode,
        error: &'static str,
        message: String,
    },
    /// Shape 2, request validation: HTTP 400 (or the given status) with `{"error", "reason"}`.
    Validation {
        status: StatusCode,
        error: &'static str,
        reason: String,
    },
    /// Shape 3, rate limit: HTTP 429 with an empty body.
    RateLimited,
}

impl ApiError {
    fn handler(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError::Handler {
            status,
            error,
            message: message.into(),
        }
    }

    /// A request that does not match the spec (unknown field, wrong type, bad UUID, …).
    pub(crate) fn bad_request(reason: impl Into<String>) -> Self {
        ApiError::Validation {
            status: StatusCode::BAD_REQUEST,
            error: "invalid-request",
            reason: reason.into(),
        }
    }

    /// A missing, malformed, forged or expired bearer token.
    pub(crate) fn unauthorized(reason: impl Into<String>) -> Self {
        ApiError::Validation {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::handler(StatusCode::BAD_REQUEST, "invalid-request", message)
    }
    pub(crate) fn disabled_endpoint() -> Self {
        Self::handler(
            StatusCode::CONFLICT,
            "disabled-endpoint",
            "This endpoint is disabled",
        )
    }
    pub(crate) fn signup_disabled() -> Self {
        Self::handler(
            StatusCode::FORBIDDEN,
            "signup-disabled",
            "Sign up is disabled.",
        )
    }
    pub(crate) fn invalid_refresh_token() -> Self {
        Self::handler(
            StatusCode::UNAUTHORIZED,
            "invalid-refresh-token",
            "Invalid or expired refresh token",
        )
    }
    pub(crate) fn disabled_user() -> Self {
        Self::handler(
            StatusCode::UNAUTHORIZED,
            "disabled-user",
            "User is disabled",
        )
    }
    pub(crate) fn forbidden_anonymous() -> Self {
        Self::handler(
            StatusCode::FORBIDDEN,
            "forbidden-anonymous",
            "Forbidden, user is anonymous.",
        )
    }
    pub(crate) fn user_not_anonymous() -> Self {
        Self::handler(
            StatusCode::BAD_REQUEST,
            "user-not-anonymous",
            "Logged in user is not anonymous",
        )
    }
    pub(crate) fn password_too_short() -> Self {
        Self::handler(
            StatusCode::BAD_REQUEST,
            "password-too-short",
            "Password is too short",
        )
    }
    pub(crate) fn email_already_in_use() -> Self {
        Self::handler(
            StatusCode::CONFLICT,
            "email-already-in-use",
            "Email already in use",
        )
    }
    pub(crate) fn invalid_email_password() -> Self {
        Self::handler(
            StatusCode::UNAUTHORIZED,
            "invalid-email-password",
            "Incorrect email or password",
        )
    }
    pub(crate) fn unverified_user() -> Self {
        Self::handler(
            StatusCode::UNAUTHORIZED,
            "unverified-user",
            "Email is not verified",
        )
    }
    pub(crate) fn invalid_ticket() -> Self {
        Self::handler(StatusCode::UNAUTHORIZED, "invalid-ticket", "Invalid ticket")
    }
    pub(crate) fn locale_not_allowed() -> Self {
        Self::handler(
            StatusCode::BAD_REQUEST,
            "locale-not-allowed",
            "Locale not allowed",
        )
    }
    pub(crate) fn role_not_allowed() -> Self {
        Self::handler(
            StatusCode::BAD_REQUEST,
            "role-not-allowed",
            "Role not allowed",
        )
    }
    pub(crate) fn default_role_not_allowed() -> Self {
        Self::handler(
            StatusCode::BAD_REQUEST,
            "default-role-must-be-in-allowed-roles",
            "Default role must be in allowed roles",
        )
    }
    pub(crate) fn redirect_not_allowed() -> Self {
        Self::handler(
            StatusCode::BAD_REQUEST,
            "redirectTo-not-allowed",
            "The value of \"options.redirectTo\" is not allowed.",
        )
    }
    pub(crate) fn route_not_found() -> Self {
        Self::handler(StatusCode::NOT_FOUND, "route-not-found", "Route not found")
    }
    pub(crate) fn method_not_allowed() -> Self {
        Self::handler(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid-request",
            "Method not allowed",
        )
    }
    pub(crate) fn internal() -> Self {
        Self::handler(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-server-error",
            "Internal server error",
        )
    }

    /// The error id, for the `/verify` redirect's `error` parameter.
    pub(crate) fn id_and_message(&self) -> (&'static str, String) {
        match self {
            ApiError::Handler { error, message, .. } => (error, message.clone()),
            ApiError::Validation { error, reason, .. } => (error, reason.clone()),
            ApiError::RateLimited => ("too-many-requests", "Too many requests".into()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // The database is the only thing that can fail unexpectedly; say so in the log (which
        // never holds tokens: queries bind hashes, not tokens) and keep details from the client.
        tracing::error!(error = %e, "database error");
        ApiError::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Handler { status, error, message } => (
                status,
                Json(serde_json::json!({ "status": status.as_u16(), "error": error, "message": message })),
            )
                .into_response(),
            ApiError::Validation { status, error, reason } => {
                (status, Json(serde_json::json!({ "error": error, "reason": reason }))).into_response()
            }
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS.into_response(),
        }
    }
}
