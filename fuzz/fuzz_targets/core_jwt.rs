//! Fuzzes nhost-core's access-token decoder (`session::decode_access_token`: the JWT's payload,
//! base64url, JSON, the Hasura claims namespace).
//!
//! Input: a mode byte, then the rest. Even modes take the rest as the token itself; odd modes
//! take it as the payload's JSON and build the token around it, checking the decoded claims
//! against `serde_json` read directly. Bit 1 picks the claims namespace.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use nhost_core::fuzzing;
use serde_json::Value;

const NAMESPACES: [&str; 2] = ["https://hasura.io/jwt/claims", "claims"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let namespace = NAMESPACES[usize::from(mode >> 1) % 2];
    let text = String::from_utf8_lossy(rest);
    if mode & 1 == 0 {
        let decoded = fuzzing::decode_access_token(&text, namespace);
        if let Some(payload) = text.split('.').nth(1) {
            let payload = payload.trim_end_matches('=');
            if URL_SAFE_NO_PAD.decode(payload).is_err() {
                assert!(decoded.is_none(), "decoded a payload that is not base64url");
            }
        } else {
            assert!(decoded.is_none(), "decoded a token without a payload");
        }
        return;
    }
    let token = format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(rest));
    let decoded = fuzzing::decode_access_token(&token, namespace);
    let Ok(json) = serde_json::from_slice::<Value>(rest) else {
        assert!(decoded.is_none(), "decoded a payload that is not JSON");
        return;
    };
    let ns = json.get(namespace);
    let user_id = ns
        .and_then(|ns| ns.get("x-hasura-user-id"))
        .and_then(Value::as_str)
        .or_else(|| json.get("sub").and_then(Value::as_str));
    match (ns, user_id) {
        (Some(_), Some(user_id)) => {
            let (claims, exp) = decoded.expect("claims with a user id decode");
            assert_eq!(claims.user_id, user_id);
            assert_eq!(exp, json.get("exp").and_then(Value::as_u64));
            let anonymous = match ns.and_then(|ns| ns.get("x-hasura-user-is-anonymous")) {
                Some(Value::String(s)) => s == "true",
                Some(Value::Bool(b)) => *b,
                _ => false,
            };
            assert_eq!(claims.is_anonymous, anonymous);
            if let Some(Value::Array(roles)) = ns.and_then(|ns| ns.get("x-hasura-allowed-roles")) {
                let strings: Vec<&str> = roles.iter().filter_map(Value::as_str).collect();
                assert_eq!(claims.allowed_roles, strings);
            }
        }
        _ => assert!(decoded.is_none(), "claims without a namespace or user id"),
    }
});
