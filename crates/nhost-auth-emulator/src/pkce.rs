//! PKCE (RFC 7636, S256 only) for email links: the `codeChallenge` a request may carry, the
//! one-time authorization `code` the link's redirect then carries instead of a refresh token,
//! and the `codeVerifier` that `POST /token/exchange` checks.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::tokens::hash_refresh_token;

/// Checks a `codeChallenge` against the spec's pattern `^[A-Za-z0-9_-]{43}$` (a base64url
/// SHA-256 without padding); anything else is a request-validation error.
pub(crate) fn check_challenge(challenge: &str) -> Result<(), ApiError> {
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(ApiError::bad_request(
            "codeChallenge must be exactly 43 base64url characters (S256)",
        ));
    }
    Ok(())
}

/// Checks a `codeVerifier`: 43 to 128 characters of RFC 7636's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`); anything else is a request-validation error.
pub(crate) fn check_verifier(verifier: &str) -> Result<(), ApiError> {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return Err(ApiError::bad_request(
            "codeVerifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'",
        ));
    }
    Ok(())
}

/// The S256 challenge of a verifier: base64url (no padding) of its SHA-256.
pub(crate) fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh one-time authorization code (43 base64url characters from two random v4 UUIDs:
/// 244 random bits) and its stored form, hashed like a refresh token.
pub(crate) fn new_authorization_code() -> (String, String) {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    let code = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_authorization_code(&code);
    (code, hash)
}

/// The stored form of an authorization code: `\x` + hex(sha256(code)), as for refresh tokens.
pub(crate) fn hash_authorization_code(code: &str) -> String {
    hash_refresh_token(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn challenges_and_verifiers() {
        assert!(check_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_ok());
        for bad in [
            "",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw=cM",
        ] {
            assert!(check_challenge(bad).is_err(), "{bad}");
        }
        for ok in ["a".repeat(43), "a".repeat(128), "A-._~".repeat(9)] {
            assert!(check_verifier(&ok).is_ok(), "{ok}");
        }
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(43)),
        ] {
            assert!(check_verifier(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_43_characters_and_differ() {
        let (a, ha) = new_authorization_code();
        let (b, _) = new_authorization_code();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(ha, hash_authorization_code(&a));
        assert!(ha.starts_with("\\x") && !ha.contains(&a));
    }
}
