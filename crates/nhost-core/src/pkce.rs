//! PKCE for email links (RFC 7636, S256), as the current Nhost Auth protocol speaks it: a request
//! that makes the server send a link carries `codeChallenge` — base64url(SHA-256(verifier)), 43
//! characters — and the link's redirect then carries a one-time `code` instead of a refresh
//! token; `POST /token/exchange {code, codeVerifier}` turns it into a session. A link intercepted
//! on its way (mail scanners, proxy logs, `Referer`, browser history) is worthless without the
//! verifier, which never leaves the client that made it.
//!
//! The verifier is 32 bytes from the operating system's CSPRNG (`getrandom`: `getrandom(2)`
//! natively, `crypto.getRandomValues` in the browser), base64url-encoded: 43 characters, the
//! protocol's minimum length, 256 bits of entropy. Its SHA-256 is sha2's natively and Web
//! Crypto's (`crypto.subtle.digest`) in the browser, as nhost-js 4's `pkce.ts` does; a page
//! without a secure context (plain http other than `localhost`) has no `crypto.subtle`, and
//! asking for a link there fails with `no-web-crypto` before anything is sent.

use crate::error::{AuthError, ErrorCode, STATUS_OTHER};
/// Unpadded base64url in the browser: `btoa`, then the URL-safe alphabet.
#[cfg(target_arch = "wasm32")]
use crate::js::base64url;

/// The storage key of the verifier of the last link this client asked for: in the browser,
/// `localStorage` — shared by the origin's tabs, so that the page the link opens (often a new
/// tab) can finish the flow.
pub const CODE_VERIFIER_KEY: &str = "nhostPkceCodeVerifier";

/// A fresh verifier and its challenge.
pub(crate) async fn new_pair() -> Result<(String, String), AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        failure(
            "no-randomness",
            format!("cannot make a PKCE code verifier: no secure random numbers ({e})"),
        )
    })?;
    let verifier = base64url(&bytes);
    let challenge = challenge(&verifier).await?;
    Ok((verifier, challenge))
}

fn failure(id: &str, message: String) -> AuthError {
    AuthError::new(STATUS_OTHER, ErrorCode::Other(id.into()), message)
}

/// The S256 challenge of `verifier`: base64url (no padding) of its SHA-256 — natively sha2's.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn challenge(verifier: &str) -> Result<String, AuthError> {
    use sha2::{Digest as _, Sha256};
    Ok(base64url(&Sha256::digest(verifier.as_bytes())))
}

/// The S256 challenge of `verifier`: base64url (no padding) of its SHA-256 — in the browser
/// Web Crypto's `crypto.subtle.digest`, which a secure context (https, or `localhost`) has
/// (with sha2 and the `base64` crate the bundle was 3.4 KB of gzip larger: nhost-yew's README).
#[cfg(target_arch = "wasm32")]
pub(crate) async fn challenge(verifier: &str) -> Result<String, AuthError> {
    let digest = crate::js::sha256(verifier.as_bytes())
        .await
        .ok_or_else(|| {
            failure(
                "no-web-crypto",
                "cannot make a PKCE code challenge: this page has no Web Crypto \
             (`crypto.subtle` needs a secure context: https, or localhost)"
                    .to_owned(),
            )
        })?;
    Ok(base64url(&digest))
}

/// Unpadded base64url.
#[cfg(not(target_arch = "wasm32"))]
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("ready at once natively")
    }

    #[test]
    fn rfc_7636_appendix_b() {
        assert_eq!(
            block_on(challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).expect("sha2"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_fresh_and_the_protocol_shape() {
        let (a, ca) = block_on(new_pair()).expect("randomness");
        let (b, _) = block_on(new_pair()).expect("randomness");
        assert_ne!(a, b);
        let url_safe = |s: &str| {
            s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        };
        assert_eq!(a.len(), 43);
        assert!(url_safe(&a));
        assert_eq!(ca.len(), 43);
        assert!(url_safe(&ca));
        assert_eq!(ca, block_on(challenge(&a)).expect("sha2"));
    }
}
