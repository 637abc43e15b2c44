//! nhost-core's server-session mode (issue 10) against the real thing: a site (the test routes +
//! `session_routes()` behind `NhostSessionLayer`) served over HTTP on 127.0.0.1, an in-process
//! emulator behind it, and an `NhostClient` built with `session_endpoints(…)` whose reqwest
//! client keeps the site's cookie — the browser's part.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use common::*;
use nhost_auth_emulator::{Config, Emulator};
use nhost_ssr::nhost_core::{
    self, AuthChange, AuthState, DeanonymizeMethod, ErrorCode, MemoryStorage, NhostClient,
    SessionStorage, SignOutScope,
};
use nhost_ssr::{NhostSessionLayer, SecureCookie};
use reqwest::cookie::{CookieStore as _, Jar};

/// The site, its emulator, and what the tests look at.
struct Site {
    emulator: Emulator,
    base: String,
    /// `POST /_nhost/token` requests the site received.
    token_posts: Arc<AtomicUsize>,
}

impl Site {
    /// A site whose auth server issues access tokens of `ttl`.
    async fn start(ttl: Duration) -> Site {
        // The site's address first: email links lead back to it (its `/_nhost/callback`).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut config: Config = emulator_config();
        config.access_token_expires_in = ttl;
        config.client_url = format!("http://{}", listener.local_addr().expect("addr"));
        let emulator = Emulator::start(config).await.expect("emulator starts");
        let layer = NhostSessionLayer::builder()
            .auth_url(emulator.url())
            .cookie_key(key())
            // The test talks plain HTTP to 127.0.0.1: a `Secure` cookie would never come back.
            .secure(SecureCookie::PlainHttpDevelopment)
            .build()
            .expect("layer builds");
        let token_posts = Arc::new(AtomicUsize::new(0));
        let counter = token_posts.clone();
        let app = routes()
            .merge(nhost_ssr::session_routes())
            .layer(layer)
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                let counter = counter.clone();
                async move {
                    if req.method() == "POST" && req.uri().path() == "/_nhost/token" {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(req).await
                }
            }));
        let base = serve_on(listener, app);
        Site {
            emulator,
            base,
            token_posts,
        }
    }

    fn endpoints(&self) -> String {
        format!("{}/_nhost", self.base)
    }

    /// A "tab": a client in server-session mode with the cookie jar `jar` (the browser's) and a
    /// store the test can look into.
    fn client(&self, jar: &Arc<Jar>, storage: &Arc<MemoryStorage>, auto: bool) -> NhostClient {
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("http client");
        NhostClient::builder()
            .session_endpoints(self.endpoints())
            .http_client(http)
            .shared_storage(storage.clone())
            .auto_refresh(auto)
            .retry_backoff(vec![Duration::from_millis(200)])
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client builds")
    }

    /// The site's session cookie in `jar`, opened: what the browser holds but cannot read.
    fn cookie_session(&self, jar: &Jar) -> Option<nhost_core::Session> {
        cookie_session(&self.base, jar)
    }
}

/// The session cookie of the site at `base` in `jar`, opened.
fn cookie_session(base: &str, jar: &Jar) -> Option<nhost_core::Session> {
    let url: reqwest::Url = base.parse().expect("url");
    let header = jar.cookies(&url)?;
    let header = header.to_str().expect("ascii").to_owned();
    header
        .split("; ")
        .find_map(|pair| pair.strip_prefix("nhostSession="))
        .map(open_cookie)
}

/// Nothing under any key the client could use.
fn assert_storage_empty(storage: &MemoryStorage) {
    for key in [
        nhost_core::SESSION_KEY,
        nhost_core::REFRESH_TOKEN_KEY,
        nhost_core::REFRESH_TOKEN_ID_KEY,
        nhost_core::REFRESH_TOKEN_EXPIRES_AT_KEY,
    ] {
        assert_eq!(storage.get(key), None, "{key} stored");
    }
}

fn user_id(client: &NhostClient) -> String {
    client
        .session()
        .and_then(|s| s.user_id().map(str::to_owned))
        .expect("a user id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_sign_in_leaves_the_refresh_token_with_the_site() {
    let site = Site::start(Duration::from_secs(900)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let client = site.client(&jar, &storage, true);
    assert_eq!(client.auth_state(), AuthState::Loading);
    assert_eq!(client.initialize().await, AuthState::SignedOut);

    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in through the site");
    assert!(session.is_anonymous());
    assert!(session.user.is_some(), "the user comes along");
    assert!(
        session.claims.is_some(),
        "claims decoded from the access token"
    );
    assert!(session.refresh_token.is_empty());
    assert!(session.refresh_token_id.is_empty());
    assert_eq!(client.session(), Some(session.clone()));

    let cookie = site.cookie_session(&jar).expect("the site set its cookie");
    assert_eq!(cookie.user_id(), session.user_id());
    let secret = cookie.refresh_token.expose();
    assert!(!secret.is_empty());
    for shown in [
        format!("{session:?}"),
        format!("{client:?}"),
        format!("{:?}", client.auth_state()),
        serde_json::to_string(&session).expect("serialises"),
    ] {
        assert!(!shown.contains(secret), "refresh token in {shown}");
        assert!(
            !shown.contains(&cookie.refresh_token_id),
            "its id in {shown}"
        );
    }
    assert_storage_empty(&storage);
    assert_eq!(site.emulator.stats().anonymous_sign_ins, 1);
    assert_eq!(client.session_endpoints(), Some(site.endpoints().as_str()));

    // What has no session endpoint says so, without a request.
    let err = client.user().await.expect_err("no /user endpoint");
    assert_eq!(err.error, ErrorCode::UnavailableInServerSessionMode);
    assert_eq!(err.status, nhost_core::STATUS_STATE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_reads_the_session_the_site_holds() {
    let site = Site::start(Duration::from_secs(900)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let first = site.client(&jar, &storage, false);
    first.initialize().await;
    first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");

    // Another tab of the same browser: the cookie, nothing else.
    let tab = site.client(&jar, &storage, false);
    assert_eq!(tab.auth_state(), AuthState::Loading);
    let state = tab.initialize().await;
    assert!(matches!(state, AuthState::SignedIn(_)), "{state:?}");
    assert_eq!(user_id(&tab), user_id(&first));
    assert!(
        tab.session()
            .is_some_and(|s| s.refresh_token.is_empty() && s.user.is_some())
    );
    assert_eq!(site.emulator.stats().token_requests, 0, "fresh: no refresh");
    assert_storage_empty(&storage);

    // A browser without the cookie.
    let stranger = site.client(&Arc::new(Jar::default()), &storage, false);
    assert_eq!(stranger.initialize().await, AuthState::SignedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_through_the_site_keep_the_user() {
    let site = Site::start(Duration::from_secs(3)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));

    // Explicit: inside the margin, `refresh_session` is one `POST /_nhost/token`.
    let explicit = site.client(&jar, &storage, false);
    explicit.initialize().await;
    let first = explicit
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let refreshed = explicit.refresh_session().await.expect("refreshed");
    assert_ne!(refreshed.access_token, first.access_token);
    assert_eq!(refreshed.user_id(), first.user_id());
    assert!(refreshed.refresh_token.is_empty());
    assert_eq!(site.token_posts.load(Ordering::SeqCst), 1);
    assert_eq!(site.emulator.stats().token_requests, 1);

    // Automatic: the background refresher, three-second tokens, seven seconds.
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let client = site.client(&jar, &storage, true);
    client.initialize().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let _subscription = client.on_auth_state_changed(move |change| {
        seen.lock().expect("lock").push(change.clone());
    });
    let start = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    let mut tokens = vec![start.access_token.clone()];
    for _ in 0..28 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let token = client.access_token().await.expect("always a valid token");
        if tokens.last() != Some(&token) {
            tokens.push(token);
        }
        assert_eq!(user_id(&client), start.user_id().expect("id"));
    }
    let events = events.lock().expect("lock").clone();
    let refreshes = events
        .iter()
        .filter(|e| matches!(e, AuthChange::TokenRefreshed(_)))
        .count();
    assert!(refreshes >= 2, "{refreshes} refreshes in 7 s: {events:?}");
    assert_eq!(tokens.len(), refreshes + 1, "one token per refresh");
    assert!(
        !events.iter().any(|e| matches!(e, AuthChange::SignedOut)),
        "{events:?}"
    );
    assert_storage_empty(&storage);
    // Every `/_nhost/token` of this client (after the one above) was one rotation, no loops.
    let posts = site.token_posts.load(Ordering::SeqCst) - 1;
    assert!(
        posts <= refreshes + 2,
        "{posts} posts for {refreshes} refreshes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_due_access_token_calls_make_one_request() {
    let site = Site::start(Duration::from_secs(3)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let client = site.client(&jar, &storage, false);
    client.initialize().await;
    let first = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    tokio::time::sleep(Duration::from_millis(2200)).await; // due, not expired

    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.expect("task").expect("a token"));
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]), "one answer for all");
    assert_ne!(tokens[0], first.access_token, "refreshed");
    assert_eq!(
        site.token_posts.load(Ordering::SeqCst),
        1,
        "POST /_nhost/token"
    );
    assert_eq!(site.emulator.stats().token_requests, 1, "one rotation");
    assert_eq!(
        client
            .session()
            .and_then(|s| s.user_id().map(str::to_owned)),
        first.user_id().map(str::to_owned)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_and_the_cookie() {
    let site = Site::start(Duration::from_secs(900)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let client = site.client(&jar, &storage, true);
    client.initialize().await;
    client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    assert!(site.cookie_session(&jar).is_some());

    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("signed out");
    assert_eq!(client.auth_state(), AuthState::SignedOut);
    assert!(
        site.cookie_session(&jar).is_none(),
        "the site cleared its cookie"
    );
    assert_storage_empty(&storage);
    let tab = site.client(&jar, &storage, false);
    assert_eq!(tab.initialize().await, AuthState::SignedOut);
    // A new sign-in is a new user.
    client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in again");
    assert_eq!(site.emulator.stats().anonymous_sign_ins, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_server_down_is_transient_while_the_token_is_valid() {
    let site = Site::start(Duration::from_secs(3)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let client = site.client(&jar, &storage, false);
    client.initialize().await;
    let session = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    let Site {
        emulator,
        base,
        token_posts,
    } = site;
    emulator.shutdown().await;
    tokio::time::sleep(Duration::from_millis(2000)).await; // due, not expired

    let err = client
        .refresh_session()
        .await
        .expect_err("the site cannot refresh");
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(client.session(), Some(session.clone()), "still signed in");
    // The still-valid token, and no request while the retry waits.
    let posts = token_posts.load(Ordering::SeqCst);
    assert_eq!(
        client.access_token().await.expect("valid token"),
        session.access_token
    );
    assert_eq!(token_posts.load(Ordering::SeqCst), posts);
    assert!(cookie_session(&base, &jar).is_some(), "the cookie is kept");
    assert!(client.is_authenticated());
    assert_storage_empty(&storage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deanonymize_keeps_the_user_id() {
    let site = Site::start(Duration::from_secs(900)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let client = site.client(&jar, &storage, true);
    client.initialize().await;
    let anonymous = client
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    let id = anonymous.user_id().expect("id").to_owned();

    let outcome = client
        .deanonymize(
            DeanonymizeMethod::EmailPassword {
                email: format!("{id}@example.com"),
                password: "correct-horse-battery".into(),
            },
            None,
        )
        .await
        .expect("deanonymized");
    let nhost_core::SignUpOutcome::SignedIn(session) = outcome else {
        panic!("signed in: {outcome:?}");
    };
    assert_eq!(session.user_id(), Some(id.as_str()));
    assert!(!session.is_anonymous());
    assert!(session.refresh_token.is_empty());
    assert_eq!(client.session(), Some(session));
    assert_eq!(
        site.cookie_session(&jar)
            .and_then(|s| s.user_id().map(str::to_owned)),
        Some(id)
    );
    assert_storage_empty(&storage);

    // Signing in with email and password goes through the site too.
    client
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("signed out");
    let again = client
        .sign_in_email_password(
            &format!("{}@example.com", anonymous.user_id().expect("id")),
            "correct-horse-battery",
        )
        .await
        .expect("signs in with the password");
    assert_eq!(again.user_id(), anonymous.user_id());
    assert_storage_empty(&storage);
}

/// Hydration: a page the site rendered carries `session_script`; the browser's client starts
/// from it signed in — same user, no refresh token — and asks nothing at start-up; a page
/// rendered signed out starts signed out, also without asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_starts_from_the_page_the_site_rendered() {
    let site = Site::start(Duration::from_secs(900)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let first = site.client(&jar, &storage, false);
    first.initialize().await;
    first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    let rendered_with = site.cookie_session(&jar).expect("cookie");

    let page = nhost_ssr::session_script(Some(&rendered_with));
    let json = page
        .strip_prefix(r#"<script type="application/json" id="nhost-session">"#)
        .and_then(|rest| rest.strip_suffix("</script>"))
        .expect("the script");
    let session = nhost_core::Session::from_public_json(json).expect("readable");
    let hydrated = NhostClient::builder()
        // Nothing listens here: any request would fail and change the state.
        .session_endpoints("http://127.0.0.1:9/_nhost")
        .server_rendered(session)
        .build()
        .expect("client");
    let held = hydrated.session().expect("signed in from the page");
    assert_eq!(held.user_id(), rendered_with.user_id());
    assert_eq!(held.user, rendered_with.user);
    assert_eq!(held.access_token, rendered_with.access_token);
    assert!(held.refresh_token.is_empty() && held.refresh_token_id.is_empty());
    assert!(matches!(
        hydrated.initialize().await,
        AuthState::SignedIn(_)
    ));

    let empty = nhost_ssr::session_script(None);
    let json = &empty[r#"<script type="application/json" id="nhost-session">"#.len()..]
        .trim_end_matches("</script>");
    let signed_out = NhostClient::builder()
        .session_endpoints("http://127.0.0.1:9/_nhost")
        .server_rendered(nhost_core::Session::from_public_json(json).expect("readable"))
        .build()
        .expect("client");
    assert_eq!(signed_out.auth_state(), AuthState::SignedOut);
    assert_eq!(signed_out.initialize().await, AuthState::SignedOut);
}

/// Tab sync in server-session mode: a tab told "changed" asks the site (`GET /session`) and
/// follows its cookie — signed in by another tab, then signed out by it; asking again with
/// nothing changed is no event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_follows_the_site_after_another_tab_changed_the_session() {
    let site = Site::start(Duration::from_secs(900)).await;
    let (jar, storage) = (Arc::new(Jar::default()), Arc::new(MemoryStorage::default()));
    let first = site.client(&jar, &storage, false);
    first.initialize().await;
    let second = site.client(&jar, &storage, false);
    assert_eq!(second.initialize().await, AuthState::SignedOut);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let _subscription = {
        let changes = changes.clone();
        second.on_auth_state_changed(move |change| {
            changes.lock().expect("lock").push(change.clone());
        })
    };

    first
        .sign_in_anonymous(Default::default())
        .await
        .expect("signs in");
    second.sync_from_site().await;
    assert_eq!(user_id(&second), user_id(&first));
    assert_eq!(
        second.session().map(|s| s.access_token),
        first.session().map(|s| s.access_token)
    );
    assert!(second.session().is_some_and(|s| s.refresh_token.is_empty()));
    second.sync_from_site().await;
    assert_eq!(
        changes.lock().expect("lock").len(),
        1,
        "the same session again: no event"
    );

    first
        .sign_out(SignOutScope::ThisDevice)
        .await
        .expect("signed out");
    second.sync_from_site().await;
    assert_eq!(second.auth_state(), AuthState::SignedOut);
    assert!(matches!(
        changes.lock().expect("lock").as_slice(),
        [AuthChange::SignedIn(_), AuthChange::SignedOut]
    ));
    assert_eq!(
        site.emulator.stats().token_requests,
        0,
        "no refresh for following"
    );
    assert_storage_empty(&storage);
}
