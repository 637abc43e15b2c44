//! `nhost-core` against the real `nhost-auth-emulator`, started in-process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nhost_auth_emulator::{Config, Emulator};
use nhost_core::{
    AuthChange, AuthState, DeanonymizeMethod, ErrorCode, MemoryStorage, NhostClient,
    SessionStorage, SignInAnonymousOptions, SignOutScope, SignUpOutcome,
};

async fn emulator(tweak: impl FnOnce(&mut Config)) -> Emulator {
    let mut config = Config::default();
    config.bcrypt_cost = 4;
    tweak(&mut config);
    Emulator::start(config).await.expect("emulator starts")
}

fn client(emu: &Emulator) -> NhostClient {
    NhostClient::builder()
        .auth_url(emu.url())
        .build()
        .expect("client builds")
}

fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Follows a mailbox link the way a browser would, returning the address it redirects to (the
/// landing page, whose query carries `code=…` for a PKCE link).
async fn follow_email_link(emu: &Emulator, email: &str) -> String {
    let mail = emu.mailbox().to(email).pop().expect("an email was sent");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let res = http.get(&mail.link).send().await.expect("link answers");
    assert_eq!(res.status(), 302, "the link redirects");
    res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// Completes the email link sent to `email` with `client`.
async fn complete_link(client: &NhostClient, emu: &Emulator, email: &str) -> nhost_core::Session {
    let landing = follow_email_link(emu, email).await;
    assert!(
        landing.contains("code=") && !landing.contains("refreshToken"),
        "nhost-core asks for PKCE links: {landing}"
    );
    client
        .complete_email_link(&landing)
        .await
        .expect("the link completes")
        .expect("a session")
}

#[tokio::test]
async fn anonymous_sign_in_gives_an_anonymous_session_with_decoded_claims() {
    let emu = emulator(|c| c.anonymous_role = "public".into()).await;
    let client = client(&emu);
    let options = SignInAnonymousOptions::default()
        .display_name("Guest")
        .locale("en");
    let session = client.sign_in_anonymous(options).await.expect("signed in");
    assert!(session.is_anonymous());
    let user = session.user.as_ref().expect("user");
    assert_eq!(user.display_name, "Guest");
    assert_eq!(user.roles, ["public"]);
    let claims = client.hasura_claims().expect("claims");
    assert_eq!(claims.default_role, "public");
    assert_eq!(claims.allowed_roles, ["public"]);
    assert!(
        claims.is_anonymous,
        "the string claim \"true\" decodes to true"
    );
    assert_eq!(Some(claims.user_id.as_str()), session.user_id());
    assert!(session.expires_in() > Duration::from_secs(890));
}

#[tokio::test]
async fn signing_in_twice_is_a_state_error_and_sends_nothing() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    client
        .sign_in_anonymous(Default::default())
        .await
        .expect("first sign-in");
    let err = client
        .sign_in_anonymous(Default::default())
        .await
        .expect_err("second is refused");
    assert_eq!(
        (err.status, err.error.clone()),
        (20, ErrorCode::AlreadySignedIn),
        "{err}"
    );
    assert_eq!(
        emu.stats().anonymous_sign_ins,
        1,
        "no request for the refused sign-in"
    );
}

#[tokio::test]
async fn validation_errors_come_before_any_request() {
    // An address nothing listens on: a request would be a network error, not a validation error.
    let client = NhostClient::builder()
        .auth_url("http://127.0.0.1:9")
        .build()
        .expect("client");
    let err = client
        .sign_in_email_password("not-an-email", "secret")
        .await
        .expect_err("invalid");
    assert_eq!(
        (err.status, err.error.clone()),
        (10, ErrorCode::InvalidEmail)
    );
    let err = client
        .sign_up_email_password("a@example.com", "ab", None)
        .await
        .expect_err("short");
    assert_eq!(
        (err.status, err.error.clone()),
        (10, ErrorCode::InvalidPassword)
    );
    let err = client.access_token().await.expect_err("no session");
    assert_eq!(
        (err.status, err.error),
        (20, ErrorCode::UnauthenticatedUser)
    );
}

#[tokio::test]
async fn server_errors_keep_the_servers_status_and_id() {
    let emu = emulator(|c| c.anonymous_users_enabled = false).await;
    let err = client(&emu)
        .sign_in_anonymous(Default::default())
        .await
        .expect_err("disabled");
    assert_eq!((err.status, err.error), (409, ErrorCode::DisabledEndpoint));
}

#[tokio::test]
async fn refresh_rotates_the_token_and_keeps_the_user() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let first = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let second = client.refresh_session().await.expect("refreshed");
    assert_ne!(first.refresh_token, second.refresh_token, "rotated");
    assert_eq!(first.refresh_token_id, second.refresh_token_id, "same row");
    assert_eq!(first.user_id(), second.user_id());
    assert_eq!(
        client.session().expect("session").refresh_token,
        second.refresh_token
    );
}

#[tokio::test]
async fn a_hundred_concurrent_callers_on_an_expired_token_cause_one_refresh() {
    let emu = emulator(|c| c.access_token_expires_in = Duration::from_secs(1)).await;
    let client = NhostClient::builder()
        .auth_url(emu.url())
        .auto_refresh(false)
        .build()
        .expect("client");
    let old = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = emu.stats().token_requests;
    let calls = (0..100).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.access_token().await })
    });
    let tokens: Vec<_> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("a token").expose().to_owned())
        .collect();
    assert_eq!(
        emu.stats().token_requests - before,
        1,
        "exactly one POST /token"
    );
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "all 100 callers got the same token"
    );
    assert_ne!(tokens[0], old.access_token.expose(), "and it is a new one");
    assert!(client.is_authenticated());
}

#[tokio::test]
async fn auto_refresh_keeps_a_short_lived_session_alive() {
    let emu = emulator(|c| c.access_token_expires_in = Duration::from_secs(3)).await;
    let client = client(&emu);
    let refreshes = Arc::new(AtomicUsize::new(0));
    let seen = refreshes.clone();
    let _sub = client.on_auth_state_changed(move |change| {
        if matches!(change, AuthChange::TokenRefreshed(_)) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let first = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let now = client.session().expect("still signed in");
    assert!(
        refreshes.load(Ordering::SeqCst) >= 2,
        "refreshed at least twice in 6.5 s of 3-second tokens"
    );
    assert_ne!(now.refresh_token, first.refresh_token);
    assert_eq!(now.user_id(), first.user_id());
    assert!(
        now.expires_in() > Duration::ZERO,
        "the held token is not expired"
    );
}

#[tokio::test]
async fn the_whole_session_is_stored_and_restored_on_start() {
    let emu = emulator(|_| {}).await;
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    let first = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .build()
        .expect("client");
    let session = first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let stored: serde_json::Value =
        serde_json::from_str(&storage.get(nhost_core::SESSION_KEY).expect("stored")).expect("JSON");
    assert_eq!(stored["refreshToken"], session.refresh_token.expose());
    assert_eq!(stored["accessToken"], session.access_token.expose());
    assert_eq!(stored["user"]["id"], session.user_id().expect("id"));
    drop(first);

    let restarted = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .build()
        .expect("client");
    assert_eq!(restarted.auth_state(), AuthState::Loading);
    assert_eq!(restarted.initialize().await, AuthState::SignedIn(session));
}

#[tokio::test]
async fn a_refresh_token_under_the_older_nhost_js_key_is_exchanged_on_start() {
    let emu = emulator(|_| {}).await;
    let session = client(&emu)
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    storage.set("nhostRefreshToken", session.refresh_token.expose());
    storage.set("nhostRefreshTokenId", &session.refresh_token_id);
    storage.set("nhostRefreshTokenExpiresAt", "2026-11-27T16:39:03.000Z");
    let restarted = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .build()
        .expect("client");
    let state = restarted.initialize().await;
    let restored = state.session().expect("restored");
    assert_eq!(restored.user_id(), session.user_id());
    let stored: serde_json::Value =
        serde_json::from_str(&storage.get(nhost_core::SESSION_KEY).expect("stored")).expect("JSON");
    assert_eq!(
        stored["refreshToken"],
        restored.refresh_token.expose(),
        "rotated token stored"
    );
    assert_eq!(
        storage.get("nhostRefreshToken"),
        None,
        "the older keys are gone"
    );
}

/// The current `@nhost/nhost-js` keeps one JSON value under `nhostSession` (with `decodedToken`,
/// no `accessTokenExpiresAt`): moving from it keeps the user signed in, without a request while
/// the token is fresh.
#[tokio::test]
async fn a_session_stored_by_the_current_nhost_js_is_restored() {
    let emu = emulator(|_| {}).await;
    let session = client(&emu)
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let exp = nhost_core::Session::clone(&session).access_token_expires_at;
    let blob = serde_json::json!({
        "accessToken": session.access_token.expose(),
        "accessTokenExpiresIn": 900,
        "refreshToken": session.refresh_token.expose(),
        "refreshTokenId": session.refresh_token_id,
        "user": {"id": session.user_id(), "isAnonymous": true, "displayName": null},
        "decodedToken": {"exp": exp, "sub": session.user_id()}
    });
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    storage.set(nhost_core::SESSION_KEY, &blob.to_string());
    let before = emu.stats().token_requests;
    let restarted = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .build()
        .expect("client");
    let state = restarted.initialize().await;
    assert_eq!(state.session().and_then(|s| s.user_id()), session.user_id());
    assert_eq!(emu.stats().token_requests, before, "fresh: no request");
    restarted
        .refresh_session()
        .await
        .expect("and the token is live");
}

#[tokio::test]
async fn a_rejected_stored_token_signs_out_and_clears_storage() {
    let emu = emulator(|_| {}).await;
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    storage.set("nhostRefreshToken", &uuid::Uuid::new_v4().to_string());
    let client = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .rotation_grace(Duration::from_millis(200))
        .build()
        .expect("client");
    assert_eq!(client.initialize().await, AuthState::SignedOut);
    assert_eq!(storage.get("nhostRefreshToken"), None);
}

#[tokio::test]
async fn a_401_first_adopts_a_token_another_process_rotated() {
    let emu = emulator(|_| {}).await;
    let storage: Arc<dyn SessionStorage> = Arc::new(MemoryStorage::default());
    let tab_a = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .build()
        .expect("a");
    let session = tab_a
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    // Tab B shares storage and refreshes: tab A's token is now rotated away.
    let tab_b = NhostClient::builder()
        .auth_url(emu.url())
        .shared_storage(storage.clone())
        .initial_session(session.clone())
        .build()
        .expect("b");
    tab_b.refresh_session().await.expect("b refreshes");
    // Tab A's refresh gets a 401, finds B's newer token in storage, and carries on.
    let a = tab_a
        .refresh_session()
        .await
        .expect("a recovers instead of signing out");
    assert_eq!(a.user_id(), session.user_id());
    assert!(tab_a.is_authenticated());
}

#[tokio::test]
async fn deanonymize_keeps_the_user_id_and_flips_is_anonymous() {
    let emu = emulator(|c| c.email_verification_required = false).await;
    let client = client(&emu);
    let anon = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let email = unique_email();
    let method = DeanonymizeMethod::EmailPassword {
        email: email.clone(),
        password: "correct horse".into(),
    };
    let SignUpOutcome::SignedIn(session) = client
        .deanonymize(method, None)
        .await
        .expect("deanonymized")
    else {
        panic!("no verification required here");
    };
    assert_eq!(session.user_id(), anon.user_id(), "same user");
    assert!(!session.is_anonymous());
    assert_eq!(
        session.user.as_ref().and_then(|u| u.email.clone()),
        Some(email.clone())
    );
    assert_eq!(client.hasura_claims().expect("claims").default_role, "user");
    let user = client
        .user()
        .await
        .expect("GET /user works for registered users");
    assert_eq!(Some(user.id.as_str()), anon.user_id());
    // And the password works.
    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("signed out");
    let again = client
        .sign_in_email_password(&email, "correct horse")
        .await
        .expect("signed in");
    assert_eq!(again.user_id(), anon.user_id());
}

#[tokio::test]
async fn deanonymize_with_verification_signs_out_until_the_link_is_followed() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let anon = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let email = unique_email();
    let method = DeanonymizeMethod::EmailPassword {
        email: email.clone(),
        password: "secret123".into(),
    };
    assert_eq!(
        client.deanonymize(method, None).await.expect("ok"),
        SignUpOutcome::EmailVerificationRequired
    );
    assert!(!client.is_authenticated(), "the server revoked the session");
    let session = complete_link(&client, &emu, &email).await;
    assert_eq!(client.code_verifier(), None, "the verifier is used up");
    assert_eq!(session.user_id(), anon.user_id());
    assert!(!session.is_anonymous());
}

#[tokio::test]
async fn passwordless_deanonymize_and_magic_link_sign_in() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let anon = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let email = unique_email();
    let outcome = client
        .deanonymize(
            DeanonymizeMethod::Passwordless {
                email: email.clone(),
            },
            None,
        )
        .await;
    assert_eq!(
        outcome.expect("ok"),
        SignUpOutcome::EmailVerificationRequired
    );
    let session = complete_link(&client, &emu, &email).await;
    assert_eq!(session.user_id(), anon.user_id());
    // A later magic link for the same (now registered) user.
    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("out");
    client
        .sign_in_passwordless_email(&email, None)
        .await
        .expect("link sent");
    let again = complete_link(&client, &emu, &email).await;
    assert_eq!(again.user_id(), anon.user_id());
}

#[tokio::test]
async fn sign_up_while_anonymous_deanonymizes_and_while_signed_out_signs_up() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    let email = unique_email();
    let outcome = client
        .sign_up_email_password(&email, "secret123", None)
        .await
        .expect("signed up");
    assert_eq!(outcome, SignUpOutcome::EmailVerificationRequired);
    let err = client
        .sign_in_email_password(&email, "secret123")
        .await
        .expect_err("unverified");
    assert_eq!((err.status, err.error), (401, ErrorCode::UnverifiedUser));
    complete_link(&client, &emu, &email).await;
    let err = client
        .sign_up_email_password(&unique_email(), "secret123", None)
        .await
        .expect_err("signed in");
    assert_eq!(err.error, ErrorCode::AlreadySignedIn);
    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("out");

    let anon = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("anonymous");
    let outcome = client
        .sign_up_email_password(&unique_email(), "secret123", None)
        .await
        .expect("deanonymized");
    assert_eq!(
        outcome,
        SignUpOutcome::EmailVerificationRequired,
        "deanonymize path, verification on"
    );
    assert_eq!(emu.stats().anonymous_sign_ins, 1);
    let _ = anon;
}

#[tokio::test]
async fn user_is_forbidden_for_anonymous_users_on_current_servers() {
    let emu = emulator(|_| {}).await;
    let client = client(&emu);
    client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let err = client.user().await.expect_err("anonymous");
    assert_eq!(
        (err.status, err.error),
        (403, ErrorCode::ForbiddenAnonymous)
    );
}

#[tokio::test]
async fn sign_out_revokes_this_device_or_all_devices() {
    let emu = emulator(|_| {}).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let client = client(&emu);
    let log = events.clone();
    let sub =
        client.on_auth_state_changed(move |c| log.lock().expect("lock").push(format!("{c:?}")));
    let s1 = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("signed out");
    assert!(!client.is_authenticated());
    let http = reqwest::Client::new();
    let refresh = |token: String| {
        let http = http.clone();
        let url = format!("{}/token", emu.url());
        async move {
            http.post(url)
                .json(&serde_json::json!({ "refreshToken": token }))
                .send()
                .await
                .expect("sent")
                .status()
        }
    };
    assert_eq!(
        refresh(s1.refresh_token.expose().to_owned()).await,
        401,
        "revoked"
    );
    let seen = events.lock().expect("lock").clone();
    assert!(
        seen[0].starts_with("SignedIn") && seen[1] == "SignedOut",
        "{seen:?}"
    );
    assert!(
        !seen.concat().contains(s1.refresh_token.expose()),
        "events never print tokens"
    );
    drop(sub);

    // All devices: a registered user signed in on two devices loses both sessions.
    let emu2 = emulator(|c| c.email_verification_required = false).await;
    let email = unique_email();
    let device_a = NhostClient::builder()
        .auth_url(emu2.url())
        .build()
        .expect("a");
    device_a
        .sign_up_email_password(&email, "secret123", None)
        .await
        .expect("signed up");
    let device_b = NhostClient::builder()
        .auth_url(emu2.url())
        .build()
        .expect("b");
    let b = device_b
        .sign_in_email_password(&email, "secret123")
        .await
        .expect("b signed in");
    device_a
        .sign_out(SignOutScope::AllDevices)
        .await
        .expect("signed out everywhere");
    let status = http
        .post(format!("{}/token", emu2.url()))
        .json(&serde_json::json!({ "refreshToken": b.refresh_token.expose() }))
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, 401, "device b's session is revoked too");
    let err = device_b.refresh_session().await.expect_err("b finds out");
    assert_eq!(err.error, ErrorCode::InvalidRefreshToken);
    assert!(!device_b.is_authenticated(), "and signs out");
    assert_eq!(
        events.lock().expect("lock").len(),
        2,
        "the dropped subscription heard nothing more"
    );
}

/// The bad links of issue 11: each gives a clear error and changes no session.
#[tokio::test]
async fn bad_email_links_say_what_went_wrong_and_change_nothing() {
    let emu = emulator(|c| c.pkce_code_expires_in = Duration::from_secs(1)).await;
    // A link opened in another browser: no verifier there.
    let asker = client(&emu);
    let email = unique_email();
    asker
        .sign_in_passwordless_email(&email, None)
        .await
        .expect("link sent");
    let landing = follow_email_link(&emu, &email).await;
    let elsewhere = client(&emu);
    let err = elsewhere
        .complete_email_link(&landing)
        .await
        .expect_err("no verifier here");
    assert_eq!(err.error, ErrorCode::InvalidRequest);
    assert!(err.message.contains("another browser"), "{}", err.message);
    assert!(!elsewhere.is_authenticated());

    // Another browser's verifier (a wrong one) is refused, and does not burn the code.
    let wrong = client(&emu);
    wrong
        .sign_in_passwordless_email(&unique_email(), None)
        .await
        .expect("its own link");
    let err = wrong
        .complete_email_link(&landing)
        .await
        .expect_err("wrong verifier");
    assert_eq!(err.status, 400, "{err}");
    assert!(!wrong.is_authenticated());
    let verifier = asker.code_verifier().expect("the asker keeps its verifier");
    let session = asker
        .complete_email_link(&landing)
        .await
        .expect("the right verifier still works")
        .expect("a session");
    assert!(!session.is_anonymous());

    // Reused, even with the right verifier: the code is single-use.
    let store = MemoryStorage::default();
    store.set(nhost_core::CODE_VERIFIER_KEY, &verifier);
    let replay = NhostClient::builder()
        .auth_url(emu.url())
        .storage(store)
        .build()
        .expect("client");
    let err = replay
        .complete_email_link(&landing)
        .await
        .expect_err("used");
    assert_eq!(err.status, 400, "{err}");
    assert!(!replay.is_authenticated());

    asker.sign_out(SignOutScope::ThisDevice).await.expect("out");
    asker
        .sign_in_passwordless_email(&email, None)
        .await
        .expect("a new link");
    let fresh = follow_email_link(&emu, &email).await;
    let asker_again = asker;

    // Expired: the code lives 1 s here.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let err = asker_again
        .complete_email_link(&fresh)
        .await
        .expect_err("expired");
    assert_eq!(err.status, 400, "{err}");
    assert!(!asker_again.is_authenticated());

    // The server's own error redirect.
    let err = client(&emu)
        .complete_email_link("http://app/?error=invalid-ticket&errorDescription=Invalid+ticket")
        .await
        .expect_err("an error link");
    assert_eq!(err.error, ErrorCode::parse("invalid-ticket"));
    assert_eq!(err.message, "Invalid ticket");
    assert!(!err.is_transient());

    // No link at all: nothing to do.
    assert_eq!(
        client(&emu)
            .complete_email_link("http://app/?x=1")
            .await
            .expect("nothing"),
        None
    );
}

/// An older link (asked for without PKCE) carries a refresh token; it still completes.
#[tokio::test]
async fn a_link_without_pkce_completes_with_its_refresh_token() {
    let emu = emulator(|_| {}).await;
    let email = unique_email();
    reqwest::Client::new()
        .post(format!("{}/signin/passwordless/email", emu.url()))
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .expect("sent")
        .error_for_status()
        .expect("ok");
    let landing = follow_email_link(&emu, &email).await;
    assert!(landing.contains("refreshToken="), "{landing}");
    let c = client(&emu);
    let session = c
        .complete_email_link(&landing)
        .await
        .expect("completes")
        .expect("a session");
    assert_eq!(
        c.session().and_then(|s| s.user_id().map(str::to_owned)),
        session.user_id().map(str::to_owned)
    );
}
