//! Emulator-only routes under `/_emulator` (not part of Nhost's protocol; can be switched off):
//! the development mailbox, request counters, a reset, and disabling users.
//!
//! The mailbox holds every magic link, so these routes are guarded (`crate::guards`): served on
//! loopback only unless forced, no CORS, no other origin, and state changes only from requests
//! no cross-site form can send.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::mailbox::Email;
use crate::state::{AppState, StatsSnapshot};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/mailbox", get(mailbox).delete(clear_mailbox))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .route("/users/{id}/disable", post(disable_user))
        .route("/users/{id}/enable", post(enable_user))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
}

#[derive(Deserialize)]
struct MailboxQuery {
    to: Option<String>,
}

/// `GET /_emulator/mailbox[?to=email]` → the emails sent, oldest first.
async fn mailbox(State(state): State<AppState>, Query(q): Query<MailboxQuery>) -> Json<Vec<Email>> {
    Json(match q.to {
        Some(to) => state.mailbox.to(&to),
        None => state.mailbox.all(),
    })
}

/// `DELETE /_emulator/mailbox` → `"OK"`.
async fn clear_mailbox(State(state): State<AppState>) -> Json<&'static str> {
    state.mailbox.clear();
    Json("OK")
}

/// `GET /_emulator/stats` → request counters.
async fn stats(State(state): State<AppState>) -> Json<StatsSnapshot> {
    Json(state.stats.snapshot())
}

/// `POST /_emulator/reset` → deletes every user, empties the mailbox, zeroes the counters.
async fn reset(State(state): State<AppState>) -> Result<Json<&'static str>, ApiError> {
    state.store.reset().await?;
    state.mailbox.clear();
    state.stats.reset();
    Ok(Json("OK"))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(id).map_err(|_| ApiError::bad_request("user id must be a UUID"))
}

async fn set_disabled(
    state: &AppState,
    id: &str,
    disabled: bool,
) -> Result<Json<&'static str>, ApiError> {
    if state.store.set_disabled(parse_id(id)?, disabled).await? {
        Ok(Json("OK"))
    } else {
        Err(ApiError::route_not_found())
    }
}

/// `POST /_emulator/users/{id}/disable`: the user's refresh and sign-in now fail with `disabled-user`.
async fn disable_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    set_disabled(&state, &id, true).await
}

/// `POST /_emulator/users/{id}/enable`.
async fn enable_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    set_disabled(&state, &id, false).await
}
