//! The auth server goes down mid-run and comes back: pages keep rendering, the cookie is kept,
//! and the session continues — same user — once the server is back.

mod common;

use std::time::Duration;

use common::*;
use nhost_auth_emulator::{Database, Emulator};
use nhost_ssr::NhostSessionLayer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_and_restarting_the_auth_server_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = emulator_config();
    config.database = Database::SqliteFile(dir.path().join("auth.db"));
    let emulator = Emulator::start(config.clone()).await.expect("emulator");
    let url = emulator.url().to_owned();
    config.port = emulator.addr().port();

    let layer = NhostSessionLayer::builder()
        .auth_url(&url)
        .cookie_key(key())
        // Outcomes are cached shortly, "unavailable" ones even shorter (≤ this).
        .race_window(Duration::from_millis(300))
        .build()
        .expect("layer");
    let session = sign_in(&url).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let fresh = cookie_for(&layer, &session);
    let stale = cookie_for(&layer, &expired(session, Duration::from_secs(10)));
    let app = app(layer);

    emulator.shutdown().await;

    // Fresh cookie: the session, no call needed.
    let reply = send(&app, "GET", "/", Some(&fresh)).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains(&user_id), "{}", reply.body);
    assert!(reply.set_cookies().is_empty());
    // Expired cookie: rendered signed out for now; the cookie is not touched.
    for _ in 0..3 {
        let reply = send(&app, "GET", "/", Some(&stale)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "signed out");
        assert!(
            reply.set_cookies().is_empty(),
            "cookie kept while the server is down"
        );
    }

    let emulator = Emulator::start(config)
        .await
        .expect("emulator restarts on its port");
    assert_eq!(emulator.url(), url);
    tokio::time::sleep(Duration::from_millis(400)).await; // past the cached "unavailable"

    let reply = send(&app, "GET", "/", Some(&stale)).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.contains(&user_id),
        "same user after the restart: {}",
        reply.body
    );
    let renewed = reply.new_cookie();
    let reply = send(&app, "GET", "/me", Some(&renewed)).await;
    assert_eq!(reply.body, user_id);
    assert_eq!(emulator.stats().token_requests, 1);
}
