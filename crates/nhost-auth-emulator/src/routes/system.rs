//! `GET /healthz`, `GET /version`, `GET /.well-known/jwks.json`.

use axum::Json;
use axum::extract::State;

use crate::state::AppState;

/// `GET /healthz` → `"OK"`.
pub(crate) async fn healthz() -> Json<&'static str> {
    Json("OK")
}

/// `HEAD /healthz` → 200 without a body.
pub(crate) async fn healthz_head() {}

/// `GET /version` → `{"version": "…"}`.
pub(crate) async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": concat!(env!("CARGO_PKG_VERSION"), "-emulator") }))
}

/// `GET /.well-known/jwks.json`: the public key for RS* secrets, an empty set for HS* ones.
pub(crate) async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.config.jwt_secret.jwks())
}
