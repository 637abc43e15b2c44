//! PKCE for email links (RFC 7636, S256), as the current Nhost Auth protocol speaks it: a request
//! that makes the server send a link carries `codeChallenge` — base64url(SHA-256(verifier)), 43
//! characters — and the link's redirect then carries a one-time `code` instead of a refresh
//! token; `POST /token/exchange {code, codeVerifier}` turns it into a session. A link intercepted
//! on its way (mail scanners, proxy logs, `Referer`, browser history) is worthless without the
//! verifier, which never leaves the client that made it.
//!
//! The verifier is 32 bytes from the operating system's CSPRNG (`getrandom`: `getrandom(2)`
//! natively, `crypto.getRandomValues` in the browser), base64url-encoded: 43 characters, the
//! protocol's minimum length, 256 bits of entropy.

use sha2::{Digest as _, Sha256};

use crate::error::{AuthError, ErrorCode, STATUS_OTHER};

/// The storage key of the verifier of the last link this client asked for: in the browser,
/// `localStorage` — shared by the origin's tabs, so that the page the link opens (often a new
/// tab) can finish the flow.
pub const CODE_VERIFIER_KEY: &str = "nhostPkceCodeVerifier";

/// A fresh verifier and its challenge.
pub(crate) fn new_pair() -> Result<(String, String), AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        AuthError::new(
            STATUS_OTHER,
            ErrorCode::Other("no-randomness".into()),
            format!("cannot make a PKCE code verifier: no secure random numbers ({e})"),
        )
    })?;
    let verifier = base64url(&bytes);
    let challenge = challenge(&verifier);
    Ok((verifier, challenge))
}

/// The S256 challenge of `verifier`: base64url (no padding) of its SHA-256.
pub(crate) fn challenge(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

/// Unpadded base64url.
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_fresh_and_the_protocol_shape() {
        let (a, ca) = new_pair().expect("randomness");
        let (b, _) = new_pair().expect("randomness");
        assert_ne!(a, b);
        let url_safe = |s: &str| {
            s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        };
        assert_eq!(a.len(), 43);
        assert!(url_safe(&a));
        assert_eq!(ca.len(), 43);
        assert!(url_safe(&ca));
        assert_eq!(ca, challenge(&a));
    }
}
