//! [`NhostClient`]: the operations, the session they share, and the refresh that keeps it alive.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::future::{Either, Shared, select};
use web_time::Instant;

use crate::api::{self, SessionPayload, SessionWire, Transport};
#[cfg(feature = "server-session")]
use crate::api::{PublicPayload, PublicSessionWire};
use crate::error::{AuthError, ErrorCode};
use crate::flight::SingleFlight;
use crate::options::{DeanonymizeMethod, SignInAnonymousOptions, SignUpOptions};
use crate::platform::{self, BoxFuture, boxed};
use crate::session::{
    AccessToken, HasuraClaims, RefreshToken, Session, SessionKey, User, unix_now,
};
use crate::state::{self, AuthChange, AuthEvent, AuthState, Effect, RETRY_BACKOFF};
use crate::storage::{self, MemoryStorage, SessionStorage, StorageLock, Stored};

/// How long a rejected refresh waits, by default, for another tab or process to store the
/// session it rotated before concluding the token is dead.
const ROTATION_GRACE: Duration = Duration::from_secs(5);
/// How often that wait looks at the store.
const ROTATION_POLL: Duration = Duration::from_millis(100);
/// How many ended sessions a client remembers (to ignore late news of them).
const ENDED_KEPT: usize = 16;
/// The flight key of sign-ins that create a session (never a refresh token: those are UUIDs).
const SIGN_IN_FLIGHT: &str = "\u{0}sign-in";
/// How long a client in server-session mode waits before asking again when the site answered
/// a refresh with the session held (the site did not find it due yet, by a second's rounding).
const NOT_YET_DUE_PAUSE: Duration = Duration::from_secs(1);

type Flight = Shared<BoxFuture<Result<Session, AuthError>>>;

/// The claims namespace Hasura uses unless told otherwise.
pub const DEFAULT_CLAIMS_NAMESPACE: &str = "https://hasura.io/jwt/claims";

/// Shortest password nhost-js accepts before sending anything.
const MIN_PASSWORD_LENGTH: usize = 3;

#[cfg(not(target_arch = "wasm32"))]
type Listener = Arc<dyn Fn(&AuthChange) + Send + Sync>;
#[cfg(target_arch = "wasm32")]
type Listener = Arc<dyn Fn(&AuthChange)>;

/// Builds an [`NhostClient`], reqwest-style: setters take `self`, errors wait for [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// let cloud = nhost_core::NhostClient::builder().subdomain("myapp").region("eu-central-1").build()?;
/// assert_eq!(cloud.auth_url(), "https://myapp.auth.eu-central-1.nhost.run/v1");
/// let local = nhost_core::NhostClient::builder()
///     .auth_url("http://127.0.0.1:4000")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// # let _ = local;
/// # Ok::<(), nhost_core::AuthError>(())
/// ```
#[must_use]
pub struct NhostClientBuilder {
    subdomain: Option<String>,
    region: Option<String>,
    auth_url: Option<String>,
    session_endpoints: Option<String>,
    timeout: Duration,
    storage: Option<Arc<dyn SessionStorage>>,
    auto_refresh: bool,
    claims_namespace: String,
    initial_session: Option<Session>,
    /// Set by `server_rendered`: the initial session (or its absence) is the server's answer.
    server_rendered: bool,
    retry_backoff: Vec<Duration>,
    rotation_grace: Duration,
    #[cfg(not(target_arch = "wasm32"))]
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for NhostClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhostClientBuilder")
            .field("subdomain", &self.subdomain)
            .field("region", &self.region)
            .field("auth_url", &self.auth_url)
            .field("session_endpoints", &self.session_endpoints)
            .field("timeout", &self.timeout)
            .field("auto_refresh", &self.auto_refresh)
            .finish_non_exhaustive()
    }
}

impl NhostClientBuilder {
    /// The Nhost project's subdomain (with [`region`](Self::region)).
    pub fn subdomain(mut self, subdomain: impl Into<String>) -> Self {
        self.subdomain = Some(subdomain.into());
        self
    }
    /// The Nhost project's region, e.g. `eu-central-1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// An explicit auth URL (self-hosted, or `nhost-auth-emulator`); wins over subdomain + region.
    pub fn auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = Some(url.into());
        self
    }
    /// Server-session mode, for a full-stack site: the client talks to the site's own session
    /// endpoints (nhost-ssr's `session_routes()`, mounted at `/_nhost` by default) instead of
    /// the auth server, the way `@nhost/nextjs` pages talk to their Next.js server.
    ///
    /// The site's server keeps the refresh token in its sealed `HttpOnly` cookie; this client
    /// holds only the access token and the user, in memory, and writes nothing to its
    /// [`storage`](Self::storage) (nor reads it). Every request carries the anti-forgery header
    /// `X-Nhost-CSRF: 1` and, in the browser, `credentials: "same-origin"`. The API, the
    /// [`AuthState`]s and the events are those of direct mode:
    ///
    /// | call | request |
    /// |---|---|
    /// | [`initialize`](NhostClient::initialize) | `GET {endpoints}/session` (none with a fresh [`initial_session`](Self::initial_session)) |
    /// | refresh (background, [`access_token`](NhostClient::access_token), [`refresh_session`](NhostClient::refresh_session)) | `POST {endpoints}/token`, no body; same margin, backoff and single flight |
    /// | [`sign_in_anonymous`](NhostClient::sign_in_anonymous) | `POST {endpoints}/signin/anonymous` |
    /// | [`sign_in_email_password`](NhostClient::sign_in_email_password) | `POST {endpoints}/signin/email-password` |
    /// | [`sign_up_email_password`](NhostClient::sign_up_email_password) | `POST {endpoints}/signup/email-password` |
    /// | [`deanonymize`](NhostClient::deanonymize) | `POST {endpoints}/user/deanonymize` |
    /// | [`sign_out`](NhostClient::sign_out) | `POST {endpoints}/signout` |
    /// | anything else ([`user`](NhostClient::user), magic links, [`sign_in_with_refresh_token`](NhostClient::sign_in_with_refresh_token)) | none: `unavailable-in-server-session-mode` (status 20) |
    ///
    /// A `401` or `{"session": null}` from `/token` means the site signed the user out; a `5xx`
    /// (the site could not reach the auth server) or a network error is transient, as in direct
    /// mode: the still-valid access token is kept and the refresh retried with the backoff.
    ///
    /// In the browser `endpoints` is a path on the page's origin; natively (tests, tools) it must
    /// be an absolute URL, and cookies are the business of the
    /// [`http_client`](Self::http_client) (`reqwest::ClientBuilder::cookie_store`). It replaces
    /// [`auth_url`](Self::auth_url) / [`subdomain`](Self::subdomain): setting both is a
    /// configuration error.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), nhost_core::AuthError> {
    /// // In the hydrated page of a site serving `nhost_ssr::session_routes()`:
    /// let client = nhost_core::NhostClient::builder().session_endpoints("/_nhost").build()?;
    /// # let client = nhost_core::NhostClient::builder()
    /// #     .session_endpoints("http://127.0.0.1:3000/_nhost").build()?;
    /// client.initialize().await; // GET /_nhost/session: the cookie's session, if any
    /// let session = client.sign_in_anonymous(Default::default()).await?;
    /// assert!(session.refresh_token.is_empty()); // the server keeps it
    /// let token = client.access_token().await?; // POST /_nhost/token when due
    /// # let _ = token; Ok(()) }
    /// ```
    ///
    /// Only with the crate feature `server-session` (nhost-yew's `hydration` enables it): a
    /// single-page app without it carries none of this mode's code.
    #[cfg(feature = "server-session")]
    pub fn session_endpoints(mut self, endpoints: impl Into<String>) -> Self {
        self.session_endpoints = Some(endpoints.into());
        self
    }
    /// Timeout of each request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Where the refresh token is kept (default: memory on native, `localStorage` in the browser).
    /// Unused in server-session mode ([`session_endpoints`](Self::session_endpoints)).
    pub fn storage(mut self, storage: impl SessionStorage + 'static) -> Self {
        self.storage = Some(Arc::new(storage));
        self
    }
    /// Like [`storage`](Self::storage), sharing a store you keep a handle on.
    pub fn shared_storage(mut self, storage: Arc<dyn SessionStorage>) -> Self {
        self.storage = Some(storage);
        self
    }
    /// Refresh the session in the background before it expires (default on).
    pub fn auto_refresh(mut self, on: bool) -> Self {
        self.auto_refresh = on;
        self
    }
    /// The JWT claims namespace (default `https://hasura.io/jwt/claims`).
    pub fn claims_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.claims_namespace = namespace.into();
        self
    }
    /// Start signed in with this session (e.g. one the server rendered the page with). Its
    /// `access_token_expires_in` is taken as the token's remaining lifetime, counted on this
    /// client's clock (the sender's absolute expiry is on the sender's clock).
    pub fn initial_session(mut self, session: Session) -> Self {
        self.initial_session = Some(session);
        self
    }
    /// Server-session mode: start from the page the site's server rendered — signed in with
    /// `Some(session)`, signed out with `None` — without any request, so that the hydrated
    /// page's first render in the browser is the server's. Read the session from the page
    /// with [`Session::from_public_json`] (nhost-yew's `hydration::server_session` does).
    ///
    /// | | start state | start-up request ([`initialize`](NhostClient::initialize)) |
    /// |---|---|---|
    /// | not called | [`AuthState::Loading`] | `GET {endpoints}/session` |
    /// | `server_rendered(Some(session))` | [`AuthState::SignedIn`] (as [`initial_session`](Self::initial_session)) | none; `POST {endpoints}/token` only if the token is already due |
    /// | `server_rendered(None)` | [`AuthState::SignedOut`] | none |
    ///
    /// A signed-out page does not ask the site again: the server rendered it from the same
    /// cookie `GET /session` would read. The session's claims are decoded again with this
    /// client's [`claims_namespace`](Self::claims_namespace).
    ///
    /// Only with [`session_endpoints`](Self::session_endpoints): in direct mode
    /// [`build`](Self::build) fails with `invalid-configuration` (a session without its refresh
    /// token could not be refreshed there; direct mode's start is its storage).
    ///
    /// ```
    /// let page = r#"{"session":null}"#; // what the server wrote into the page
    /// # let endpoints = "http://127.0.0.1:3000/_nhost";
    /// let client = nhost_core::NhostClient::builder()
    ///     .session_endpoints(endpoints) // "/_nhost" in the browser
    ///     .server_rendered(nhost_core::Session::from_public_json(page)?)
    ///     .build()?;
    /// assert_eq!(client.auth_state(), nhost_core::AuthState::SignedOut);
    /// # Ok::<(), nhost_core::AuthError>(())
    /// ```
    ///
    /// Only with the crate feature `server-session`, as [`session_endpoints`](Self::session_endpoints).
    #[cfg(feature = "server-session")]
    pub fn server_rendered(mut self, session: Option<Session>) -> Self {
        self.server_rendered = true;
        self.initial_session = session;
        self
    }
    /// Waits between retries of transient refresh failures (default 5, 10, 20, 40, 80 s).
    /// Tests shorten them; an empty list means no retry.
    pub fn retry_backoff(mut self, waits: Vec<Duration>) -> Self {
        self.retry_backoff = waits;
        self
    }
    /// How long a refresh that the server rejected as `invalid-refresh-token` waits for another
    /// tab or process sharing the storage to store the session it rotated (default 5 s), before
    /// concluding the token is dead and signing out. Only a rejection that survives this wait
    /// signs out.
    pub fn rotation_grace(mut self, wait: Duration) -> Self {
        self.rotation_grace = wait;
        self
    }
    /// Use this `reqwest::Client` (proxies, custom TLS…). The builder's timeout still applies.
    /// (Native only: in the browser requests go through `fetch`.)
    #[cfg(not(target_arch = "wasm32"))]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client. Fails when no auth URL (or session endpoints URL) can be formed.
    pub fn build(self) -> Result<NhostClient, AuthError> {
        let config_error = |m: String| AuthError::validation(ErrorCode::InvalidConfiguration, m);
        // Without the `server-session` feature no setter can enter the mode, and every branch of
        // it below and in the client is known dead at compile time.
        let session_endpoints = self
            .session_endpoints
            .filter(|_| cfg!(feature = "server-session"));
        let server_session = session_endpoints.is_some();
        let url = match (
            session_endpoints,
            self.auth_url,
            self.subdomain,
            self.region,
        ) {
            (Some(endpoints), None, None, None) => session_endpoints_url(&endpoints)?,
            (Some(_), ..) => {
                return Err(config_error(
                    "session_endpoints replaces auth_url and subdomain + region: set one of them"
                        .into(),
                ));
            }
            (None, Some(url), _, _) => url,
            (None, None, Some(sub), Some(region)) => {
                let valid = |s: &str| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                };
                if !valid(&sub) || !valid(&region) {
                    return Err(config_error(format!(
                        "subdomain `{sub}` and region `{region}` must be letters, digits and dashes"
                    )));
                }
                format!("https://{sub}.auth.{region}.nhost.run/v1")
            }
            (None, None, Some(_), None) => {
                return Err(config_error("a subdomain needs a region too".into()));
            }
            _ => return Err(config_error("set auth_url, or subdomain and region".into())),
        };
        let url = url.trim().trim_end_matches('/').to_owned();
        // (Session endpoints were checked by `session_endpoints_url`.)
        if !(server_session || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(config_error(format!(
                "auth URL `{url}` must start with http:// or https://"
            )));
        }
        let server_rendered = cfg!(feature = "server-session") && self.server_rendered;
        if server_rendered && !server_session {
            return Err(config_error(
                "server_rendered needs session_endpoints: only the site's server can refresh a \
                 session it rendered the page with"
                    .into(),
            ));
        }
        let storage = self.storage.unwrap_or_else(default_storage);
        let state = match self.initial_session {
            // The site's server keeps the refresh token: this client never holds one.
            Some(s) if server_session => {
                let s = counted_from_now(s).without_refresh_token();
                AuthState::SignedIn(if server_rendered {
                    // `Session::from_public_json` decoded them under the default namespace.
                    s.with_claims_from(&self.claims_namespace)
                } else {
                    s
                })
            }
            Some(s) => {
                let s = counted_from_now(s);
                storage::persist(storage.as_ref(), &s);
                AuthState::SignedIn(s)
            }
            // The page was rendered signed out, from the cookie `GET /session` would read.
            None if server_rendered => AuthState::SignedOut,
            // Only the site's server knows (its cookie is out of this client's reach).
            None if server_session => AuthState::Loading,
            None if storage::load(storage.as_ref(), &self.claims_namespace, unix_now())
                .is_some() =>
            {
                AuthState::Loading
            }
            None => AuthState::SignedOut,
        };
        let deadline = state.session().map(Deadline::of);
        #[cfg(not(target_arch = "wasm32"))]
        let http = self.http.unwrap_or_default();
        #[cfg(target_arch = "wasm32")]
        let http = crate::api::HttpClient;
        Ok(NhostClient {
            inner: Arc::new(Inner {
                transport: Transport::new(http, url, self.timeout, server_session),
                namespace: self.claims_namespace,
                storage,
                state: Mutex::new(state),
                flights: SingleFlight::default(),
                listeners: Mutex::new(Vec::new()),
                next_listener: AtomicU64::new(1),
                auto_refresh: self.auto_refresh,
                refresher_started: AtomicBool::new(false),
                retry_backoff: self.retry_backoff,
                rotation_grace: self.rotation_grace,
                retry: Mutex::new(None),
                ended: Mutex::new(Vec::new()),
                deadline: Mutex::new(deadline),
                // The site's server refreshes when *it* finds the session due, and serialises the
                // tabs' calls itself: a tab due before it would only be answered the same token.
                spread: if server_session {
                    0
                } else {
                    platform::random_u32() % 1000
                },
            }),
        })
    }
}

/// The session endpoints' base URL: a path on the page's origin in the browser, an absolute URL
/// natively (there is no page origin to resolve a path against).
fn session_endpoints_url(endpoints: &str) -> Result<String, AuthError> {
    let url = endpoints.trim().trim_end_matches('/').to_owned();
    let absolute = url.starts_with("http://") || url.starts_with("https://");
    let path = endpoints.trim().starts_with('/') && !endpoints.trim().starts_with("//");
    if absolute || (cfg!(target_arch = "wasm32") && path) {
        return Ok(url);
    }
    let wanted = if cfg!(target_arch = "wasm32") {
        "a path on the page's origin (`/_nhost`) or an http(s) URL"
    } else {
        "an absolute http(s) URL natively (`http://127.0.0.1:3000/_nhost`): there is no page \
         origin to resolve a path against"
    };
    Err(AuthError::validation(
        ErrorCode::InvalidConfiguration,
        format!("session endpoints `{endpoints}` must be {wanted}"),
    ))
}

/// A session from another clock (a server): its expiry counted from now on this client's clock.
fn counted_from_now(mut s: Session) -> Session {
    s.access_token_expires_at = unix_now().saturating_add(s.access_token_expires_in);
    s
}

/// When a session's access token expires, on this client's monotonic clock: a wall-clock jump
/// (a user fixing their clock, a VM resuming) cannot delay a refresh past the real expiry.
#[derive(Debug, Clone)]
struct Deadline {
    key: SessionKey,
    at: Instant,
}

impl Deadline {
    fn of(s: &Session) -> Deadline {
        let left = s.access_token_expires_at.saturating_sub(unix_now());
        Deadline {
            key: SessionKey::of(s),
            at: Instant::now() + Duration::from_secs(left),
        }
    }
}

/// A refresh that failed for a reason worth retrying later (or that the site's server answered
/// with the session held: not due there yet): which session, how often, and when to try again.
#[derive(Debug, Clone)]
struct Retry {
    key: SessionKey,
    failures: usize,
    at: Instant,
}

#[cfg(not(target_arch = "wasm32"))]
fn default_storage() -> Arc<dyn SessionStorage> {
    Arc::new(MemoryStorage::default())
}

#[cfg(target_arch = "wasm32")]
fn default_storage() -> Arc<dyn SessionStorage> {
    let _ = MemoryStorage::default;
    Arc::new(crate::storage::LocalStorage)
}

/// The Nhost Auth client. Cheap to clone: clones share one session.
///
/// ```no_run
/// # async fn demo() -> Result<(), nhost_core::AuthError> {
/// let client = nhost_core::NhostClient::builder().auth_url("http://127.0.0.1:4000").build()?;
/// client.initialize().await; // restores a stored session, if any
/// let session = client.sign_in_anonymous(Default::default()).await?;
/// assert!(session.is_anonymous());
/// let token = client.access_token().await?; // refreshed first when close to expiry
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct NhostClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    namespace: String,
    storage: Arc<dyn SessionStorage>,
    state: Mutex<AuthState>,
    flights: SingleFlight<Result<Session, AuthError>>,
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
    auto_refresh: bool,
    refresher_started: AtomicBool,
    retry_backoff: Vec<Duration>,
    rotation_grace: Duration,
    /// Shared by the background refresher and `access_token`, so neither hammers a failing server.
    retry: Mutex<Option<Retry>>,
    /// `refresh_token_id`s of sessions that ended here (signed out, rejected): late news of them
    /// (a store written by a lagging tab) must not sign them back in.
    ended: Mutex<Vec<String>>,
    deadline: Mutex<Option<Deadline>>,
    /// This client's place (‰) in the spread of refresh times, so tabs that hold one session
    /// do not all become due in the same instant.
    spread: u32,
}

/// Two handles are equal when they share one session (clones of one client). This is what UI
/// frameworks compare to decide whether a context changed.
impl PartialEq for NhostClient {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for NhostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhostClient")
            .field("auth_url", &self.auth_url())
            .field("state", &self.auth_state())
            .finish_non_exhaustive()
    }
}

/// Which sessions [`NhostClient::sign_out`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignOutScope {
    /// This device's session only.
    #[default]
    ThisDevice,
    /// Every session of the user, on every device.
    AllDevices,
}

/// The result of a sign-up (or of a deanonymization).
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per client or call; boxing would only add an allocation"
)]
pub enum SignUpOutcome {
    /// Signed in right away.
    SignedIn(Session),
    /// The server sent an email; the user signs in after following its link.
    EmailVerificationRequired,
}

/// Keeps a subscription to auth changes alive; dropping it unsubscribes.
#[must_use = "dropping the subscription unsubscribes at once"]
pub struct Subscription {
    inner: Weak<Inner>,
    id: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|(id, _)| *id != self.id);
        }
    }
}

fn unauthenticated() -> AuthError {
    AuthError::state(ErrorCode::UnauthenticatedUser, "no user is signed in")
}

fn check_email(email: &str) -> Result<(), AuthError> {
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(AuthError::validation(
            ErrorCode::InvalidEmail,
            "Email is incorrectly formatted",
        ))
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(AuthError::validation(
            ErrorCode::InvalidPassword,
            format!("Password must be at least {MIN_PASSWORD_LENGTH} characters long"),
        ));
    }
    Ok(())
}

impl NhostClient {
    /// Starts building a client.
    pub fn builder() -> NhostClientBuilder {
        NhostClientBuilder {
            subdomain: None,
            region: None,
            auth_url: None,
            session_endpoints: None,
            timeout: Duration::from_secs(10),
            storage: None,
            auto_refresh: true,
            claims_namespace: DEFAULT_CLAIMS_NAMESPACE.into(),
            initial_session: None,
            server_rendered: false,
            retry_backoff: RETRY_BACKOFF.to_vec(),
            rotation_grace: ROTATION_GRACE,
            #[cfg(not(target_arch = "wasm32"))]
            http: None,
        }
    }

    /// The auth server's base URL — in server-session mode, the session endpoints' URL.
    pub fn auth_url(&self) -> &str {
        self.inner.transport.base()
    }

    /// The session endpoints this client talks to, in server-session mode
    /// ([`NhostClientBuilder::session_endpoints`]); `None` in direct mode.
    pub fn session_endpoints(&self) -> Option<&str> {
        self.is_server_session()
            .then(|| self.inner.transport.base())
    }

    /// Whether this client is in server-session mode.
    fn is_server_session(&self) -> bool {
        self.inner.transport.is_session_endpoints()
    }

    /// Where the client stands now.
    pub fn auth_state(&self) -> AuthState {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current session, if signed in.
    pub fn session(&self) -> Option<Session> {
        self.auth_state().session().cloned()
    }

    /// The Hasura claims of the current access token (decoded, not verified).
    pub fn hasura_claims(&self) -> Option<HasuraClaims> {
        self.session().and_then(|s| s.claims)
    }

    /// Whether a session is held.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.auth_state(), AuthState::SignedIn(_))
    }

    /// Calls `listener` on every change: signed in, token refreshed, signed out. Dropping the
    /// returned [`Subscription`] unsubscribes.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn on_auth_state_changed(
        &self,
        listener: impl Fn(&AuthChange) + Send + Sync + 'static,
    ) -> Subscription {
        self.subscribe(Arc::new(listener))
    }

    /// Calls `listener` on every change: signed in, token refreshed, signed out. Dropping the
    /// returned [`Subscription`] unsubscribes.
    #[cfg(target_arch = "wasm32")]
    pub fn on_auth_state_changed(&self, listener: impl Fn(&AuthChange) + 'static) -> Subscription {
        self.subscribe(Arc::new(listener))
    }

    fn subscribe(&self, listener: Listener) -> Subscription {
        let id = self.inner.next_listener.fetch_add(1, Ordering::Relaxed);
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, listener));
        Subscription {
            inner: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// Applies an event: new state and storage under the lock (so storage follows the state's
    /// order), then listeners outside it (so a listener may call back into the client).
    fn apply(&self, event: AuthEvent) {
        let emits: Vec<AuthChange> = {
            let mut state = self
                .inner
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (next, effects) = state::next(&state, event);
            *state = next;
            // Server-session mode stores nothing: the session lives in the site's cookie.
            let store = !self.is_server_session();
            let emits: Vec<AuthChange> = effects
                .into_iter()
                .filter_map(|effect| match effect {
                    Effect::Persist(_) | Effect::ClearStorage | Effect::ClearStorageIf(_)
                        if !store =>
                    {
                        None
                    }
                    Effect::Persist(s) => {
                        storage::persist(self.inner.storage.as_ref(), &s);
                        None
                    }
                    Effect::ClearStorage => {
                        storage::clear(self.inner.storage.as_ref());
                        None
                    }
                    Effect::ClearStorageIf(token) => {
                        if self.stored().is_some_and(|s| *s.refresh_token() == token) {
                            storage::clear(self.inner.storage.as_ref());
                        }
                        None
                    }
                    Effect::Emit(change) => Some(change),
                })
                .collect();
            let mut deadline = self
                .inner
                .deadline
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match state.session() {
                Some(s) if deadline.as_ref().is_none_or(|d| d.key != SessionKey::of(s)) => {
                    *deadline = Some(Deadline::of(s));
                }
                Some(_) => {}
                None => *deadline = None,
            }
            emits
        };
        if emits.is_empty() {
            return;
        }
        let listeners: Vec<Listener> = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for change in &emits {
            for listener in &listeners {
                listener(change);
            }
        }
        if matches!(self.auth_state(), AuthState::SignedIn(_)) {
            self.start_auto_refresh();
        }
    }

    fn session_from(&self, wire: SessionWire) -> Session {
        Session::from_wire(wire, unix_now(), &self.inner.namespace)
    }

    #[cfg(feature = "server-session")]
    fn public_session_from(&self, wire: PublicSessionWire) -> Session {
        Session::from_public_wire(wire, unix_now(), &self.inner.namespace)
    }

    /// What the store holds now (never anything in server-session mode: a session left in the
    /// store by direct mode on the same origin is not this mode's business).
    fn stored(&self) -> Option<Stored> {
        if self.is_server_session() {
            return None;
        }
        storage::load(
            self.inner.storage.as_ref(),
            &self.inner.namespace,
            unix_now(),
        )
    }

    /// Restores the stored session, if any.
    ///
    /// A whole stored session (written by this crate or by the current nhost-js) is taken at once,
    /// without a request, and refreshed only when due; a bare refresh token (the older nhost-js
    /// keys) is exchanged for a session. Only a definite rejection of the token signs out and
    /// clears storage — after re-reading the store and waiting for another tab's rotation (see
    /// [`rotation_grace`](NhostClientBuilder::rotation_grace)). Anything else (offline, 5xx,
    /// `429`, a proxy's `403`, an unreadable answer) is retried with the backoff (5, 10, 20, 40,
    /// 80 s); when that runs out the client stays [`AuthState::Loading`], keeps the stored
    /// session, and keeps retrying in the background (at once when the browser comes back
    /// online). Meanwhile sign-ins are refused with `session-restoring`, so nothing replaces
    /// the user being restored.
    ///
    /// In server-session mode the site is asked instead (`GET {endpoints}/session`, on the same
    /// rules: `{"session": null}` signs out, a `503` or no answer is retried).
    pub async fn initialize(&self) -> AuthState {
        if !matches!(self.auth_state(), AuthState::Loading) {
            if self.is_authenticated() {
                self.start_auto_refresh();
            }
            return self.auth_state();
        }
        match self.stored() {
            // Server-session mode: the refresh below asks the site (`GET /session`).
            None if self.is_server_session() => {}
            None => {
                self.apply(AuthEvent::NothingStored);
                return self.auth_state();
            }
            Some(Stored::Session(s)) if !self.is_ended(&s) => self.apply(AuthEvent::Adopted(*s)),
            Some(_) => {}
        }
        self.start_auto_refresh();
        let mut waits = self.inner.retry_backoff.iter();
        loop {
            match self.auth_state() {
                AuthState::SignedIn(s) if !self.is_due(&s) => break,
                AuthState::SignedOut => break,
                _ => {}
            }
            match self.refresh(false).await {
                Ok(_) => break,
                // Rejected for good: `refresh` signed out.
                Err(e) if self.is_rejection(&e) => break,
                Err(_) if self.is_authenticated() => break, // the background refresher retries
                Err(_) => match waits.next() {
                    Some(wait) => platform::sleep(*wait).await,
                    None => break, // still Loading; the background refresher keeps trying
                },
            }
        }
        self.auth_state()
    }

    /// Signs in as a new anonymous user. Refused with the state error `already-signed-in`
    /// (status 20), without any request, when a session exists, and with `session-restoring`
    /// while a stored session is being restored.
    ///
    /// Concurrent calls share one request (two components, or a double click, create one user),
    /// and clients sharing the storage take turns: a tab that finds a session another tab just
    /// signed in takes that one instead of creating a second user.
    pub async fn sign_in_anonymous(
        &self,
        options: SignInAnonymousOptions,
    ) -> Result<Session, AuthError> {
        self.ensure_signed_out()?;
        let (flight, started) = {
            let client = self.clone();
            self.inner.flights.join_or_start(SIGN_IN_FLIGHT, move || {
                boxed(async move {
                    let _lock = client.lock_store().await;
                    // Inside the lock the store is the truth: another tab may have signed in.
                    if let Some(Stored::Session(s)) = client.stored()
                        && !client.is_ended(&s)
                    {
                        client.apply(AuthEvent::Adopted((*s).clone()));
                        return Ok(*s);
                    }
                    client.ensure_signed_out()?;
                    let session = client
                        .post_for_session("/signin/anonymous", &options)
                        .await?;
                    client.finish_sign_in(session)
                })
            })
        };
        if started {
            self.drive(SIGN_IN_FLIGHT, &flight);
        }
        flight.await
    }

    /// Signs in with email and password.
    pub async fn sign_in_email_password(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Session, AuthError> {
        check_email(email)?;
        check_password(password)?;
        self.ensure_signed_out()?;
        let body = api::EmailPasswordRequest {
            email,
            password,
            options: None,
            code_challenge: None,
        };
        let session = self
            .post_for_session("/signin/email-password", &body)
            .await?;
        self.finish_sign_in(session)
    }

    /// Signs up with email and password. When an anonymous user is signed in, deanonymizes it
    /// instead (keeping its id and data), as nhost-js does.
    pub async fn sign_up_email_password(
        &self,
        email: &str,
        password: &str,
        options: Option<SignUpOptions>,
    ) -> Result<SignUpOutcome, AuthError> {
        check_email(email)?;
        check_password(password)?;
        if let Some(session) = self.session() {
            if !session.is_anonymous() {
                return Err(already_signed_in());
            }
            let method = DeanonymizeMethod::EmailPassword {
                email: email.into(),
                password: password.into(),
            };
            return self.deanonymize(method, options).await;
        }
        let challenge = self.pkce_challenge().await?;
        let body = api::EmailPasswordRequest {
            email,
            password,
            options: options.as_ref(),
            code_challenge: challenge.as_deref(),
        };
        match self
            .post_for_session("/signup/email-password", &body)
            .await?
        {
            Some(session) => {
                // Signed in at once: no email was sent, so no link needs the verifier.
                self.discard_code_verifier(challenge.is_some());
                self.apply(AuthEvent::SignedIn(session.clone()));
                Ok(SignUpOutcome::SignedIn(session))
            }
            None => Ok(SignUpOutcome::EmailVerificationRequired),
        }
    }

    /// Sends a magic link to `email`; the user signs in by following it.
    pub async fn sign_in_passwordless_email(
        &self,
        email: &str,
        options: Option<SignUpOptions>,
    ) -> Result<(), AuthError> {
        check_email(email)?;
        self.direct_mode_only("magic links")?;
        self.ensure_signed_out()?;
        let challenge = self.pkce_challenge().await?;
        let body = api::PasswordlessEmailRequest {
            email,
            options: options.as_ref(),
            code_challenge: challenge.as_deref(),
        };
        let _: String = self
            .inner
            .transport
            .post("/signin/passwordless/email", &body, None)
            .await?;
        Ok(())
    }

    /// Turns the signed-in anonymous user into a registered one; the user id stays the same.
    ///
    /// When the server requires email verification (and always for [`DeanonymizeMethod::Passwordless`])
    /// it revokes the session: the client is then signed out and the user signs in again after
    /// following the email's link — [`SignUpOutcome::EmailVerificationRequired`].
    pub async fn deanonymize(
        &self,
        method: DeanonymizeMethod,
        options: Option<SignUpOptions>,
    ) -> Result<SignUpOutcome, AuthError> {
        let (sign_in_method, email, password) = match &method {
            DeanonymizeMethod::EmailPassword { email, password } => {
                check_email(email)?;
                check_password(password)?;
                ("email-password", email.as_str(), Some(password.as_str()))
            }
            DeanonymizeMethod::Passwordless { email } => {
                check_email(email)?;
                ("passwordless", email.as_str(), None)
            }
        };
        let session = self.session().ok_or_else(unauthenticated)?;
        if !session.is_anonymous() {
            return Err(AuthError::state(
                ErrorCode::UserNotAnonymous,
                "the signed-in user is not anonymous",
            ));
        }
        let challenge = self.pkce_challenge().await?;
        let body = api::DeanonymizeRequest {
            sign_in_method,
            email,
            password,
            options: options.as_ref(),
            code_challenge: challenge.as_deref(),
        };
        // (Not a runtime branch alone: without the feature its awaits would stay in the state
        // machine, and in the bundle.)
        #[cfg(feature = "server-session")]
        if self.is_server_session() {
            // The site deanonymizes with the cookie's session and answers the new one — or
            // none, when the auth server revoked it to have the email verified first.
            let payload: PublicPayload = self
                .inner
                .transport
                .post("/user/deanonymize", &body, None)
                .await?;
            return Ok(match payload.session {
                Some(wire) => {
                    let new = self.public_session_from(wire);
                    self.apply(AuthEvent::Refreshed {
                        previous: SessionKey::of(&session),
                        session: new.clone(),
                    });
                    SignUpOutcome::SignedIn(new)
                }
                None => {
                    self.end_session(&session, AuthEvent::SignedOut);
                    SignUpOutcome::EmailVerificationRequired
                }
            });
        }
        let token = self.access_token().await?;
        let _: String = self
            .inner
            .transport
            .post("/user/deanonymize", &body, Some(token.expose()))
            .await?;
        // The answer is a bare "OK": whether the session survived shows at the next refresh.
        match self.refresh(true).await {
            Ok(session) => {
                // The session survived: no verification email, no link to complete.
                self.discard_code_verifier(challenge.is_some());
                Ok(SignUpOutcome::SignedIn(session))
            }
            Err(e) if self.is_rejection(&e) => Ok(SignUpOutcome::EmailVerificationRequired),
            // Deanonymized, but the new session could not be fetched now; auto-refresh will.
            Err(e) if e.is_transient() => Ok(SignUpOutcome::SignedIn(self.session().ok_or(e)?)),
            Err(e) => Err(e),
        }
    }

    /// Completes an email link on the page it led to: `url` is that page's address (in the
    /// browser, `location.href`), whose query the auth server wrote —
    /// - `code=…` (a PKCE link: the link was asked for by this client, or another one sharing its
    ///   storage) → [`exchange_code`](Self::exchange_code);
    /// - `refreshToken=…` (a link asked for without PKCE, by an older client) →
    ///   [`sign_in_with_refresh_token`](Self::sign_in_with_refresh_token);
    /// - `error=…&errorDescription=…` (the server's verdict on the link: expired, already used…)
    ///   → that error, as an [`AuthError`] with the pseudo-status
    ///   [`STATUS_OTHER`](crate::STATUS_OTHER) (no HTTP status came with it; not transient).
    ///
    /// `Ok(None)` when the address carries none of these: nothing to complete. The session, on
    /// success, is this client's (an `AuthChange` is announced as for any sign-in) — replacing
    /// any session it held, as nhost-js's `autoSignIn` does. Take the
    /// parameters out of the address bar afterwards (`history.replaceState`): a code is
    /// single-use, and a refresh token must not stay in the history. nhost-yew's provider does
    /// both.
    ///
    /// ```no_run
    /// # async fn f(client: nhost_core::NhostClient) -> Result<(), nhost_core::AuthError> {
    /// let landing = "https://app.example.com/welcome?code=8c1f…&type=emailVerify";
    /// if let Some(session) = client.complete_email_link(landing).await? {
    ///     println!("signed in as {}", session.user.map(|u| u.id).unwrap_or_default());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The link's own error; `invalid-request` for a code without a stored verifier (the link
    /// was opened in another browser than the one that asked for it); the exchange's or
    /// refresh's errors (`invalid-request` / `invalid-refresh-token` for a used or expired code
    /// or token); `unavailable-in-server-session-mode` (the site's callback route completes
    /// links there). A session held here is replaced only when the link gives one.
    pub async fn complete_email_link(&self, url: &str) -> Result<Option<Session>, AuthError> {
        let params = EmailLinkParams::parse(url);
        if let Some(error) = params.error {
            let message = params
                .error_description
                .unwrap_or_else(|| format!("the email link failed: {error}"));
            return Err(AuthError::new(
                crate::error::STATUS_OTHER,
                ErrorCode::parse(&error),
                message,
            ));
        }
        self.direct_mode_only("completing an email link")?;
        let session = if let Some(code) = params.code {
            self.exchange(&code).await?
        } else if let Some(token) = params.refresh_token {
            let token = RefreshToken::new(token.trim().to_owned());
            self.rotate(&token, self.inner.transport.timeout()).await?
        } else {
            return Ok(None);
        };
        // The link is what the user just chose: its session replaces one held here — typically
        // the anonymous session of the same user, which the server revoked when they
        // deanonymized with verification required — as nhost-js's `autoSignIn` does. Only once
        // the link has given a session: a failed link changes nothing.
        self.apply(AuthEvent::SignedIn(session.clone()));
        Ok(Some(session))
    }

    /// Turns a PKCE link's one-time `code` into a session (`POST /token/exchange`), with the
    /// verifier this client stored when it asked for the link. The verifier is removed once the
    /// exchange succeeds; a refused exchange keeps it (a wrong code does not burn it).
    ///
    /// # Errors
    ///
    /// `invalid-request` when no verifier is stored (the link was opened in another browser)
    /// or the server refuses the code (used, expired, another verifier's);
    /// `already-signed-in`; `unavailable-in-server-session-mode`.
    pub async fn exchange_code(&self, code: &str) -> Result<Session, AuthError> {
        self.direct_mode_only("completing an email link")?;
        self.ensure_signed_out()?;
        let session = self.exchange(code).await?;
        self.apply(AuthEvent::SignedIn(session.clone()));
        Ok(session)
    }

    /// `POST /token/exchange` with the stored verifier, which is removed once it worked.
    async fn exchange(&self, code: &str) -> Result<Session, AuthError> {
        let code = code.trim();
        if code.is_empty() {
            return Err(AuthError::validation(
                ErrorCode::InvalidRequest,
                "the email link has an empty code",
            ));
        }
        let Some(verifier) = self.code_verifier() else {
            return Err(AuthError::validation(
                ErrorCode::InvalidRequest,
                "this email link cannot be completed here: it was asked for in another browser, \
                 or it was already used (a link works once). Ask for a new one if needed",
            ));
        };
        let body = api::TokenExchangeRequest {
            code,
            code_verifier: &verifier,
        };
        let session = self
            .post_for_session("/token/exchange", &body)
            .await?
            .ok_or_else(|| {
                AuthError::new(
                    crate::error::STATUS_OTHER,
                    ErrorCode::InvalidRequest,
                    "the auth server answered the code exchange without a session",
                )
            })?;
        self.inner.storage.remove(crate::pkce::CODE_VERIFIER_KEY);
        Ok(session)
    }

    /// The PKCE verifier of the last email link this client asked for, if it has one (stored
    /// under [`CODE_VERIFIER_KEY`](crate::CODE_VERIFIER_KEY) in its storage). For a server that
    /// keeps it between the request that asked for the link and the one the link leads to
    /// (nhost-ssr keeps it in a sealed cookie).
    pub fn code_verifier(&self) -> Option<String> {
        self.inner
            .storage
            .get(crate::pkce::CODE_VERIFIER_KEY)
            .filter(|v| !v.is_empty())
    }

    /// Signs in with a refresh token from elsewhere — the `refreshToken` that a magic link or an
    /// email verification link redirects to (`…?refreshToken=…&type=…`).
    pub async fn sign_in_with_refresh_token(
        &self,
        refresh_token: &str,
    ) -> Result<Session, AuthError> {
        self.direct_mode_only("signing in with a refresh token")?;
        self.ensure_signed_out()?;
        let body = api::RefreshTokenRequest {
            refresh_token: refresh_token.trim(),
        };
        let wire: SessionWire = self.inner.transport.post("/token", &body, None).await?;
        let session = self.session_from(wire);
        self.apply(AuthEvent::SignedIn(session.clone()));
        Ok(session)
    }

    /// Refreshes the session now. Concurrent calls share one request, and clients sharing the
    /// storage (the tabs of a browser) take turns: a client that finds a session another one
    /// has just refreshed takes it instead of sending a request. In server-session mode the site
    /// decides: it refreshes through its coordinator when it finds the session due, and answers
    /// the session held otherwise.
    pub async fn refresh_session(&self) -> Result<Session, AuthError> {
        self.refresh(true).await
    }

    /// A valid access token: the current one, or — inside the refresh margin — a refreshed one.
    ///
    /// As long as the current token has not expired it is returned whenever a refresh cannot be
    /// made now (offline, 5xx, `429`, an unreadable answer), and no request is sent while the
    /// background refresher waits to retry a failed refresh.
    pub async fn access_token(&self) -> Result<AccessToken, AuthError> {
        let session = self.session().ok_or_else(|| self.not_signed_in())?;
        if !self.is_due(&session) {
            return Ok(session.access_token);
        }
        let expired = |c: &NhostClient| c.remaining(&session).is_zero();
        if self.retry_pending(&SessionKey::of(&session)) && !expired(self) {
            return Ok(session.access_token);
        }
        match self.refresh(false).await {
            Ok(s) => Ok(s.access_token),
            Err(e) => match self.session() {
                // A definite rejection signed out: nothing to hand out.
                None => Err(e),
                Some(now) if SessionKey::of(&now) != SessionKey::of(&session) => {
                    Ok(now.access_token)
                }
                Some(now) if !expired(self) => Ok(now.access_token),
                Some(_) => Err(e),
            },
        }
    }

    /// The signed-in user, fresh from the server (`GET /user`). Current servers answer
    /// `403 forbidden-anonymous` for anonymous users: use [`Session::user`] for them.
    pub async fn user(&self) -> Result<User, AuthError> {
        self.direct_mode_only("`GET /user`")?;
        let token = self.access_token().await?;
        self.inner.transport.get("/user", token.expose()).await
    }

    /// Signs out: tells the server to revoke this device's refresh token (or every session of the
    /// user), then forgets the session locally — even when the server cannot be reached (or, for
    /// [`SignOutScope::AllDevices`], no valid access token can be had), in which case the error is
    /// returned after signing out locally. In server-session mode the site does the revoking and
    /// clears its cookie (`POST {endpoints}/signout`).
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        let Some(session) = self.session() else {
            self.apply(AuthEvent::SignedOut);
            return Ok(());
        };
        let all = scope == SignOutScope::AllDevices;
        #[cfg(feature = "server-session")]
        if self.is_server_session() {
            // The site revokes the cookie's refresh token and clears the cookie, even when it
            // cannot tell the auth server (then it answers `503`, signed out all the same).
            let result: Result<PublicPayload, AuthError> = self
                .inner
                .transport
                .post("/signout", &api::SessionSignOutRequest { all }, None)
                .await;
            self.end_session(&session, AuthEvent::SignedOut);
            return result.map(drop);
        }
        // Before the lock: getting a token may refresh, which takes the lock itself.
        let bearer = if all {
            match self.access_token().await {
                Ok(token) => Some(token),
                Err(e) => {
                    self.end_session(&session, AuthEvent::SignedOut);
                    return Err(e);
                }
            }
        } else {
            None
        };
        let _lock = self.lock_store().await;
        // Revoke the newest token of this session: another tab may have rotated it.
        let token = match self.stored() {
            Some(Stored::Session(s)) if s.refresh_token_id == session.refresh_token_id => {
                s.refresh_token
            }
            _ => self
                .session()
                .map_or(session.refresh_token.clone(), |s| s.refresh_token),
        };
        let body = api::SignOutRequest {
            refresh_token: token.expose(),
            all,
        };
        let result: Result<String, AuthError> = self
            .inner
            .transport
            .post("/signout", &body, bearer.as_ref().map(AccessToken::expose))
            .await;
        self.end_session(&session, AuthEvent::SignedOut);
        result.map(drop)
    }

    /// Adopts a session obtained elsewhere — typically the page the server rendered — without any
    /// request, and stores it. Its `access_token_expires_in` is taken as the token's remaining
    /// lifetime on this client's clock. A session that ended here (signed out, rejected) is
    /// ignored. In server-session mode nothing is stored, and a refresh token in `session` is
    /// dropped.
    pub fn adopt_session(&self, session: Session) {
        if self.is_ended(&session) {
            return;
        }
        let mut session = counted_from_now(session);
        if self.is_server_session() {
            session = session.without_refresh_token();
        }
        match self.session() {
            Some(current) if current.user_id() == session.user_id() => {
                self.apply(AuthEvent::Refreshed {
                    previous: SessionKey::of(&current),
                    session,
                })
            }
            _ => self.apply(AuthEvent::SignedIn(session)),
        }
    }

    /// Follows the storage after another client sharing it (another tab) changed it: takes the
    /// session it stored, or — when the store holds no session any more — forgets ours. No
    /// request is sent and nothing is written. `nhost-yew` calls this when a tab announces a
    /// change over `BroadcastChannel`. Does nothing in server-session mode, which stores nothing:
    /// use [`sync_from_site`](Self::sync_from_site) there.
    pub fn sync_from_storage(&self) {
        if self.is_server_session() {
            // Nothing is stored in this mode: an empty store says nothing about the session.
            return;
        }
        let held = self.session();
        match self.stored() {
            Some(Stored::Session(s)) => {
                let same = held
                    .as_ref()
                    .is_some_and(|h| h.refresh_token == s.refresh_token);
                if !same && !self.is_ended(&s) && !matches!(self.auth_state(), AuthState::Loading) {
                    self.apply(AuthEvent::Adopted(*s));
                }
            }
            Some(Stored::Token(_)) => {}
            None => {
                if let Some(h) = held {
                    self.end_session(&h, AuthEvent::Forgotten);
                }
            }
        }
    }

    /// Server-session mode's [`sync_from_storage`](Self::sync_from_storage): follows the site
    /// after another tab changed the session. The site's cookie is the store the tabs share
    /// there, so this asks it — `GET {endpoints}/session` — and takes its answer: another
    /// session is adopted (as [`adopt_session`](Self::adopt_session)), `{"session": null}`
    /// forgets the one held, the session held changes nothing (no event). The answer is applied
    /// only if this client's state did not change while it was asked (a sign-out here meanwhile
    /// wins over an older answer); an error (the site unreachable, `503`) changes nothing.
    /// Nothing is done while the client is still [`AuthState::Loading`] (its start-up request
    /// is asking already). In direct mode it is [`sync_from_storage`](Self::sync_from_storage).
    /// `nhost-yew` calls this when a tab announces a change over `BroadcastChannel`.
    pub async fn sync_from_site(&self) {
        #[cfg(feature = "server-session")]
        if self.is_server_session() {
            return self.follow_site().await;
        }
        self.sync_from_storage();
    }

    /// [`sync_from_site`](Self::sync_from_site) in server-session mode.
    #[cfg(feature = "server-session")]
    async fn follow_site(&self) {
        let before = self.auth_state();
        if matches!(before, AuthState::Loading) {
            return;
        }
        let key = |state: &AuthState| state.session().map(SessionKey::of);
        let payload: PublicPayload = match self.inner.transport.get_plain("/session").await {
            Ok(payload) => payload,
            Err(_) => return,
        };
        let now = self.auth_state();
        if matches!(now, AuthState::Loading) || key(&now) != key(&before) {
            return;
        }
        match payload.session {
            Some(wire) => {
                let session = self.public_session_from(wire);
                if key(&now) != Some(SessionKey::of(&session)) {
                    self.adopt_session(session);
                }
            }
            None => {
                if let Some(held) = now.session() {
                    self.end_session(held, AuthEvent::Forgotten);
                }
            }
        }
    }

    /// Forgets the session locally, without telling the server or touching the storage (another
    /// tab signed out already).
    pub fn forget_session(&self) {
        match self.session() {
            Some(s) => self.end_session(&s, AuthEvent::Forgotten),
            None => self.apply(AuthEvent::Forgotten),
        }
    }

    fn ensure_signed_out(&self) -> Result<(), AuthError> {
        match self.auth_state() {
            AuthState::SignedIn(_) => Err(already_signed_in()),
            AuthState::Loading => Err(restoring()),
            AuthState::SignedOut => Ok(()),
        }
    }

    /// `unauthenticated-user`, or `session-restoring` while a stored session is being restored.
    fn not_signed_in(&self) -> AuthError {
        match self.auth_state() {
            AuthState::Loading => restoring(),
            _ => unauthenticated(),
        }
    }

    /// `POST`s a sign-in or sign-up to the auth server — or to the site's session endpoint of
    /// the same path — and reads the session answered: `None` when the server wants an email
    /// verified first.
    async fn post_for_session<B: api::Body + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<Session>, AuthError> {
        #[cfg(feature = "server-session")]
        if self.is_server_session() {
            let payload: PublicPayload = self.inner.transport.post(path, body, None).await?;
            return Ok(payload.session.map(|w| self.public_session_from(w)));
        }
        let payload: SessionPayload = self.inner.transport.post(path, body, None).await?;
        match payload.session {
            Some(wire) => Ok(Some(self.session_from(wire))),
            None if payload.mfa.is_some() => Err(AuthError::new(
                crate::error::STATUS_OTHER,
                ErrorCode::Other("mfa-required".into()),
                "this account needs a second factor, which this client does not support yet",
            )),
            None => Ok(None),
        }
    }

    fn finish_sign_in(&self, session: Option<Session>) -> Result<Session, AuthError> {
        match session {
            Some(session) => {
                self.apply(AuthEvent::SignedIn(session.clone()));
                Ok(session)
            }
            None => Err(AuthError::new(
                crate::error::STATUS_OTHER,
                ErrorCode::InvalidResponse,
                "the auth server answered without a session",
            )),
        }
    }

    /// A fresh PKCE challenge for a request that makes the server send a link, its verifier
    /// stored; `None` in server-session mode, where the site does PKCE itself.
    async fn pkce_challenge(&self) -> Result<Option<String>, AuthError> {
        if self.is_server_session() {
            return Ok(None);
        }
        let (verifier, challenge) = crate::pkce::new_pair().await?;
        self.inner
            .storage
            .set(crate::pkce::CODE_VERIFIER_KEY, &verifier);
        Ok(Some(challenge))
    }

    /// Forgets the verifier [`pkce_challenge`](Self::pkce_challenge) just stored (`made`) when
    /// the call turned out to send no email.
    fn discard_code_verifier(&self, made: bool) {
        if made {
            self.inner.storage.remove(crate::pkce::CODE_VERIFIER_KEY);
        }
    }

    /// Refuses, in server-session mode, what no session endpoint does.
    fn direct_mode_only(&self, what: &str) -> Result<(), AuthError> {
        if self.is_server_session() {
            return Err(AuthError::state(
                ErrorCode::UnavailableInServerSessionMode,
                format!(
                    "{what}: not available in server-session mode (the site's session endpoints \
                     have no such call)"
                ),
            ));
        }
        Ok(())
    }

    /// Whether `e`, answering a refresh, ends the session for good: the auth server's
    /// `invalid-refresh-token` — or, in server-session mode, any `401` of the site (which says
    /// so after the auth server's own definite rejection, or when it holds no session).
    fn is_rejection(&self, e: &AuthError) -> bool {
        e.error == ErrorCode::InvalidRefreshToken || (self.is_server_session() && e.status == 401)
    }

    /// Ends `session` here with `event` and remembers it, so late news of it is ignored.
    fn end_session(&self, session: &Session, event: AuthEvent) {
        if !session.refresh_token_id.is_empty() {
            let mut ended = self
                .inner
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !ended.contains(&session.refresh_token_id) {
                if ended.len() == ENDED_KEPT {
                    ended.remove(0);
                }
                ended.push(session.refresh_token_id.clone());
            }
        }
        self.apply(event);
    }

    fn is_ended(&self, session: &Session) -> bool {
        !session.refresh_token_id.is_empty()
            && self
                .inner
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&session.refresh_token_id)
    }

    /// Time left before the session's access token expires, on the monotonic clock when this
    /// client holds the session.
    fn remaining(&self, session: &Session) -> Duration {
        let deadline = self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match deadline {
            Some(d) if d.key == SessionKey::of(session) => {
                d.at.saturating_duration_since(Instant::now())
            }
            _ => Duration::from_secs(session.access_token_expires_at.saturating_sub(unix_now())),
        }
    }

    /// Whether the session is inside its refresh margin: `min(300 s, TTL/2)`, plus this client's
    /// share of a spread of up to a quarter of the margin (at most 10 s), so that tabs holding
    /// one session do not all become due at once.
    fn is_due(&self, session: &Session) -> bool {
        let margin = state::refresh_margin(Duration::from_secs(session.access_token_expires_in));
        let spread = (margin / 4).min(Duration::from_secs(10)) * self.inner.spread / 1000;
        self.remaining(session) <= margin + spread
    }

    /// Waits for the storage lock, at most as long as the longest refresh can hold it; past that
    /// it goes on without (the rotation check of `refresh` still keeps the session).
    async fn lock_store(&self) -> StorageLock {
        if self.is_server_session() {
            // Nothing is stored to keep consistent; the site serialises its own refreshes.
            return StorageLock::none();
        }
        let patience = self.flight_limit() + Duration::from_secs(5);
        let lock = self.inner.storage.lock();
        match select(lock, Box::pin(platform::sleep(patience))).await {
            Either::Left((lock, _)) => lock,
            Either::Right(_) => StorageLock::none(),
        }
    }

    /// How long a refresh request may run, although its callers stop waiting after the timeout:
    /// abandoning a `/token` request the server may already have honoured would lose the session
    /// it rotated to.
    fn flight_limit(&self) -> Duration {
        (self.inner.transport.timeout() * 6).max(Duration::from_secs(60))
    }

    /// Has `flight` driven to its end even if every caller stops waiting, then removes it.
    fn drive(&self, key: &str, flight: &Flight) {
        let weak = Arc::downgrade(&self.inner);
        let (key, flight) = (key.to_owned(), flight.clone());
        platform::spawn(async move {
            let _ = flight.clone().await;
            if let Some(inner) = weak.upgrade() {
                inner.flights.finish(&key, &flight);
            }
        });
    }

    /// Waits for a flight as long as the client's timeout; the flight itself goes on.
    async fn wait_for(&self, flight: Flight) -> Result<Session, AuthError> {
        let timeout = self.inner.transport.timeout();
        match select(flight, Box::pin(platform::sleep(timeout))).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(AuthError::network(format!(
                "the auth server did not answer the refresh within {} s; it goes on in the \
                 background",
                api::seconds(timeout)
            ))),
        }
    }

    /// The one refresh path: the background refresher, `access_token`, `refresh_session`,
    /// start-up and deanonymize all come here.
    ///
    /// 1. A flight for the held token already runs: join it.
    /// 2. Otherwise take the storage lock and re-read the store inside it: when another client
    ///    stored a newer session, take it — and stop there unless it is due (or `force`).
    /// 3. Send `POST /token` with the newest token; the flight keeps the lock until the answer
    ///    is applied and stored, so no other client can send the same token meanwhile.
    /// 4. On `401 invalid-refresh-token`, wait for a rotation by someone else (see
    ///    [`await_rotation`](Self::await_rotation)); only a rejection that survives it signs out.
    ///
    /// In server-session mode there is no token and no store: step 2 is skipped (the site
    /// serialises refreshes itself), the flight of step 3 is keyed by the held session and asks
    /// the site, and step 4 finds nothing to wait for.
    ///
    /// Boxed: its callers (start-up, the background refresher, `access_token`, deanonymize…)
    /// share one copy of its state machine in the bundle instead of each inlining its own.
    fn refresh(&self, force: bool) -> BoxFuture<Result<Session, AuthError>> {
        let client = self.clone();
        boxed(async move { client.refresh_now(force).await })
    }

    /// [`refresh`](Self::refresh), unboxed.
    async fn refresh_now(&self, force: bool) -> Result<Session, AuthError> {
        for attempt in 0..2 {
            let (held, held_token) = match self.auth_state() {
                AuthState::SignedIn(s) => (SessionKey::of(&s), s.refresh_token),
                AuthState::Loading if self.is_server_session() => {
                    (SessionKey::restore(), RefreshToken::new(String::new()))
                }
                AuthState::Loading => match self.stored() {
                    Some(stored) => (
                        SessionKey::of_token(stored.refresh_token()),
                        stored.refresh_token().clone(),
                    ),
                    None => return Err(restoring()),
                },
                AuthState::SignedOut => return Err(unauthenticated()),
            };
            let (sent, sent_token, outcome) = match self.inner.flights.get(held.as_str()) {
                Some(flight) => (held, held_token, self.wait_for(flight).await),
                #[cfg(feature = "server-session")]
                None if self.is_server_session() => {
                    let flight =
                        self.start_refresh(held.clone(), held_token.clone(), StorageLock::none());
                    (held, held_token, self.wait_for(flight).await)
                }
                None => {
                    let lock = self.lock_store().await;
                    let mut token = self.session().map_or(held_token, |s| s.refresh_token);
                    if let Some(stored) = self.stored()
                        && *stored.refresh_token() != token
                    {
                        match stored {
                            Stored::Session(s) if !self.is_ended(&s) => {
                                self.apply(AuthEvent::Adopted((*s).clone()));
                                if !self.is_due(&s) {
                                    return Ok(*s);
                                }
                                token = s.refresh_token;
                            }
                            Stored::Token(t) if !self.is_authenticated() => token = t,
                            _ => {}
                        }
                    } else if !force
                        && let Some(s) = self.session()
                        && !self.is_due(&s)
                    {
                        // Refreshed by someone else while this call waited for the lock.
                        return Ok(s);
                    }
                    let key = SessionKey::of_token(&token);
                    let flight = self.start_refresh(key.clone(), token.clone(), lock);
                    (key, token, self.wait_for(flight).await)
                }
            };
            match outcome {
                // The site answered the session held (it did not find it due yet): ask again in
                // a second at the earliest, not in a loop.
                Ok(s) if self.is_server_session() && SessionKey::of(&s) == sent => {
                    self.note_retry(&sent, 0, NOT_YET_DUE_PAUSE);
                    return Ok(s);
                }
                Ok(s) => {
                    *self
                        .inner
                        .retry
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    return Ok(s);
                }
                Err(e) if self.is_rejection(&e) => {
                    if let Some(s) = self.await_rotation(&sent).await {
                        if attempt == 0 && self.is_due(&s) {
                            continue;
                        }
                        return Ok(s);
                    }
                    match self.session() {
                        Some(s) => self.end_session(&s, AuthEvent::Rejected(sent_token)),
                        None => self.apply(AuthEvent::Rejected(sent_token)),
                    }
                    return Err(e);
                }
                Err(e) => {
                    self.note_failure(&sent);
                    return Err(e);
                }
            }
        }
        // The second attempt found a due session again: report what the store holds.
        self.session().ok_or_else(unauthenticated)
    }

    /// Starts the refresh flight of the session keyed `key` (or joins the one running), holding
    /// `lock` until its answer is applied: `POST /token` with `send`; in server-session mode
    /// `POST {endpoints}/token` without a body (or, restoring at start-up, `GET {endpoints}/session`).
    fn start_refresh(&self, key: SessionKey, send: RefreshToken, lock: StorageLock) -> Flight {
        let client = self.clone();
        let flight_key = key.as_str().to_owned();
        let limit = self.flight_limit();
        let (flight, started) = self.inner.flights.join_or_start(&flight_key, move || {
            boxed(async move {
                let _lock = lock;
                let session = match () {
                    #[cfg(feature = "server-session")]
                    () if client.is_server_session() => client.ask_site(&key, limit).await?,
                    () => client.rotate(&send, limit).await?,
                };
                // The state (and the store) change before the flight ends and before the lock
                // is released, so nobody who looks afterwards sees the rotated-away token. (The
                // site answering the session held changes nothing: no event.)
                if !(client.is_server_session() && SessionKey::of(&session) == key) {
                    client.apply(AuthEvent::Refreshed {
                        previous: key,
                        session: session.clone(),
                    });
                }
                Ok(session)
            })
        });
        if started {
            self.drive(&flight_key, &flight);
        }
        flight
    }

    /// `POST /token`: `send` rotated into a new session.
    async fn rotate(&self, send: &RefreshToken, limit: Duration) -> Result<Session, AuthError> {
        let body = api::RefreshTokenRequest {
            refresh_token: send.expose(),
        };
        let wire: SessionWire = self
            .inner
            .transport
            .post_within("/token", &body, None, limit)
            .await?;
        Ok(self.session_from(wire))
    }

    /// Server-session mode: the site's session — refreshed by `POST {endpoints}/token` when one
    /// is held, else (start-up) read by `GET {endpoints}/session`. `{"session": null}` is the
    /// site saying nobody is signed in: a rejection, as its `401`.
    #[cfg(feature = "server-session")]
    async fn ask_site(&self, key: &SessionKey, limit: Duration) -> Result<Session, AuthError> {
        let transport = &self.inner.transport;
        let payload: PublicPayload = if *key == SessionKey::restore() {
            transport.get_plain("/session").await?
        } else {
            transport.post_empty("/token", limit).await?
        };
        match payload.session {
            Some(wire) => Ok(self.public_session_from(wire)),
            None => Err(AuthError::new(
                401,
                ErrorCode::InvalidRefreshToken,
                "the site holds no session (signed out)",
            )),
        }
    }

    /// After `sent` was rejected: whether someone else rotated it legitimately — a newer session
    /// held here, or stored by another tab or process, now or within the
    /// [`rotation_grace`](NhostClientBuilder::rotation_grace) (a tab without Web Locks, or one
    /// that took over an expired lock, may still be waiting for its answer). Nothing stored at
    /// all means the session ended elsewhere: no wait.
    async fn await_rotation(&self, sent: &SessionKey) -> Option<Session> {
        let until = Instant::now() + self.inner.rotation_grace;
        loop {
            if let Some(s) = self.session()
                && SessionKey::of(&s) != *sent
            {
                return Some(s);
            }
            match self.stored() {
                Some(Stored::Session(s)) if SessionKey::of(&s) != *sent => {
                    if self.is_ended(&s) {
                        return None;
                    }
                    self.apply(AuthEvent::Adopted((*s).clone()));
                    return Some(*s);
                }
                None => return None,
                Some(_) => {}
            }
            if Instant::now() >= until {
                return None;
            }
            platform::sleep(ROTATION_POLL).await;
        }
    }

    /// Records a failed refresh of the session keyed `key` for the backoff.
    fn note_failure(&self, key: &SessionKey) {
        let failures = self
            .inner
            .retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|r| r.key == *key)
            .map_or(1, |r| r.failures + 1);
        let backoff = &self.inner.retry_backoff;
        let wait = backoff
            .get(failures - 1)
            .or(backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(80));
        self.note_retry(key, failures, wait);
    }

    /// No refresh of the session keyed `key` before `wait` has passed.
    fn note_retry(&self, key: &SessionKey, failures: usize, wait: Duration) {
        *self
            .inner
            .retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Retry {
            key: key.clone(),
            failures,
            at: Instant::now() + wait,
        });
    }

    /// Whether a refresh of the session keyed `key` waits for its retry time.
    fn retry_pending(&self, key: &SessionKey) -> bool {
        self.inner
            .retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| r.key == *key && Instant::now() < r.at)
    }

    /// Starts the background refresher once (when auto-refresh is on and a runtime exists).
    fn start_auto_refresh(&self) {
        if !self.inner.auto_refresh || self.inner.refresher_started.swap(true, Ordering::SeqCst) {
            return;
        }
        if !platform::spawn(auto_refresh_loop(Arc::downgrade(&self.inner))) {
            // No runtime to run in (native code outside tokio): try again at the next change.
            self.inner.refresher_started.store(false, Ordering::SeqCst);
        }
    }
}

fn already_signed_in() -> AuthError {
    AuthError::state(
        ErrorCode::AlreadySignedIn,
        "a user is already signed in: sign out first",
    )
}

fn restoring() -> AuthError {
    AuthError::state(
        ErrorCode::SessionRestoring,
        "a stored session is being restored: wait for it (signing in now would replace it)",
    )
}

/// The background refresher. It looks at least once a second rather than sleeping until the due
/// time, so a machine waking from sleep refreshes an expired token at once. It refreshes a due
/// session, retries a failed one on the backoff (at once when the browser comes back online),
/// and keeps trying to restore a stored session start-up could not. It holds only a weak
/// reference: dropping the last client ends it.
async fn auto_refresh_loop(weak: Weak<Inner>) {
    let mut was_online = true;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let client = NhostClient { inner };
        let online = platform::is_online();
        if online && !was_online {
            // Back online: whatever waits for a retry is tried now.
            *client
                .inner
                .retry
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        was_online = online;
        let key = match client.auth_state() {
            AuthState::SignedIn(s) if client.is_due(&s) => Some(SessionKey::of(&s)),
            AuthState::Loading if client.is_server_session() => Some(SessionKey::restore()),
            AuthState::Loading => client
                .stored()
                .map(|s| SessionKey::of_token(s.refresh_token())),
            _ => None,
        };
        let wait = match key {
            Some(key) if online && !client.retry_pending(&key) => {
                let _ = client.refresh(false).await;
                Duration::ZERO
            }
            _ => match client.session() {
                Some(s) if !client.is_due(&s) => {
                    let margin =
                        state::refresh_margin(Duration::from_secs(s.access_token_expires_in));
                    client
                        .remaining(&s)
                        .saturating_sub(margin)
                        .clamp(Duration::from_millis(50), Duration::from_secs(1))
                }
                _ => Duration::from_millis(250),
            },
        };
        drop(client);
        if !wait.is_zero() {
            platform::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_clock::SKEW;

    fn session(expires_in: u64, expires_at: u64) -> Session {
        Session {
            access_token: AccessToken::new("a.b.c"),
            access_token_expires_in: expires_in,
            access_token_expires_at: expires_at,
            refresh_token: RefreshToken::new("rt"),
            refresh_token_id: "id".into(),
            user: None,
            claims: None,
        }
    }

    fn client_with(s: Session) -> NhostClient {
        NhostClient::builder()
            .auth_url("http://127.0.0.1:9")
            .auto_refresh(false)
            .initial_session(s)
            .build()
            .expect("client")
    }

    /// Path 7: a session handed over from a clock ten minutes off counts its lifetime from this
    /// client's clock — neither expired at once nor valid past its real expiry.
    #[test]
    fn handed_over_sessions_count_their_lifetime_on_this_clock() {
        let now = unix_now();
        for sender_expires_at in [now - 600, now + 600 + 900, 0] {
            let c = client_with(session(900, sender_expires_at));
            let held = c.session().expect("held");
            let left = c.remaining(&held);
            assert!(
                left > Duration::from_secs(890) && left <= Duration::from_secs(900),
                "{left:?}"
            );
            assert!(!c.is_due(&held));
        }
    }

    fn server_mode() -> NhostClientBuilder {
        NhostClient::builder()
            .session_endpoints("http://127.0.0.1:9/_nhost/")
            .auto_refresh(false)
    }

    #[test]
    fn session_endpoints_are_a_builder_choice() {
        let c = server_mode().build().expect("client");
        assert_eq!(c.session_endpoints(), Some("http://127.0.0.1:9/_nhost"));
        assert_eq!(c.auth_url(), "http://127.0.0.1:9/_nhost");
        // Only the site knows whether its cookie holds a session.
        assert_eq!(c.auth_state(), AuthState::Loading);
        let direct = client_with(session(900, unix_now() + 900));
        assert_eq!(direct.session_endpoints(), None);

        let refused = |b: NhostClientBuilder| {
            let e = b.build().expect_err("refused");
            assert_eq!(e.error, ErrorCode::InvalidConfiguration, "{e}");
            e.message
        };
        let both = refused(server_mode().auth_url("http://127.0.0.1:4000"));
        assert!(both.contains("set one"), "{both}");
        refused(server_mode().subdomain("app").region("eu-central-1"));
        // Natively there is no page origin to resolve a path against.
        let path = refused(NhostClient::builder().session_endpoints("/_nhost"));
        assert!(path.contains("absolute"), "{path}");
        refused(NhostClient::builder().session_endpoints("//evil.example/_nhost"));
        refused(NhostClient::builder().session_endpoints("ftp://x/_nhost"));
    }

    /// A session handed over whole (with its refresh token) is held without it, and nothing is
    /// written to the store — at build, on adoption, on sign-out.
    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn server_mode_holds_no_refresh_token_and_stores_nothing() {
        let storage = Arc::new(MemoryStorage::default());
        let c = server_mode()
            .shared_storage(storage.clone())
            .initial_session(session(900, 0))
            .build()
            .expect("client");
        let held = c.session().expect("signed in");
        assert!(held.refresh_token.is_empty() && held.refresh_token_id.is_empty());
        assert!(!format!("{c:?}").contains("\"rt\""));
        assert!(!c.is_due(&held));
        let stored = || {
            [
                storage::SESSION_KEY,
                storage::REFRESH_TOKEN_KEY,
                storage::REFRESH_TOKEN_ID_KEY,
            ]
            .map(|k| storage.get(k))
        };
        assert_eq!(stored(), [None, None, None]);

        // A session left in the store by direct mode is not this mode's business.
        storage::persist(storage.as_ref(), &session(900, unix_now() + 900));
        c.sync_from_storage();
        assert_eq!(c.session(), Some(held.clone()), "sync is a no-op");
        storage.remove(storage::SESSION_KEY);
        c.sync_from_storage();
        assert_eq!(
            c.session(),
            Some(held.clone()),
            "an empty store signs nobody out"
        );

        let mut next = session(900, 0);
        next.access_token = AccessToken::new("x.y.z");
        c.adopt_session(next);
        let adopted = c.session().expect("signed in");
        assert_eq!(adopted.access_token, AccessToken::new("x.y.z"));
        assert!(adopted.refresh_token.is_empty());
        assert_eq!(stored(), [None, None, None]);

        // Nothing listens at port 9: the site cannot be told, the client signs out anyway.
        let err = c
            .sign_out(SignOutScope::ThisDevice)
            .await
            .expect_err("offline");
        assert!(err.is_transient(), "{err}");
        assert_eq!(c.auth_state(), AuthState::SignedOut);
        assert_eq!(stored(), [None, None, None]);
    }

    /// What no session endpoint does is refused at once, with a state error naming the mode —
    /// no request (nothing listens at port 9: a request would be a network error).
    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn calls_without_a_session_endpoint_are_refused() {
        let c = server_mode().build().expect("client");
        let signed_in = server_mode()
            .initial_session(session(900, 0))
            .build()
            .expect("client");
        let errors = [
            c.sign_in_with_refresh_token("rt")
                .await
                .expect_err("refused"),
            c.sign_in_passwordless_email("a@example.com", None)
                .await
                .expect_err("refused"),
            signed_in.user().await.expect_err("refused"),
        ];
        for e in errors {
            assert_eq!(e.error, ErrorCode::UnavailableInServerSessionMode, "{e}");
            assert_eq!(e.status, crate::error::STATUS_STATE);
            assert!(e.message.contains("server-session mode"), "{e}");
        }
    }

    /// Start-up in server-session mode asks the site; when it cannot be reached the client stays
    /// `Loading` (and refuses sign-ins), as direct mode does with a stored session.
    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn server_mode_start_up_without_the_site_stays_loading() {
        let c = server_mode()
            .retry_backoff(vec![Duration::from_millis(10)])
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        assert_eq!(c.initialize().await, AuthState::Loading);
        let e = c
            .sign_in_anonymous(SignInAnonymousOptions::default())
            .await
            .expect_err("restoring");
        assert_eq!(e.error, ErrorCode::SessionRestoring);
    }

    /// A hydrated page starts where the server rendered it — signed in or signed out — with no
    /// request: nothing listens at port 9, so a request would leave the client `Loading` or
    /// signed out instead of signed in, and the signed-out start would not be `SignedOut` before
    /// `initialize` returns.
    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn a_server_rendered_page_starts_in_the_servers_state_without_a_request() {
        use base64::Engine as _;
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let ns = "https://example.com/claims";
        let claims = serde_json::json!({"x-hasura-user-id": "u1", "x-hasura-default-role": "public",
            "x-hasura-allowed-roles": ["public"], "x-hasura-user-is-anonymous": "true"});
        let token = format!(
            "{}.{}.sig",
            enc(serde_json::json!({"alg": "HS256"})),
            enc(serde_json::json!({ ns: claims }))
        );
        let page =
            serde_json::json!({"session": {"accessToken": token, "accessTokenExpiresIn": 900,
            "user": {"id": "u1", "displayName": "Anonymous User", "isAnonymous": true,
                     "defaultRole": "public", "roles": ["public"], "email": null}}})
            .to_string();
        let session = Session::from_public_json(&page)
            .expect("readable")
            .expect("signed in");
        assert!(session.refresh_token.is_empty() && session.refresh_token_id.is_empty());
        assert_eq!(session.user_id(), Some("u1"));
        assert_eq!(
            session.claims, None,
            "decoded under the default namespace: none there"
        );

        let signed_in = server_mode()
            .claims_namespace(ns)
            .server_rendered(Some(session))
            .build()
            .expect("client");
        assert_eq!(signed_in.initialize().await, signed_in.auth_state());
        let held = signed_in.session().expect("signed in, no request");
        assert_eq!(
            held.claims
                .as_ref()
                .expect("claims under the client's namespace")
                .default_role,
            "public"
        );
        assert!(held.is_anonymous());
        let left = signed_in.remaining(&held);
        assert!(left > Duration::from_secs(890), "{left:?}");

        let none = Session::from_public_json(r#"{"session":null}"#).expect("readable");
        assert_eq!(none, None);
        let signed_out = server_mode().server_rendered(none).build().expect("client");
        assert_eq!(signed_out.auth_state(), AuthState::SignedOut, "not Loading");
        assert_eq!(signed_out.initialize().await, AuthState::SignedOut);
        // Signed out means a sign-in may start at once (not `session-restoring`).
        assert!(signed_out.ensure_signed_out().is_ok());

        for garbage in ["", "{", r#"{"session":{"accessToken":1}}"#, "42"] {
            let e = Session::from_public_json(garbage).expect_err(garbage);
            assert_eq!(e.error, ErrorCode::InvalidResponse, "{garbage}: {e}");
        }
        // Direct mode cannot refresh a session without its refresh token.
        let direct = NhostClient::builder()
            .auth_url("http://127.0.0.1:9")
            .server_rendered(None)
            .build()
            .expect_err("direct mode");
        assert_eq!(direct.error, ErrorCode::InvalidConfiguration, "{direct}");
    }

    /// Path 7: once held, the expiry follows the monotonic clock: a wall clock set back an hour
    /// does not push the refresh past the real expiry, nor does one set forward make it due.
    #[test]
    fn a_wall_clock_jump_does_not_move_the_refresh() {
        let c = client_with(session(600, unix_now() + 600));
        let held = c.session().expect("held");
        for jump in [-3600, 3600] {
            SKEW.with(|s| s.set(jump));
            let left = c.remaining(&held);
            assert!(
                left > Duration::from_secs(590) && left <= Duration::from_secs(600),
                "{jump}: {left:?}"
            );
            assert!(!c.is_due(&held), "{jump}");
        }
        SKEW.with(|s| s.set(0));
    }
}

/// The parameters of an email link's landing address that [`NhostClient::complete_email_link`]
/// reads, percent-decoded; the fragment is ignored.
#[derive(Debug, Default, PartialEq)]
struct EmailLinkParams {
    code: Option<String>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl EmailLinkParams {
    fn parse(url: &str) -> EmailLinkParams {
        let without_fragment = url.split('#').next().unwrap_or_default();
        let query = without_fragment
            .split_once('?')
            .map_or("", |(_, query)| query);
        let mut params = EmailLinkParams::default();
        for (key, value) in query_pairs(query) {
            let slot = match key.as_str() {
                "code" => &mut params.code,
                "refreshToken" => &mut params.refresh_token,
                "error" => &mut params.error,
                "errorDescription" => &mut params.error_description,
                _ => continue,
            };
            if slot.is_none() && !value.trim().is_empty() {
                *slot = Some(value);
            }
        }
        params
    }
}

/// The decoded `key=value` pairs of a query string (`application/x-www-form-urlencoded`):
/// `form_urlencoded` natively, the browser's own `URLSearchParams` in the browser.
#[cfg(not(target_arch = "wasm32"))]
fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(target_arch = "wasm32")]
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(query) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for name in ["code", "refreshToken", "error", "errorDescription"] {
        if let Some(value) = params.get(name) {
            pairs.push((name.to_owned(), value));
        }
    }
    pairs
}

/// The query parameters an email link's landing page carries, to take out of the address once
/// the link is completed: `code`, `refreshToken`, `type`, `error`, `errorDescription`.
pub const EMAIL_LINK_PARAMS: [&str; 5] =
    ["code", "refreshToken", "type", "error", "errorDescription"];

#[cfg(test)]
mod email_link_tests {
    use super::EmailLinkParams;

    #[test]
    fn landing_addresses() {
        let p = EmailLinkParams::parse("https://a.b/x?type=emailVerify&code=c%2B1#frag?code=no");
        assert_eq!(p.code.as_deref(), Some("c+1"));
        assert_eq!(p.refresh_token, None);
        let p = EmailLinkParams::parse("/?refreshToken=abc&type=signinPasswordless");
        assert_eq!(p.refresh_token.as_deref(), Some("abc"));
        let p = EmailLinkParams::parse(
            "http://x/?error=invalid-ticket&errorDescription=Invalid+or+expired+ticket",
        );
        assert_eq!(p.error.as_deref(), Some("invalid-ticket"));
        assert_eq!(
            p.error_description.as_deref(),
            Some("Invalid or expired ticket")
        );
        assert_eq!(
            EmailLinkParams::parse("http://x/"),
            EmailLinkParams::default()
        );
        assert_eq!(
            EmailLinkParams::parse("http://x/?code=&code=%20"),
            EmailLinkParams::default()
        );
        // Not UTF-8 after decoding, no `=`: read leniently, never a panic.
        let p = EmailLinkParams::parse("?code=%FF%FE&error");
        assert!(p.code.is_some());
        assert_eq!(p.error, None);
    }
}
