//! Fuzzes nhost-core's session JSON: the serde path (`Session` as the cookie and the session
//! store hold it; `Session::from_public_json`, the session endpoints' answer and the page's
//! hydration data) and the browser build's hand-written mapping (`json.rs`, run natively here),
//! which must decode and encode every wire and session type exactly as the serde derives do.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nhost_core::{Session, fuzzing};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A session read from text is written back and read again unchanged.
    if let Ok(session) = serde_json::from_str::<Session>(text) {
        let written = serde_json::to_string(&session).expect("a session serialises");
        let again: Session = serde_json::from_str(&written).expect("a written session reads back");
        assert!(
            again == session,
            "round trip changed the session: {written}"
        );
    }
    // A page's session never carries a refresh token.
    if let Ok(Some(session)) = Session::from_public_json(text) {
        assert!(session.refresh_token.is_empty());
        assert!(session.refresh_token_id.is_empty());
    }
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        let disagreements = fuzzing::json_mapping_disagreements(&value);
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }
});
