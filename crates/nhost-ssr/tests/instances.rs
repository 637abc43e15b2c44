//! Several app instances behind one Redis: the storm spread across them still costs one refresh.
//! Needs `NHOST_TEST_REDIS_URL` (set by `cargo xtask test`, which starts a redis-server).

mod common;

use std::time::Duration;

use common::*;
use nhost_ssr::{NhostSessionLayer, RedisCoordinator};

fn redis_url() -> String {
    std::env::var("NHOST_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect(
        "NHOST_TEST_REDIS_URL is not set: run the tests with `cargo xtask test`, which starts a \
         redis-server, or point it at one (redis://127.0.0.1:6379)",
    )
}

async fn instance(auth_url: &str, prefix: &str) -> String {
    serve(instance_app(auth_url, prefix).await).await
}

/// One app instance coordinating through the shared Redis under `prefix`.
async fn instance_app(auth_url: &str, prefix: &str) -> axum::Router {
    let coordinator = RedisCoordinator::connect(&redis_url())
        .await
        .expect("redis reachable")
        .prefix(prefix);
    let layer = NhostSessionLayer::builder()
        .auth_url(auth_url)
        .cookie_key(key())
        .coordinator(coordinator)
        .build()
        .expect("layer");
    app(layer)
}

/// Three app instances sharing Redis (under a key prefix of their own, so that parallel test runs
/// sharing the server cannot meet), a user, and that user's cookie with an expired access token.
async fn three_instances_and_an_expired_cookie(
    emulator: &nhost_auth_emulator::Emulator,
) -> (Vec<String>, String, String) {
    let prefix = format!("test-{}:", uuid_like());
    let mut bases = Vec::new();
    for _ in 0..3 {
        bases.push(instance(emulator.url(), &prefix).await);
    }
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let old = cookie_for(
        &layer(emulator.url()),
        &expired(session, Duration::from_secs(30)),
    );
    (bases, user_id, old)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_one_refresh_through_redis() {
    let emulator = emulator().await;
    let (bases, user_id, old) = three_instances_and_an_expired_cookie(&emulator).await;
    let before = emulator.stats().token_requests;

    // Three storms with the old cookie: the first refreshes, the later ones (stragglers within
    // the race window) get the shared result.
    for round in 0..3 {
        let replies = storm(&bases, &old, 201).await;
        assert_eq!(
            emulator.stats().token_requests - before,
            1,
            "round {round}: one /token call across three instances"
        );
        assert!(
            replies
                .iter()
                .all(|(s, body, _)| *s == 200 && body.contains(&user_id)),
            "no sign-out"
        );
        let first = &replies[0].2;
        assert_eq!(first.len(), 1, "a new cookie");
        assert!(
            replies.iter().all(|(.., set)| set == first),
            "the same new cookie everywhere"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_new_cookie_keeps_working_on_every_instance() {
    let emulator = emulator().await;
    let (bases, user_id, old) = three_instances_and_an_expired_cookie(&emulator).await;
    let replies = storm(&bases, &old, 30).await;
    let new = replies[0].2[0]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let before = emulator.stats().token_requests;
    let after = storm(&bases, &new, 30).await;
    assert!(
        after
            .iter()
            .all(|(s, body, set)| *s == 200 && body.contains(&user_id) && set.is_empty())
    );
    assert_eq!(emulator.stats().token_requests, before);
}

/// Issue 16, item 7 across instances: C1 refreshed to C2 on one instance, signed out with C2 on
/// another; C1 replayed on either is signed out, not handed C2's session from Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_session_does_not_come_back_through_redis() {
    let emulator = emulator().await;
    let prefix = format!("test-{}:", uuid_like());
    let a = instance_app(emulator.url(), &prefix).await;
    let b = instance_app(emulator.url(), &prefix).await;
    let c1 = cookie_for(
        &layer(emulator.url()),
        &expired(sign_in(emulator.url()).await, Duration::from_secs(30)),
    );
    let c2 = send(&a, "GET", "/", Some(&c1)).await.new_cookie();
    let out = send(&b, "POST", "/sign-out", Some(&c2)).await;
    assert!(out.set_cookies()[0].contains("Max-Age=0"));
    for (name, app) in [("a", &a), ("b", &b)] {
        let replay = send(app, "GET", "/", Some(&c1)).await;
        assert_eq!(replay.body, "signed out", "instance {name}");
        let set = replay.set_cookies();
        assert!(
            set.len() == 1 && set[0].contains("Max-Age=0"),
            "instance {name}: {set:?}"
        );
    }
}

fn redis_cli(url: &str, args: &[&str]) -> String {
    let port = url.rsplit(':').next().unwrap_or_default();
    let out = std::process::Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .output()
        .expect("redis-cli runs (it comes with redis-server)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Issue 16, item 11: when the refresh outcome cannot be stored (here: an ACL that lets the
/// coordinator write only its locks), the lock holder keeps the lock — no other instance may
/// refresh with the spent token — and the lock outlives the longest refresh (the layer's
/// 30-second timeout, above the coordinator's default TTL). Once storing works again, the
/// outcome lands and the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_kept_until_the_outcome_is_stored() {
    let emulator = emulator().await;
    let redis = own_redis().await;
    let set_user = |write: &str| {
        let reply = redis_cli(
            &redis.1,
            &[
                "ACL",
                "SETUSER",
                "limited",
                "on",
                ">pw",
                "resetkeys",
                "%R~*",
                write,
                "+@all",
            ],
        );
        assert_eq!(reply, "OK", "ACL SETUSER");
    };
    set_user("%W~p:lock:*");
    let limited_url = redis.1.replace("redis://", "redis://limited:pw@");
    let coordinator = RedisCoordinator::connect(&limited_url)
        .await
        .expect("connect")
        .prefix("p:");
    let layer = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(key())
        .coordinator(coordinator)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("layer");
    let session = expired(sign_in(emulator.url()).await, Duration::from_secs(30));
    let id = nhost_ssr::RefreshKey::new(session.refresh_token.expose())
        .id()
        .to_owned();
    let old = cookie_for(&layer, &session);
    let app = app(layer);
    // The holder's own request gets the new session although it could not be shared.
    let reply = send(&app, "GET", "/", Some(&old)).await;
    assert!(reply.body.starts_with("user "), "{}", reply.body);
    let new = reply.new_cookie();
    let lock = format!("p:lock:{id}");
    let result = format!("p:result:{id}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ttl: i64 = redis_cli(&redis.1, &["PTTL", &lock]).parse().expect("PTTL");
    assert!(
        ttl > 25_000,
        "the lock is kept and outlives a 30 s refresh; PTTL {ttl}"
    );
    assert_eq!(redis_cli(&redis.1, &["EXISTS", &result]), "0");
    // Storing works again: the outcome lands, then the lock goes.
    set_user("%W~*");
    let mut stored = false;
    for _ in 0..100 {
        if redis_cli(&redis.1, &["EXISTS", &lock]) == "0" {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "the lock was released once the outcome was stored");
    assert_eq!(redis_cli(&redis.1, &["EXISTS", &result]), "1");
    // A straggler gets the same new cookie, with no second /token call.
    let late = send(&app, "GET", "/", Some(&old)).await;
    assert_eq!(late.new_cookie(), new);
    assert_eq!(emulator.stats().token_requests, 1);
}

/// A redis-server of this test's own, so it can be killed mid-run.
struct OwnRedis(std::process::Child, String);

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn own_redis() -> OwnRedis {
    let port = nothing_listening()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server runs (apt-get install redis-server; .ci/run installs it)");
    let redis = OwnRedis(child, format!("redis://127.0.0.1:{port}"));
    for _ in 0..200 {
        if RedisCoordinator::connect(&redis.1).await.is_ok() {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis-server did not start on {}", redis.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_down_keeps_the_cookie_and_spends_no_token() {
    let emulator = emulator().await;
    let redis = own_redis().await;
    let coordinator = RedisCoordinator::connect(&redis.1).await.expect("connect");
    let layer = NhostSessionLayer::builder()
        .auth_url(emulator.url())
        .cookie_key(key())
        .coordinator(coordinator)
        .build()
        .expect("layer");
    let session = sign_in(emulator.url()).await;
    let old = cookie_for(&layer, &expired(session.clone(), Duration::from_secs(30)));
    let app = app(layer);
    drop(redis);
    let reply = send(&app, "GET", "/", Some(&old)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "signed out", "expired and not refreshable now");
    assert!(reply.set_cookies().is_empty(), "cookie kept");
    assert_eq!(
        emulator.stats().token_requests,
        0,
        "the refresh token was not spent"
    );
    // The old token still works once coordination is back.
    let client = nhost_ssr::nhost_core::NhostClient::builder()
        .auth_url(emulator.url())
        .auto_refresh(false)
        .build()
        .expect("client");
    client
        .sign_in_with_refresh_token(session.refresh_token.expose())
        .await
        .expect("refresh token intact");
}

#[tokio::test]
async fn connecting_to_nothing_is_an_error() {
    let down = nothing_listening().replace("http://", "redis://");
    assert!(RedisCoordinator::connect(&down).await.is_err());
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}
