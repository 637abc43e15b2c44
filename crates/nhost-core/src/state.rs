//! The session state machine: a closed enum and a pure transition function.
//!
//! Timers, storage and HTTP are effects that [`crate::NhostClient`] performs; nothing here does I/O,
//! so every rule is tested by a table.

use std::time::Duration;

use crate::session::{RefreshToken, Session, SessionKey};

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
    /// A sign-in (anonymous, email…) or a session handed over from elsewhere (the page the
    /// server rendered): new to this store, so it is written.
    SignedIn(Session),
    /// A session this client found in the store, written there by another tab or process (or
    /// by an earlier run): taken as it is, nothing written.
    Adopted(Session),
    /// The session keyed `previous` was exchanged for `session` by this client (at `/token`; in
    /// server-session mode at the site's `/_nhost/token`, or restored by its `/_nhost/session`).
    Refreshed {
        previous: SessionKey,
        session: Session,
    },
    /// The user signed out here.
    SignedOut,
    /// The server rejected this refresh token for good (after re-checking the store): the store
    /// is cleared only if it still holds this token.
    Rejected(RefreshToken),
    /// Another tab or process ended the session (the store no longer holds it): nothing to write.
    Forgotten,
    /// Start-up found nothing to restore.
    NothingStored,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Write the session to storage.
    Persist(Session),
    /// Remove the stored session.
    ClearStorage,
    /// Remove the stored session if it still holds this refresh token.
    ClearStorageIf(RefreshToken),
    /// Tell subscribers.
    Emit(AuthChange),
}

/// What subscribers hear.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthChange {
    /// A new session (sign-in, a session restored at start-up, or one another tab signed in).
    SignedIn(Session),
    /// The session's tokens were refreshed (here or by another tab).
    TokenRefreshed(Session),
    /// No session any more (or none found at start-up).
    SignedOut,
}

/// The transition function.
pub(crate) fn next(state: &AuthState, event: AuthEvent) -> (AuthState, Vec<Effect>) {
    use AuthEvent as E;
    use AuthState as S;
    let signed_in = |s: Session| {
        let emit = Effect::Emit(AuthChange::SignedIn(s.clone()));
        (S::SignedIn(s), emit)
    };
    match (state, event) {
        (_, E::SignedIn(s)) => {
            let (state, emit) = signed_in(s.clone());
            (state, vec![Effect::Persist(s), emit])
        }
        // The same user's newer session is a refresh to listeners; anyone else's a sign-in.
        (S::SignedIn(current), E::Adopted(s)) if current.user_id() == s.user_id() => (
            S::SignedIn(s.clone()),
            vec![Effect::Emit(AuthChange::TokenRefreshed(s))],
        ),
        (_, E::Adopted(s)) => {
            let (state, emit) = signed_in(s);
            (state, vec![emit])
        }
        // Only a refresh of the session we hold counts: a late answer for a session that was
        // signed out or replaced meanwhile must not bring it back.
        (S::SignedIn(current), E::Refreshed { previous, session })
            if SessionKey::of(current) == previous =>
        {
            (
                S::SignedIn(session.clone()),
                vec![
                    Effect::Persist(session.clone()),
                    Effect::Emit(AuthChange::TokenRefreshed(session)),
                ],
            )
        }
        (S::Loading, E::Refreshed { session, .. }) => {
            let (state, emit) = signed_in(session.clone());
            (state, vec![Effect::Persist(session), emit])
        }
        (state, E::Refreshed { .. }) => (state.clone(), vec![]),
        (S::SignedOut, E::SignedOut) => (S::SignedOut, vec![Effect::ClearStorage]),
        (_, E::SignedOut) => (
            S::SignedOut,
            vec![Effect::ClearStorage, Effect::Emit(AuthChange::SignedOut)],
        ),
        (S::SignedOut, E::Rejected(token)) => (S::SignedOut, vec![Effect::ClearStorageIf(token)]),
        (_, E::Rejected(token)) => (
            S::SignedOut,
            vec![
                Effect::ClearStorageIf(token),
                Effect::Emit(AuthChange::SignedOut),
            ],
        ),
        (S::SignedOut, E::Forgotten | E::NothingStored) => (S::SignedOut, vec![]),
        (S::SignedIn(_), E::NothingStored) => (state.clone(), vec![]),
        (_, E::Forgotten | E::NothingStored) => {
            (S::SignedOut, vec![Effect::Emit(AuthChange::SignedOut)])
        }
    }
}

/// How long before expiry to refresh: `min(300 s, TTL / 2)`. A fixed margin larger than a short
/// TTL made the reference clients refresh in a loop; half the TTL never does.
pub fn refresh_margin(ttl: Duration) -> Duration {
    Duration::from_secs(300).min(ttl / 2)
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

    /// A session as a client in server-session mode holds it: no refresh token, no id.
    fn server_session(token: &str) -> Session {
        Session {
            refresh_token: RefreshToken::new(""),
            refresh_token_id: String::new(),
            ..session(token)
        }
    }

    #[test]
    fn session_keys() {
        let (a, p, q) = (session("a"), server_session("p"), server_session("q"));
        assert_eq!(SessionKey::of(&a), SessionKey::of_token(&a.refresh_token));
        assert_ne!(
            SessionKey::of(&p),
            SessionKey::of(&q),
            "told apart by access token"
        );
        assert_eq!(SessionKey::of(&p), SessionKey::of(&p.clone()));
        assert_ne!(SessionKey::of(&p), SessionKey::restore());
        let secret = session("1fb17604-86c7");
        let shown = format!("{:?}", SessionKey::of(&secret));
        assert!(!shown.contains("1fb17604"), "{shown}");
        assert!(
            !SessionKey::of(&p).as_str().contains("at-p"),
            "a digest, not the token"
        );
    }

    #[test]
    fn transitions() {
        let a = session("a");
        let b = session("b");
        let c = session("c");
        let refreshed = |prev: &Session, s: &Session| AuthEvent::Refreshed {
            previous: SessionKey::of(prev),
            session: s.clone(),
        };
        let signed_in = |s: &Session| Effect::Emit(AuthChange::SignedIn(s.clone()));
        let refreshed_emit = |s: &Session| Effect::Emit(AuthChange::TokenRefreshed(s.clone()));
        let signed_out = || Effect::Emit(AuthChange::SignedOut);
        let mut other_user = c.clone();
        other_user.user =
            Some(serde_json::from_value(serde_json::json!({"id": "someone-else"})).expect("user"));
        #[rustfmt::skip]
        let table: Vec<(&str, AuthState, AuthEvent, AuthState, Vec<Effect>)> = vec![
            ("sign-in from signed out", AuthState::SignedOut, AuthEvent::SignedIn(a.clone()),
                AuthState::SignedIn(a.clone()), vec![Effect::Persist(a.clone()), signed_in(&a)]),
            ("start-up restore by refresh", AuthState::Loading, refreshed(&a, &b),
                AuthState::SignedIn(b.clone()), vec![Effect::Persist(b.clone()), signed_in(&b)]),
            ("start-up restore from the store writes nothing", AuthState::Loading, AuthEvent::Adopted(a.clone()),
                AuthState::SignedIn(a.clone()), vec![signed_in(&a)]),
            ("refresh of the held session", AuthState::SignedIn(a.clone()), refreshed(&a, &b),
                AuthState::SignedIn(b.clone()), vec![Effect::Persist(b.clone()), refreshed_emit(&b)]),
            ("another tab's refresh is adopted without writing", AuthState::SignedIn(a.clone()), AuthEvent::Adopted(b.clone()),
                AuthState::SignedIn(b.clone()), vec![refreshed_emit(&b)]),
            ("another user's session is a sign-in", AuthState::SignedIn(a.clone()), AuthEvent::Adopted(other_user.clone()),
                AuthState::SignedIn(other_user.clone()), vec![signed_in(&other_user)]),
            ("late refresh of a replaced session is ignored", AuthState::SignedIn(c.clone()), refreshed(&a, &b),
                AuthState::SignedIn(c.clone()), vec![]),
            ("late refresh after sign-out does not resurrect", AuthState::SignedOut, refreshed(&a, &b),
                AuthState::SignedOut, vec![]),
            ("sign-out", AuthState::SignedIn(a.clone()), AuthEvent::SignedOut,
                AuthState::SignedOut, vec![Effect::ClearStorage, signed_out()]),
            ("sign-out when signed out is quiet", AuthState::SignedOut, AuthEvent::SignedOut,
                AuthState::SignedOut, vec![Effect::ClearStorage]),
            ("a rejection clears only its own token", AuthState::SignedIn(a.clone()), AuthEvent::Rejected(a.refresh_token.clone()),
                AuthState::SignedOut, vec![Effect::ClearStorageIf(a.refresh_token.clone()), signed_out()]),
            ("start-up finds the token rejected", AuthState::Loading, AuthEvent::Rejected(a.refresh_token.clone()),
                AuthState::SignedOut, vec![Effect::ClearStorageIf(a.refresh_token.clone()), signed_out()]),
            ("another tab signed out: nothing written", AuthState::SignedIn(a.clone()), AuthEvent::Forgotten,
                AuthState::SignedOut, vec![signed_out()]),
            ("nothing stored at start-up", AuthState::Loading, AuthEvent::NothingStored,
                AuthState::SignedOut, vec![signed_out()]),
            ("nothing stored changes no signed-in client", AuthState::SignedIn(a.clone()), AuthEvent::NothingStored,
                AuthState::SignedIn(a.clone()), vec![]),
        ];
        // Server-session mode: sessions without a refresh token, told apart by their key.
        let (p, q, r) = (
            server_session("p"),
            server_session("q"),
            server_session("r"),
        );
        #[rustfmt::skip]
        let table = table.into_iter().chain(vec![
            ("server mode: refresh of the held session", AuthState::SignedIn(p.clone()), refreshed(&p, &q),
                AuthState::SignedIn(q.clone()), vec![Effect::Persist(q.clone()), refreshed_emit(&q)]),
            ("server mode: late refresh of a replaced session is ignored", AuthState::SignedIn(r.clone()), refreshed(&p, &q),
                AuthState::SignedIn(r.clone()), vec![]),
            ("server mode: restored at start-up", AuthState::Loading, AuthEvent::Refreshed { previous: SessionKey::restore(), session: p.clone() },
                AuthState::SignedIn(p.clone()), vec![Effect::Persist(p.clone()), signed_in(&p)]),
            ("server mode: late restore after sign-out does not resurrect", AuthState::SignedOut, AuthEvent::Refreshed { previous: SessionKey::restore(), session: p.clone() },
                AuthState::SignedOut, vec![]),
        ]);
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
    }

    /// Property tests (issue 13): `next` over arbitrary event sequences. The sessions come from
    /// a small pool (three refresh tokens plus server-mode sessions without one, three access
    /// tokens, two users) so that keys collide often: a late answer for a session held earlier,
    /// or for a session that shares the held one's key, is an everyday input here.
    ///
    /// Each property runs [`CASES`] sequences of up to 40 events (1–2 s each in a debug
    /// build). `PROPTEST_CASES=100000 cargo test -p nhost-core properties` runs longer. A failure
    /// prints the shrunk sequence and saves its seed under `proptest-regressions/` (committed:
    /// it is replayed first on every later run).
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Sequences per property in a normal test run.
        const CASES: u32 = 1_000;

        fn config() -> ProptestConfig {
            if std::env::var_os("PROPTEST_CASES").is_some() {
                ProptestConfig::default()
            } else {
                ProptestConfig::with_cases(CASES)
            }
        }

        /// A pool session: refresh token `""` (server-session mode) or `r1`–`r3`, access token
        /// `a1`–`a3`, user `u1`, `u2` or none.
        fn pool_session(refresh: usize, access: usize, user: usize) -> Session {
            let mut s = session("");
            s.refresh_token = RefreshToken::new(["", "r1", "r2", "r3"][refresh]);
            s.access_token = AccessToken::new(format!("a{access}"));
            s.user = match user {
                0 => None,
                n => Some(
                    serde_json::from_value(serde_json::json!({"id": format!("u{n}")}))
                        .expect("user"),
                ),
            };
            s
        }

        fn arb_session() -> impl Strategy<Value = Session> {
            (0..4usize, 1..4usize, 0..3usize).prop_map(|(r, a, u)| pool_session(r, a, u))
        }

        fn arb_token() -> impl Strategy<Value = RefreshToken> {
            prop::sample::select(vec!["", "r1", "r2", "r3"]).prop_map(RefreshToken::new)
        }

        /// The `previous` of a refresh answer: the key of some pool session (the held one
        /// often enough), of a bare token, or of a server-mode restore.
        fn arb_previous() -> impl Strategy<Value = SessionKey> {
            prop_oneof![
                4 => arb_session().prop_map(|s| SessionKey::of(&s)),
                1 => arb_token().prop_map(|t| SessionKey::of_token(&t)),
                1 => Just(SessionKey::restore()),
            ]
        }

        fn arb_event() -> impl Strategy<Value = AuthEvent> {
            prop_oneof![
                2 => arb_session().prop_map(AuthEvent::SignedIn),
                2 => arb_session().prop_map(AuthEvent::Adopted),
                6 => (arb_previous(), arb_session())
                    .prop_map(|(previous, session)| AuthEvent::Refreshed { previous, session }),
                1 => Just(AuthEvent::SignedOut),
                1 => arb_token().prop_map(AuthEvent::Rejected),
                1 => Just(AuthEvent::Forgotten),
                1 => Just(AuthEvent::NothingStored),
            ]
        }

        /// An event that carries no new sign-in: what may still arrive after the session ended.
        fn arb_late_event() -> impl Strategy<Value = AuthEvent> {
            arb_event().prop_filter("no sign-in", |e| {
                !matches!(e, AuthEvent::SignedIn(_) | AuthEvent::Adopted(_))
            })
        }

        fn arb_start() -> impl Strategy<Value = AuthState> {
            prop_oneof![
                Just(AuthState::Loading),
                Just(AuthState::SignedOut),
                arb_session().prop_map(AuthState::SignedIn),
            ]
        }

        fn arb_ending() -> impl Strategy<Value = AuthEvent> {
            prop_oneof![
                Just(AuthEvent::SignedOut),
                arb_token().prop_map(AuthEvent::Rejected),
                Just(AuthEvent::Forgotten),
            ]
        }

        fn is_write(e: &Effect) -> bool {
            matches!(
                e,
                Effect::Persist(_) | Effect::ClearStorage | Effect::ClearStorageIf(_)
            )
        }

        proptest! {
            #![proptest_config(config())]

            /// A signed-out session is never resurrected by a late answer: after a sign-out, a
            /// rejection or another tab forgetting the session, no event but a new sign-in
            /// (`SignedIn`, `Adopted`) leaves `SignedOut` — a late `Refreshed` (whatever its
            /// `previous`, a restore included) changes nothing and has no effect, and nothing
            /// is persisted nor announced again.
            #[test]
            fn a_signed_out_session_is_never_resurrected_by_a_late_answer(
                start in arb_start(),
                before in prop::collection::vec(arb_event(), 0..20),
                ending in arb_ending(),
                after in prop::collection::vec(arb_late_event(), 0..20),
            ) {
                let mut state = start;
                for event in before {
                    state = next(&state, event).0;
                }
                state = next(&state, ending).0;
                prop_assert_eq!(&state, &AuthState::SignedOut);
                for event in after {
                    let shown = format!("{event:?}");
                    let is_refresh = matches!(event, AuthEvent::Refreshed { .. });
                    let (now, effects) = next(&state, event);
                    prop_assert_eq!(&now, &AuthState::SignedOut, "after {}", shown);
                    prop_assert!(
                        effects.iter().all(|e| matches!(
                            e,
                            Effect::ClearStorage | Effect::ClearStorageIf(_)
                        )),
                        "{} when signed out gave {:?}", shown, effects
                    );
                    prop_assert!(!is_refresh || effects.is_empty(), "{shown}: {effects:?}");
                    state = now;
                }
            }

            /// A refresh is accepted only for the session held: `Refreshed { previous, session }`
            /// replaces the state by `SignedIn(session)`, persists and announces it exactly when
            /// the client holds the session keyed `previous` (or is still `Loading`: the
            /// start-up restore); otherwise the state is unchanged and there is no effect at all.
            #[test]
            fn a_refresh_is_accepted_only_for_the_session_held(
                start in arb_start(),
                events in prop::collection::vec(arb_event(), 0..40),
            ) {
                let mut state = start;
                for event in events {
                    let refresh = match &event {
                        AuthEvent::Refreshed { previous, session } => {
                            let held = match &state {
                                AuthState::SignedIn(c) => SessionKey::of(c) == *previous,
                                AuthState::Loading => true,
                                AuthState::SignedOut => false,
                            };
                            Some((held, session.clone()))
                        }
                        _ => None,
                    };
                    let (now, effects) = next(&state, event);
                    match refresh {
                        Some((true, session)) => {
                            prop_assert_eq!(&now, &AuthState::SignedIn(session.clone()));
                            prop_assert_eq!(effects.first(), Some(&Effect::Persist(session)));
                            prop_assert_eq!(effects.len(), 2);
                        }
                        Some((false, _)) => {
                            prop_assert_eq!(&now, &state);
                            prop_assert_eq!(effects, vec![]);
                        }
                        None => {}
                    }
                    state = now;
                }
            }

            /// Every transition leaves a state and effects the table tests consider valid:
            /// - `Loading` is left for good: no event leads back to it;
            /// - from `SignedOut`, only `SignedIn` and `Adopted` sign in;
            /// - `Persist(s)` only for the session now held, and only on a sign-in or an
            ///   accepted refresh (an adopted or forgotten session is already the store's);
            /// - `ClearStorage` only on a sign-out, `ClearStorageIf(t)` only on the rejection
            ///   of `t`, both only when the state is now `SignedOut`, never with a `Persist`;
            /// - at most one announcement, exactly one whenever the state changed, and it
            ///   names the state now held: `SignedIn(s)`/`TokenRefreshed(s)` when holding `s`,
            ///   `SignedOut` when signed out and not already signed out;
            /// - `TokenRefreshed` only to subscribers already told of a session;
            /// so what subscribers last heard is always the state (once out of `Loading`).
            #[test]
            fn every_transition_keeps_state_and_effects_consistent(
                start in arb_start(),
                events in prop::collection::vec(arb_event(), 0..40),
            ) {
                let mut state = start;
                // What subscribers last heard (`None`: nothing yet).
                let mut heard: Option<AuthState> = match &state {
                    AuthState::Loading => None,
                    other => Some(other.clone()),
                };
                for event in events {
                    let shown = format!("{event:?} in {state:?}");
                    let (now, effects) = next(&state, event.clone());
                    prop_assert_ne!(&now, &AuthState::Loading, "{}", shown);
                    if state == AuthState::SignedOut && now != AuthState::SignedOut {
                        prop_assert!(
                            matches!(event, AuthEvent::SignedIn(_) | AuthEvent::Adopted(_)),
                            "{}", shown
                        );
                    }
                    let emits: Vec<&AuthChange> = effects
                        .iter()
                        .filter_map(|e| match e {
                            Effect::Emit(c) => Some(c),
                            _ => None,
                        })
                        .collect();
                    prop_assert!(emits.len() <= 1, "{}: {:?}", shown, effects);
                    if now != state {
                        prop_assert_eq!(emits.len(), 1, "{}: {:?}", shown, effects);
                    }
                    prop_assert!(effects.iter().filter(|e| is_write(e)).count() <= 1, "{shown}");
                    for effect in &effects {
                        match effect {
                            Effect::Persist(s) => {
                                prop_assert_eq!(&now, &AuthState::SignedIn(s.clone()), "{}", shown);
                                prop_assert!(
                                    matches!(event, AuthEvent::SignedIn(_) | AuthEvent::Refreshed { .. }),
                                    "{}", shown
                                );
                            }
                            Effect::ClearStorage => {
                                prop_assert_eq!(&now, &AuthState::SignedOut, "{}", shown);
                                prop_assert!(matches!(event, AuthEvent::SignedOut), "{}", shown);
                            }
                            Effect::ClearStorageIf(t) => {
                                prop_assert_eq!(&now, &AuthState::SignedOut, "{}", shown);
                                prop_assert!(
                                    matches!(&event, AuthEvent::Rejected(r) if r == t),
                                    "{}", shown
                                );
                            }
                            Effect::Emit(AuthChange::SignedIn(s)) => {
                                prop_assert_eq!(&now, &AuthState::SignedIn(s.clone()), "{}", shown);
                            }
                            Effect::Emit(AuthChange::TokenRefreshed(s)) => {
                                prop_assert_eq!(&now, &AuthState::SignedIn(s.clone()), "{}", shown);
                                prop_assert!(
                                    matches!(heard, Some(AuthState::SignedIn(_))),
                                    "{}: a refresh announced to subscribers told of no session",
                                    shown
                                );
                            }
                            Effect::Emit(AuthChange::SignedOut) => {
                                prop_assert_eq!(&now, &AuthState::SignedOut, "{}", shown);
                                prop_assert_ne!(&state, &AuthState::SignedOut, "{}", shown);
                            }
                        }
                    }
                    if let Some(change) = emits.first() {
                        heard = Some(match change {
                            AuthChange::SignedIn(s) | AuthChange::TokenRefreshed(s) => {
                                AuthState::SignedIn(s.clone())
                            }
                            AuthChange::SignedOut => AuthState::SignedOut,
                        });
                    }
                    if now != AuthState::Loading {
                        prop_assert_eq!(heard.as_ref(), Some(&now), "subscribers out of date after {}", shown);
                    }
                    state = now;
                }
            }
        }
    }
}
