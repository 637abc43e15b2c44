//! [`NhostClient`]: the operations, the session they share, and the refresh that keeps it alive.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures_util::future::{Either, Shared, select};
use web_time::Instant;

use crate::api::{self, SessionPayload, SessionWire, Transport};
use crate::error::{AuthError, ErrorCode};
use crate::flight::SingleFlight;
use crate::options::{DeanonymizeMethod, SignInAnonymousOptions, SignUpOptions};
use crate::platform::{self, BoxFuture, boxed};
use crate::session::{AccessToken, HasuraClaims, RefreshToken, Session, User, unix_now};
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
    timeout: Duration,
    storage: Option<Arc<dyn SessionStorage>>,
    auto_refresh: bool,
    claims_namespace: String,
    initial_session: Option<Session>,
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
    /// Timeout of each request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Where the refresh token is kept (default: memory on native, `localStorage` in the browser).
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

    /// Builds the client. Fails when no auth URL can be formed.
    pub fn build(self) -> Result<NhostClient, AuthError> {
        let config_error = |m: String| AuthError::validation(ErrorCode::InvalidConfiguration, m);
        let url = match (self.auth_url, self.subdomain, self.region) {
            (Some(url), _, _) => url,
            (None, Some(sub), Some(region)) => {
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
            (None, Some(_), None) => {
                return Err(config_error("a subdomain needs a region too".into()));
            }
            _ => return Err(config_error("set auth_url, or subdomain and region".into())),
        };
        let url = url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(config_error(format!(
                "auth URL `{url}` must start with http:// or https://"
            )));
        }
        let storage = self.storage.unwrap_or_else(default_storage);
        let state = match self.initial_session {
            Some(s) => {
                let s = counted_from_now(s);
                storage::persist(storage.as_ref(), &s);
                AuthState::SignedIn(s)
            }
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
                transport: Transport::new(http, url, self.timeout),
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
                spread: platform::random_u32() % 1000,
            }),
        })
    }
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
    token: RefreshToken,
    at: Instant,
}

impl Deadline {
    fn of(s: &Session) -> Deadline {
        let left = s.access_token_expires_at.saturating_sub(unix_now());
        Deadline {
            token: s.refresh_token.clone(),
            at: Instant::now() + Duration::from_secs(left),
        }
    }
}

/// A refresh that failed for a reason worth retrying later: which token, how often, and when
/// to try again.
#[derive(Debug, Clone)]
struct Retry {
    token: RefreshToken,
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
            timeout: Duration::from_secs(10),
            storage: None,
            auto_refresh: true,
            claims_namespace: DEFAULT_CLAIMS_NAMESPACE.into(),
            initial_session: None,
            retry_backoff: RETRY_BACKOFF.to_vec(),
            rotation_grace: ROTATION_GRACE,
            #[cfg(not(target_arch = "wasm32"))]
            http: None,
        }
    }

    /// The auth server's base URL.
    pub fn auth_url(&self) -> &str {
        self.inner.transport.base()
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
            let emits: Vec<AuthChange> = effects
                .into_iter()
                .filter_map(|effect| match effect {
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
                Some(s) if deadline.as_ref().is_none_or(|d| d.token != s.refresh_token) => {
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

    /// What the store holds now.
    fn stored(&self) -> Option<Stored> {
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
    pub async fn initialize(&self) -> AuthState {
        if !matches!(self.auth_state(), AuthState::Loading) {
            if self.is_authenticated() {
                self.start_auto_refresh();
            }
            return self.auth_state();
        }
        match self.stored() {
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
                Err(e) if e.error == ErrorCode::InvalidRefreshToken => break,
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
                    let payload: SessionPayload = client
                        .inner
                        .transport
                        .post("/signin/anonymous", &options, None)
                        .await?;
                    client.finish_sign_in(payload)
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
        };
        let payload: SessionPayload = self
            .inner
            .transport
            .post("/signin/email-password", &body, None)
            .await?;
        self.finish_sign_in(payload)
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
        let body = api::EmailPasswordRequest {
            email,
            password,
            options: options.as_ref(),
        };
        let payload: SessionPayload = self
            .inner
            .transport
            .post("/signup/email-password", &body, None)
            .await?;
        match payload.session {
            Some(wire) => {
                let session = self.session_from(wire);
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
        self.ensure_signed_out()?;
        let body = api::PasswordlessEmailRequest {
            email,
            options: options.as_ref(),
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
        let token = self.access_token().await?;
        let body = api::DeanonymizeRequest {
            sign_in_method,
            email,
            password,
            options: options.as_ref(),
        };
        let _: String = self
            .inner
            .transport
            .post("/user/deanonymize", &body, Some(token.expose()))
            .await?;
        // The answer is a bare "OK": whether the session survived shows at the next refresh.
        match self.refresh(true).await {
            Ok(session) => Ok(SignUpOutcome::SignedIn(session)),
            Err(e) if e.error == ErrorCode::InvalidRefreshToken => {
                Ok(SignUpOutcome::EmailVerificationRequired)
            }
            // Deanonymized, but the new session could not be fetched now; auto-refresh will.
            Err(e) if e.is_transient() => Ok(SignUpOutcome::SignedIn(self.session().ok_or(e)?)),
            Err(e) => Err(e),
        }
    }

    /// Signs in with a refresh token from elsewhere — the `refreshToken` that a magic link or an
    /// email verification link redirects to (`…?refreshToken=…&type=…`).
    pub async fn sign_in_with_refresh_token(
        &self,
        refresh_token: &str,
    ) -> Result<Session, AuthError> {
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
    /// has just refreshed takes it instead of sending a request.
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
        if self.retry_pending(&session.refresh_token) && !expired(self) {
            return Ok(session.access_token);
        }
        match self.refresh(false).await {
            Ok(s) => Ok(s.access_token),
            Err(e) => match self.session() {
                // A definite rejection signed out: nothing to hand out.
                None => Err(e),
                Some(now) if now.refresh_token != session.refresh_token => Ok(now.access_token),
                Some(now) if !expired(self) => Ok(now.access_token),
                Some(_) => Err(e),
            },
        }
    }

    /// The signed-in user, fresh from the server (`GET /user`). Current servers answer
    /// `403 forbidden-anonymous` for anonymous users: use [`Session::user`] for them.
    pub async fn user(&self) -> Result<User, AuthError> {
        let token = self.access_token().await?;
        self.inner.transport.get("/user", token.expose()).await
    }

    /// Signs out: tells the server to revoke this device's refresh token (or every session of the
    /// user), then forgets the session locally — even when the server cannot be reached (or, for
    /// [`SignOutScope::AllDevices`], no valid access token can be had), in which case the error is
    /// returned after signing out locally.
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        let Some(session) = self.session() else {
            self.apply(AuthEvent::SignedOut);
            return Ok(());
        };
        let all = scope == SignOutScope::AllDevices;
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
    /// ignored.
    pub fn adopt_session(&self, session: Session) {
        if self.is_ended(&session) {
            return;
        }
        let session = counted_from_now(session);
        match self.session() {
            Some(current) if current.user_id() == session.user_id() => {
                self.apply(AuthEvent::Refreshed {
                    previous: current.refresh_token,
                    session,
                })
            }
            _ => self.apply(AuthEvent::SignedIn(session)),
        }
    }

    /// Follows the storage after another client sharing it (another tab) changed it: takes the
    /// session it stored, or — when the store holds no session any more — forgets ours. No
    /// request is sent and nothing is written. `nhost-yew` calls this when a tab announces a
    /// change over `BroadcastChannel`.
    pub fn sync_from_storage(&self) {
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

    fn finish_sign_in(&self, payload: SessionPayload) -> Result<Session, AuthError> {
        match payload.session {
            Some(wire) => {
                let session = self.session_from(wire);
                self.apply(AuthEvent::SignedIn(session.clone()));
                Ok(session)
            }
            None if payload.mfa.is_some() => Err(AuthError::new(
                crate::error::STATUS_OTHER,
                ErrorCode::Other("mfa-required".into()),
                "this account needs a second factor, which this client does not support yet",
            )),
            None => Err(AuthError::new(
                crate::error::STATUS_OTHER,
                ErrorCode::InvalidResponse,
                "the auth server answered without a session",
            )),
        }
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
            Some(d) if d.token == session.refresh_token => {
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
                "the auth server did not answer the refresh within {} ms; it goes on in the \
                 background",
                timeout.as_millis()
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
    async fn refresh(&self, force: bool) -> Result<Session, AuthError> {
        for attempt in 0..2 {
            let held = match self.auth_state() {
                AuthState::SignedIn(s) => s.refresh_token,
                AuthState::Loading => match self.stored() {
                    Some(stored) => stored.refresh_token().clone(),
                    None => return Err(restoring()),
                },
                AuthState::SignedOut => return Err(unauthenticated()),
            };
            let (sent, outcome) = match self.inner.flights.get(held.expose()) {
                Some(flight) => (held, self.wait_for(flight).await),
                None => {
                    let lock = self.lock_store().await;
                    let mut token = self.session().map_or(held.clone(), |s| s.refresh_token);
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
                    let flight = self.start_refresh(token.clone(), lock);
                    (token, self.wait_for(flight).await)
                }
            };
            match outcome {
                Ok(s) => {
                    *self
                        .inner
                        .retry
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    return Ok(s);
                }
                Err(e) if e.error == ErrorCode::InvalidRefreshToken => {
                    if let Some(s) = self.await_rotation(&sent).await {
                        if attempt == 0 && self.is_due(&s) {
                            continue;
                        }
                        return Ok(s);
                    }
                    match self.session() {
                        Some(s) => self.end_session(&s, AuthEvent::Rejected(sent)),
                        None => self.apply(AuthEvent::Rejected(sent)),
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

    /// Starts the `POST /token` flight for `send` (or joins the one running), holding `lock`
    /// until its answer is applied.
    fn start_refresh(&self, send: RefreshToken, lock: StorageLock) -> Flight {
        let client = self.clone();
        let key = send.expose().to_owned();
        let limit = self.flight_limit();
        let (flight, started) = self.inner.flights.join_or_start(&key, move || {
            boxed(async move {
                let _lock = lock;
                let body = api::RefreshTokenRequest {
                    refresh_token: send.expose(),
                };
                let wire: SessionWire = client
                    .inner
                    .transport
                    .post_within("/token", &body, None, limit)
                    .await?;
                let session = client.session_from(wire);
                // The state (and the store) change before the flight ends and before the lock
                // is released, so nobody who looks afterwards sees the rotated-away token.
                client.apply(AuthEvent::Refreshed {
                    previous: send,
                    session: session.clone(),
                });
                Ok(session)
            })
        });
        if started {
            self.drive(&key, &flight);
        }
        flight
    }

    /// After `sent` was rejected: whether someone else rotated it legitimately — a newer session
    /// held here, or stored by another tab or process, now or within the
    /// [`rotation_grace`](NhostClientBuilder::rotation_grace) (a tab without Web Locks, or one
    /// that took over an expired lock, may still be waiting for its answer). Nothing stored at
    /// all means the session ended elsewhere: no wait.
    async fn await_rotation(&self, sent: &RefreshToken) -> Option<Session> {
        let until = Instant::now() + self.inner.rotation_grace;
        loop {
            if let Some(s) = self.session()
                && s.refresh_token != *sent
            {
                return Some(s);
            }
            match self.stored() {
                Some(Stored::Session(s)) if s.refresh_token != *sent => {
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

    /// Records a failed refresh of `token` for the backoff.
    fn note_failure(&self, token: &RefreshToken) {
        let mut retry = self
            .inner
            .retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let failures = match retry.as_ref() {
            Some(r) if r.token == *token => r.failures + 1,
            _ => 1,
        };
        let backoff = &self.inner.retry_backoff;
        let wait = backoff
            .get(failures - 1)
            .or(backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(80));
        *retry = Some(Retry {
            token: token.clone(),
            failures,
            at: Instant::now() + wait,
        });
    }

    /// Whether a failed refresh of `token` waits for its retry time.
    fn retry_pending(&self, token: &RefreshToken) -> bool {
        self.inner
            .retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| r.token == *token && Instant::now() < r.at)
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
        let token = match client.auth_state() {
            AuthState::SignedIn(s) if client.is_due(&s) => Some(s.refresh_token),
            AuthState::Loading => client.stored().map(|s| s.refresh_token().clone()),
            _ => None,
        };
        let wait = match token {
            Some(token) if online && !client.retry_pending(&token) => {
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
