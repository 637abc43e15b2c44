//! The session state machine: a closed enum and a pure transition function.
//!
//! Timers, storage and HTTP are effects that [`crate::NhostClient`] performs; nothing here does I/O,
//! so every rule is tested by a table.

use std::time::Duration;

use crate::session::{RefreshToken, Session};

/// Where the client stands.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per client or call; boxing would only add an allocation"
)]
pub enum AuthState {
    /// A stored refresh token is being exchanged for a session (start-up).
    Loading,
    /// No session.
    SignedOut,
    /// A session (whose access token may be near expiry: the client refreshes it).
    SignedIn(Session),
}

impl AuthState {
    /// The session, when signed in.
    pub fn session(&self) -> Option<&Session> {
        match self {
            AuthState::SignedIn(s) => Some(s),
            _ => None,
        }
    }
}

/// Something that happened.
#[derive(Debug, Clone)]
pub(crate) enum AuthEvent {
    /// A sign-in (anonymous, email…) or a start-up restore produced a session.
    SignedIn(Session),
    /// `previous` was exchanged for `session` — at `/token` by us, or by another tab/process.
    Refreshed {
        previous: RefreshToken,
        session: Session,
    },
    /// The user signed out, or the server rejected the refresh token for good.
    SignedOut,
    /// Start-up gave up on the stored token after transient failures: signed out for now, but
    /// the stored token is kept so a later start can still restore the session.
    StartupGaveUp,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Write the session's refresh token (and expiry) to storage.
    Persist(Session),
    /// Remove the stored session.
    ClearStorage,
    /// Tell subscribers.
    Emit(AuthChange),
}

/// What subscribers hear.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthChange {
    /// A new session (sign-in, or a session restored at start-up).
    SignedIn(Session),
    /// The session's tokens were refreshed.
    TokenRefreshed(Session),
    /// No session any more (or none found at start-up).
    SignedOut,
}

/// The transition function.
pub(crate) fn next(state: &AuthState, event: AuthEvent) -> (AuthState, Vec<Effect>) {
    use AuthEvent as E;
    use AuthState as S;
    match (state, event) {
        (_, E::SignedIn(s)) => (
            S::SignedIn(s.clone()),
            vec![
                Effect::Persist(s.clone()),
                Effect::Emit(AuthChange::SignedIn(s)),
            ],
        ),
        // Only a refresh of the session we hold counts: a late answer for a session that was
        // signed out or replaced meanwhile must not bring it back.
        (S::SignedIn(current), E::Refreshed { previous, session })
            if current.refresh_token == previous =>
        {
            (
                S::SignedIn(session.clone()),
                vec![
                    Effect::Persist(session.clone()),
                    Effect::Emit(AuthChange::TokenRefreshed(session)),
                ],
            )
        }
        (S::Loading, E::Refreshed { session, .. }) => (
            S::SignedIn(session.clone()),
            vec![
                Effect::Persist(session.clone()),
                Effect::Emit(AuthChange::SignedIn(session)),
            ],
        ),
        (state, E::Refreshed { .. }) => (state.clone(), vec![]),
        (S::SignedOut, E::SignedOut) => (S::SignedOut, vec![Effect::ClearStorage]),
        (_, E::SignedOut) => (
            S::SignedOut,
            vec![Effect::ClearStorage, Effect::Emit(AuthChange::SignedOut)],
        ),
        (S::Loading, E::StartupGaveUp) => (S::SignedOut, vec![Effect::Emit(AuthChange::SignedOut)]),
        (state, E::StartupGaveUp) => (state.clone(), vec![]),
    }
}

/// How long before expiry to refresh: `min(300 s, TTL / 2)`. A fixed margin larger than a short
/// TTL made the reference clients refresh in a loop; half the TTL never does.
pub fn refresh_margin(ttl: Duration) -> Duration {
    Duration::from_secs(300).min(ttl / 2)
}

/// When (Unix seconds) a session should be refreshed.
pub(crate) fn refresh_due_at(session: &Session) -> u64 {
    let margin = refresh_margin(Duration::from_secs(session.access_token_expires_in));
    session
        .access_token_expires_at
        .saturating_sub(margin.as_secs())
}

/// Waits between retries of transient refresh failures: 5, 10, 20, 40, 80 seconds.
pub const RETRY_BACKOFF: [Duration; 5] = [
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(20),
    Duration::from_secs(40),
    Duration::from_secs(80),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::AccessToken;

    fn session(token: &str) -> Session {
        Session {
            access_token: AccessToken::new(format!("at-{token}")),
            access_token_expires_in: 900,
            access_token_expires_at: 10_000,
            refresh_token: RefreshToken::new(token),
            refresh_token_id: "row".into(),
            user: None,
            claims: None,
        }
    }

    #[test]
    fn transitions() {
        let a = session("a");
        let b = session("b");
        let c = session("c");
        let refreshed = |prev: &Session, s: &Session| AuthEvent::Refreshed {
            previous: prev.refresh_token.clone(),
            session: s.clone(),
        };
        #[rustfmt::skip]
        let table: Vec<(&str, AuthState, AuthEvent, AuthState, Vec<Effect>)> = vec![
            ("sign-in from signed out", AuthState::SignedOut, AuthEvent::SignedIn(a.clone()),
                AuthState::SignedIn(a.clone()), vec![Effect::Persist(a.clone()), Effect::Emit(AuthChange::SignedIn(a.clone()))]),
            ("start-up restore", AuthState::Loading, refreshed(&a, &b),
                AuthState::SignedIn(b.clone()), vec![Effect::Persist(b.clone()), Effect::Emit(AuthChange::SignedIn(b.clone()))]),
            ("refresh of the held session", AuthState::SignedIn(a.clone()), refreshed(&a, &b),
                AuthState::SignedIn(b.clone()), vec![Effect::Persist(b.clone()), Effect::Emit(AuthChange::TokenRefreshed(b.clone()))]),
            ("late refresh of a replaced session is ignored", AuthState::SignedIn(c.clone()), refreshed(&a, &b),
                AuthState::SignedIn(c.clone()), vec![]),
            ("late refresh after sign-out does not resurrect", AuthState::SignedOut, refreshed(&a, &b),
                AuthState::SignedOut, vec![]),
            ("sign-out", AuthState::SignedIn(a.clone()), AuthEvent::SignedOut,
                AuthState::SignedOut, vec![Effect::ClearStorage, Effect::Emit(AuthChange::SignedOut)]),
            ("sign-out when signed out is quiet", AuthState::SignedOut, AuthEvent::SignedOut,
                AuthState::SignedOut, vec![Effect::ClearStorage]),
            ("start-up finds the token rejected", AuthState::Loading, AuthEvent::SignedOut,
                AuthState::SignedOut, vec![Effect::ClearStorage, Effect::Emit(AuthChange::SignedOut)]),
            ("start-up gives up offline, keeps storage", AuthState::Loading, AuthEvent::StartupGaveUp,
                AuthState::SignedOut, vec![Effect::Emit(AuthChange::SignedOut)]),
            ("a give-up after sign-in changes nothing", AuthState::SignedIn(a.clone()), AuthEvent::StartupGaveUp,
                AuthState::SignedIn(a.clone()), vec![]),
        ];
        for (name, state, event, want_state, want_effects) in table {
            let (got_state, got_effects) = next(&state, event);
            assert_eq!(got_state, want_state, "{name}");
            assert_eq!(got_effects, want_effects, "{name}");
        }
    }

    #[test]
    fn margin_is_the_smaller_of_five_minutes_and_half_the_ttl() {
        for (ttl, margin_ms) in [
            (900, 300_000),
            (3600, 300_000),
            (600, 300_000),
            (300, 150_000),
            (3, 1_500),
            (0, 0),
        ] {
            assert_eq!(
                refresh_margin(Duration::from_secs(ttl)),
                Duration::from_millis(margin_ms),
                "ttl {ttl}"
            );
        }
        let s = session("a");
        assert_eq!(refresh_due_at(&s), 10_000 - 300);
    }
}
