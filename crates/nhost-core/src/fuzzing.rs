//! Not public API: the crate's private parsers, reachable from the fuzz targets in `fuzz/`.
//!
//! Compiled only with `--cfg fuzzing` (which `cargo fuzz` sets), so it is in no normal build, no
//! documentation and no semver check. Each function runs the crate's own code; the comparisons
//! return what disagreed, and the fuzz target turns that into a crash.

use serde_json::Value;

use crate::api::{PublicPayload, PublicSessionWire, SessionPayload, SessionWire};
use crate::json::{FromJson, ToJson};
use crate::session::{HasuraClaims, Session, User};

/// What `decode_access_token` read from a JWT: the Hasura claims and `exp`.
pub fn decode_access_token(token: &str, namespace: &str) -> Option<(HasuraClaims, Option<u64>)> {
    crate::session::decode_access_token(token, namespace).map(|d| (d.claims, d.exp))
}

/// serde reads a struct from an array of its fields in order; no server or tab writes that, and
/// the browser mapping does not read it (see `json.rs`). True when `value`, or one of the
/// structs nested in it, is such an array.
fn has_struct_as_array(value: &Value) -> bool {
    match value {
        Value::Array(_) => true,
        Value::Object(o) => ["user", "claims", "session"]
            .iter()
            .filter_map(|k| o.get(*k))
            .any(has_struct_as_array),
        _ => false,
    }
}

/// Where the browser JSON mapping (`json.rs`) and the serde derives disagree on `value`:
/// decoding every wire and session type, and, for what decodes, encoding it back.
pub fn json_mapping_disagreements(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if has_struct_as_array(value) {
        return out;
    }
    let mut same = |what: &str, by_hand: String, by_serde: String| {
        if by_hand != by_serde {
            out.push(format!(
                "{what} of {value}: by hand {by_hand}, by serde {by_serde}"
            ));
        }
    };
    // `Session`'s `Debug` redacts its tokens: compare the values, show their JSON.
    let by_hand = Session::from_json(value).ok();
    let by_serde = serde_json::from_value::<Session>(value.clone()).ok();
    if by_hand != by_serde {
        let show = |s: &Option<Session>| s.as_ref().map(|s| s.to_json().to_string());
        same(
            "Session",
            format!("{:?}", show(&by_hand)),
            format!("{:?} (the values differ)", show(&by_serde)),
        );
    }
    if let Some(s) = &by_hand {
        same(
            "Session encoding",
            s.to_json().to_string(),
            serde_json::to_value(s).map_or_else(|e| e.to_string(), |v| v.to_string()),
        );
    }
    let user = User::from_json(value).ok();
    same(
        "User",
        format!("{user:?}"),
        format!("{:?}", serde_json::from_value::<User>(value.clone()).ok()),
    );
    if let Some(u) = &user {
        same(
            "User encoding",
            u.to_json().to_string(),
            serde_json::to_value(u).map_or_else(|e| e.to_string(), |v| v.to_string()),
        );
    }
    let claims = HasuraClaims::from_json(value).ok();
    same(
        "HasuraClaims",
        format!("{claims:?}"),
        format!(
            "{:?}",
            serde_json::from_value::<HasuraClaims>(value.clone()).ok()
        ),
    );
    let wire = |w: Option<SessionWire>| {
        format!(
            "{:?}",
            w.map(|w| (
                w.access_token,
                w.access_token_expires_in,
                w.refresh_token,
                w.refresh_token_id,
                w.user
            ))
        )
    };
    same(
        "SessionWire",
        wire(SessionWire::from_json(value).ok()),
        wire(serde_json::from_value(value.clone()).ok()),
    );
    let payload = |p: Option<SessionPayload>| {
        let p = p.map(|p| (p.session.map(|s| wire(Some(s))), p.mfa));
        format!("{p:?}")
    };
    same(
        "SessionPayload",
        payload(SessionPayload::from_json(value).ok()),
        payload(serde_json::from_value(value.clone()).ok()),
    );
    let public = |w: Option<PublicSessionWire>| {
        format!(
            "{:?}",
            w.map(|w| (w.access_token, w.access_token_expires_in, w.user))
        )
    };
    same(
        "PublicSessionWire",
        public(PublicSessionWire::from_json(value).ok()),
        public(serde_json::from_value(value.clone()).ok()),
    );
    let public_payload =
        |p: Option<PublicPayload>| format!("{:?}", p.map(|p| p.session.map(|s| public(Some(s)))));
    same(
        "PublicPayload",
        public_payload(PublicPayload::from_json(value).ok()),
        public_payload(serde_json::from_value(value.clone()).ok()),
    );
    #[derive(serde::Deserialize)]
    struct ErrorWire {
        error: Option<String>,
        message: Option<String>,
        reason: Option<String>,
    }
    same(
        "error fields",
        format!("{:?}", crate::json::error_fields(value).ok()),
        format!(
            "{:?}",
            serde_json::from_value::<ErrorWire>(value.clone())
                .ok()
                .map(|e| [e.error, e.message, e.reason])
        ),
    );
    out
}
