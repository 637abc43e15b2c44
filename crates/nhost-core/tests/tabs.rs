//! Several clients sharing one store, as the tabs of a browser share `localStorage` (and the Web
//! Lock, which `MemoryStorage`'s lock stands for), against the real emulator — often behind a
//! proxy that adds the latency of a far-away server. Each test names the path to a lost or
//! wrong session it closes (the numbers of issue 15).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{DelayProxy, UnlockedStore, emulator, shared_store, tab, tab_with};
use nhost_core::{AuthState, ErrorCode, NhostClient, SESSION_KEY, SessionStorage};

/// Waits until `check` holds, at most `limit`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

fn user_id(c: &NhostClient) -> Option<String> {
    c.session().and_then(|s| s.user_id().map(str::to_owned))
}

/// Path 1: tabs holding one session become due together (same stored expiry, a laptop waking
/// up). With the lock, one `/token`; everyone ends on the same session.
#[tokio::test]
async fn tabs_due_together_send_one_refresh_and_keep_the_user() {
    let emu = emulator(|_| {}).await;
    let proxy = DelayProxy::start(emu.addr(), Duration::from_millis(150)).await;
    let store = shared_store();
    let first = tab(proxy.url(), &store);
    let session = first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let tabs: Vec<NhostClient> = (0..4).map(|_| tab(proxy.url(), &store)).collect();
    for t in &tabs {
        assert_eq!(t.initialize().await, AuthState::SignedIn(session.clone()));
    }
    let before = emu.stats().token_requests;
    let results = futures_util::future::join_all(tabs.iter().map(|t| t.refresh_session())).await;
    for r in &results {
        assert!(r.is_ok(), "no tab lost the race: {r:?}");
    }
    // One refresh, and the three other tabs took what it stored (they were forced, but a session
    // stored by another tab while they waited counts).
    assert_eq!(
        emu.stats().token_requests - before,
        1,
        "one /token for four tabs"
    );
    let newest = results[0].as_ref().expect("ok").refresh_token.clone();
    for t in &tabs {
        assert_eq!(t.session().map(|s| s.refresh_token), Some(newest.clone()));
        assert_eq!(user_id(t), session.user_id().map(str::to_owned));
    }
    // The stored token is the live one: a fresh tab restores it with a request that succeeds.
    let fresh = tab(proxy.url(), &store);
    fresh.initialize().await;
    assert_eq!(
        fresh
            .refresh_session()
            .await
            .map(|s| s.user_id().map(str::to_owned)),
        Ok(session.user_id().map(str::to_owned))
    );
}

/// Path 1 without a lock (a browser without Web Locks): the tabs race and the server rejects
/// all but one — the losers wait for the winner's stored session instead of signing out.
#[tokio::test]
async fn without_a_lock_a_lost_race_adopts_the_winner_instead_of_signing_out() {
    let emu = emulator(|_| {}).await;
    let proxy = DelayProxy::start(emu.addr(), Duration::from_millis(150)).await;
    let store: Arc<dyn SessionStorage> = Arc::new(UnlockedStore::default());
    let first = tab(proxy.url(), &store);
    let session = first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let tabs: Vec<NhostClient> = (0..4).map(|_| tab(proxy.url(), &store)).collect();
    for t in &tabs {
        t.initialize().await;
    }
    let results = futures_util::future::join_all(tabs.iter().map(|t| t.refresh_session())).await;
    for r in &results {
        assert!(r.is_ok(), "a lost race must not be a sign-out: {r:?}");
    }
    for t in &tabs {
        assert!(t.is_authenticated());
        assert_eq!(user_id(t), session.user_id().map(str::to_owned));
    }
    assert!(
        store.get(SESSION_KEY).is_some(),
        "the store kept the session"
    );
    // Whatever each tab holds now refreshes (no tab kept a dead token).
    for t in &tabs {
        t.refresh_session().await.expect("the held session is live");
    }
}

/// Path 2: all tabs restarting together with an expired stored session (the next morning):
/// one `/token`, the same user everywhere, even on a slow network.
#[tokio::test]
async fn tabs_restarting_together_with_an_expired_session_keep_the_user() {
    let emu = emulator(|c| c.access_token_expires_in = Duration::from_secs(1)).await;
    let proxy = DelayProxy::start(emu.addr(), Duration::from_millis(150)).await;
    let store = shared_store();
    let first = tab_with(proxy.url(), &store, |b| b.auto_refresh(false));
    let session = first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    drop(first);
    tokio::time::sleep(Duration::from_millis(1200)).await; // expired
    let before = emu.stats().token_requests;
    let tabs: Vec<NhostClient> = (0..4).map(|_| tab(proxy.url(), &store)).collect();
    let states = futures_util::future::join_all(tabs.iter().map(|t| t.initialize())).await;
    for s in &states {
        assert!(matches!(s, AuthState::SignedIn(_)), "{s:?}");
    }
    for t in &tabs {
        assert_eq!(user_id(t), session.user_id().map(str::to_owned));
    }
    assert_eq!(
        emu.stats().token_requests - before,
        1,
        "one refresh for four tabs"
    );
}

/// Path 2: start-up with a fresh stored session takes it without any request.
#[tokio::test]
async fn start_up_with_a_fresh_stored_session_sends_nothing() {
    let emu = emulator(|_| {}).await;
    let store = shared_store();
    let first = tab(emu.url(), &store);
    let session = first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let before = emu.stats().token_requests;
    let second = tab(emu.url(), &store);
    assert_eq!(second.initialize().await, AuthState::SignedIn(session));
    assert_eq!(emu.stats().token_requests, before, "no request at start-up");
}

/// Path 4: signing in while a stored session is being restored would replace (orphan) it.
#[tokio::test]
async fn sign_in_while_restoring_is_refused() {
    let emu = emulator(|_| {}).await;
    let store = shared_store();
    tab(emu.url(), &store)
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let restarting = tab(emu.url(), &store);
    assert_eq!(restarting.auth_state(), AuthState::Loading);
    let err = restarting
        .sign_in_anonymous(Default::default())
        .await
        .expect_err("refused");
    assert_eq!(err.error, ErrorCode::SessionRestoring);
    assert_eq!(emu.stats().anonymous_sign_ins, 1, "no second user");
}

/// Path 4: two components (one client) or two tabs (one store) signing in at once create one
/// user.
#[tokio::test]
async fn concurrent_anonymous_sign_ins_create_one_user() {
    let emu = emulator(|_| {}).await;
    let proxy = DelayProxy::start(emu.addr(), Duration::from_millis(100)).await;
    let store = shared_store();
    let a = tab(proxy.url(), &store);
    let b = tab(proxy.url(), &store);
    let (x, y, z) = tokio::join!(
        a.sign_in_anonymous(Default::default()),
        a.sign_in_anonymous(Default::default()),
        b.sign_in_anonymous(Default::default()),
    );
    let ids: Vec<_> = [x, y, z]
        .into_iter()
        .map(|r| r.expect("signed in").user_id().map(str::to_owned))
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
    assert_eq!(emu.stats().anonymous_sign_ins, 1, "one user, not three");
}

/// Path 5: a `/token` answer slower than the client's timeout is not abandoned: the caller gets a
/// timeout, the request goes on, and its rotated session is kept (retrying with the old token
/// would be rejected and sign out).
#[tokio::test]
async fn a_refresh_slower_than_the_timeout_is_not_lost() {
    let emu = emulator(|_| {}).await;
    let proxy = DelayProxy::start(emu.addr(), Duration::ZERO).await;
    let store = shared_store();
    let client = tab_with(proxy.url(), &store, |b| {
        b.timeout(Duration::from_millis(300)).auto_refresh(false)
    });
    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    proxy.set_delay(Duration::from_millis(400)); // round trip 800 ms > 300 ms
    let err = client
        .refresh_session()
        .await
        .expect_err("the caller times out");
    assert_eq!(err.error, ErrorCode::Network);
    // The request completes in the background and its session is applied.
    assert!(
        eventually(Duration::from_secs(5), || client
            .session()
            .is_some_and(|s| s.refresh_token != session.refresh_token))
        .await,
        "the late answer was applied"
    );
    proxy.set_delay(Duration::ZERO);
    let again = client
        .refresh_session()
        .await
        .expect("the rotated token is live");
    assert_eq!(again.user_id(), session.user_id());
    assert!(client.is_authenticated());
}

/// Path 9: a tab that signed out is not signed back in by late news of that session (a lagging
/// tab storing it again, or `adopt_session` of it).
#[tokio::test]
async fn a_signed_out_session_does_not_come_back() {
    let emu = emulator(|_| {}).await;
    let store = shared_store();
    let a = tab(emu.url(), &store);
    let session = a
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let stored = store.get(SESSION_KEY).expect("stored");
    a.sign_out(Default::default()).await.expect("signed out");
    // A lagging tab writes the ended session back; the signed-out tab hears about it.
    store.set(SESSION_KEY, &stored);
    a.sync_from_storage();
    assert_eq!(a.auth_state(), AuthState::SignedOut);
    a.adopt_session(session);
    assert_eq!(a.auth_state(), AuthState::SignedOut);
}

/// Another tab's sign-out reaches this one through the store, and this tab does not clear
/// anything itself.
#[tokio::test]
async fn a_sign_out_in_one_tab_is_followed_by_the_others() {
    let emu = emulator(|_| {}).await;
    let store = shared_store();
    let a = tab(emu.url(), &store);
    a.sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let b = tab(emu.url(), &store);
    b.initialize().await;
    assert!(b.is_authenticated());
    a.sign_out(Default::default()).await.expect("signed out");
    b.sync_from_storage();
    assert_eq!(b.auth_state(), AuthState::SignedOut);
}

/// A refresh in one tab reaches the others through the store, without requests of their own.
#[tokio::test]
async fn a_refresh_in_one_tab_is_adopted_by_the_others_without_a_request() {
    let emu = emulator(|_| {}).await;
    let store = shared_store();
    let a = tab(emu.url(), &store);
    a.sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    let b = tab(emu.url(), &store);
    b.initialize().await;
    let refreshed = a.refresh_session().await.expect("refreshed");
    let before = emu.stats().token_requests;
    b.sync_from_storage();
    assert_eq!(b.session(), Some(refreshed));
    assert_eq!(emu.stats().token_requests, before);
}

/// Path 1: a token really rejected (revoked everywhere) still signs out — after the grace.
#[tokio::test]
async fn a_revoked_session_still_signs_out_every_tab() {
    let emu = emulator(|_| {}).await;
    let store = shared_store();
    let a = tab_with(emu.url(), &store, |b| {
        b.rotation_grace(Duration::from_millis(300))
    });
    let session = a
        .sign_in_anonymous(Default::default())
        .await
        .expect("signed in");
    // Another device ends every session of the user.
    let other = tab(emu.url(), &shared_store());
    other.adopt_session(session.clone());
    other
        .sign_out(nhost_core::SignOutScope::AllDevices)
        .await
        .expect("signed out everywhere");
    let err = a.refresh_session().await.expect_err("rejected");
    assert_eq!(err.error, ErrorCode::InvalidRefreshToken);
    assert_eq!(a.auth_state(), AuthState::SignedOut);
    assert_eq!(store.get(SESSION_KEY), None, "the dead token is not kept");
}
