//! Refresh tokens and tickets: random UUIDs handed out once, stored only as hashes.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The stored form of a refresh token: `\x` followed by the hex SHA-256 of the token text,
/// exactly as hasura-auth stores it in `auth.refresh_tokens.refresh_token_hash`.
pub fn hash_refresh_token(token: &str) -> String {
    format!("\\x{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// A new primary key: a time-ordered UUID (v7), so that new rows go to the end of each index
/// instead of to random pages — fewer pages written per commit. Secrets (refresh tokens, tickets)
/// stay random v4 UUIDs.
pub(crate) fn new_row_id() -> Uuid {
    Uuid::now_v7()
}

/// A fresh refresh token and its hash.
pub(crate) fn new_refresh_token() -> (Uuid, String) {
    let token = Uuid::new_v4();
    let hash = hash_refresh_token(&token.to_string());
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_test_vector() {
        assert_eq!(
            hash_refresh_token("1fb17604-86c7-444e-b337-09a644465f2d"),
            "\\x9698157153010b858587119503cbeef0cf288f11775e51cdb6bfd65e930d9310"
        );
    }
}
