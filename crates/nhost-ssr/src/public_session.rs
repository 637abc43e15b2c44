//! [`PublicSession`]: the part of a session the browser may hold.

use nhost_core::{AccessToken, Session, User};
use serde::{Deserialize, Serialize};

/// The part of a session that may leave the server: the access token, the seconds it has left,
/// and the user — `{"accessToken", "accessTokenExpiresIn", "user"}`, the names of Nhost Auth's
/// `Session`. The type has no place for the refresh token or its id: they stay in the sealed
/// `HttpOnly` cookie, and nothing built from this type can carry them.
///
/// `access_token_expires_in` is the time left *when the value was made*, so that a browser
/// counts the expiry from its own clock, whatever the server's says.
///
/// ```
/// # fn demo(session: &nhost_ssr::nhost_core::Session) -> serde_json::Result<()> {
/// let public = nhost_ssr::PublicSession::new(session);
/// let json = serde_json::to_string(&public)?;
/// assert!(!json.contains(session.refresh_token.expose()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PublicSession {
    /// The access token (a JWT), for `Authorization: Bearer …` to Hasura.
    pub access_token: AccessToken,
    /// Seconds the access token had left when this value was made.
    pub access_token_expires_in: u64,
    /// The user; `null` when the session cookie had to drop it to fit in 4 KB (the access
    /// token's claims still carry the id, roles and anonymity).
    pub user: Option<User>,
}

impl PublicSession {
    /// The public part of `session`, its expiry counted from now.
    pub fn new(session: &Session) -> Self {
        PublicSession {
            access_token: session.access_token.clone(),
            access_token_expires_in: session.expires_in().as_secs(),
            user: session.user.clone(),
        }
    }
}

impl From<&Session> for PublicSession {
    fn from(session: &Session) -> Self {
        PublicSession::new(session)
    }
}
