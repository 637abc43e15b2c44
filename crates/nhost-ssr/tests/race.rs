//! The refresh storm: many parallel requests carrying one expired cookie, over real HTTP.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_requests_with_one_expired_cookie_cost_one_refresh() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let session = sign_in(emulator.url()).await;
    let user_id = session.user_id().unwrap_or_default().to_owned();
    let old = cookie_for(&layer, &expired(session, Duration::from_secs(30)));
    let base = serve(app(layer)).await;
    let before = emulator.stats().token_requests;

    let replies = storm(std::slice::from_ref(&base), &old, 200).await;

    assert_eq!(
        emulator.stats().token_requests - before,
        1,
        "one /token call"
    );
    assert!(replies.iter().all(|(status, ..)| *status == 200));
    assert!(
        replies.iter().all(|(_, body, _)| body.contains(&user_id)),
        "every request saw the session"
    );
    let first = &replies[0].2;
    assert_eq!(first.len(), 1);
    assert!(
        replies.iter().all(|(.., set)| set == first),
        "every response sets the same new cookie"
    );
    // And that cookie works afterwards, with no further call.
    let new = first[0].split(';').next().unwrap_or_default().to_owned();
    let after = storm(std::slice::from_ref(&base), &new, 10).await;
    assert!(
        after
            .iter()
            .all(|(s, body, set)| *s == 200 && body.contains(&user_id) && set.is_empty())
    );
    assert_eq!(emulator.stats().token_requests - before, 1);
}
