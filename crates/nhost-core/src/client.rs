//! [`NhostClient`]: the operations, the session they share, and the refresh that keeps it alive.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::api::{self, SessionPayload, SessionWire, Transport};
use crate::error::{AuthError, ErrorCode};
use crate::flight::SingleFlight;
use crate::options::{DeanonymizeMethod, SignInAnonymousOptions, SignUpOptions};
use crate::platform::{self, boxed};
use crate::session::{AccessToken, HasuraClaims, RefreshToken, Session, User, unix_now};
use crate::state::{self, AuthChange, AuthEvent, AuthState, Effect, RETRY_BACKOFF};
use crate::storage::{self, MemoryStorage, SessionStorage};

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
    /// Start signed in with this session (e.g. one the server rendered the page with).
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
                storage::persist(storage.as_ref(), &s);
                AuthState::SignedIn(s)
            }
            None if storage::stored_refresh_token(storage.as_ref()).is_some() => AuthState::Loading,
            None => AuthState::SignedOut,
        };
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
            }),
        })
    }
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
            effects
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
                    Effect::Emit(change) => Some(change),
                })
                .collect()
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

    /// Restores the stored session, if any: exchanges the stored refresh token for a session,
    /// retrying network errors and 5xx with the backoff (5, 10, 20, 40, 80 s). A rejected token
    /// signs out and clears storage; giving up after transient failures signs out but keeps the
    /// stored token, so a later start can still restore the (maybe anonymous, irreplaceable) user.
    pub async fn initialize(&self) -> AuthState {
        if !matches!(self.auth_state(), AuthState::Loading) {
            if self.is_authenticated() {
                self.start_auto_refresh();
            }
            return self.auth_state();
        }
        let Some(token) = storage::stored_refresh_token(self.inner.storage.as_ref()) else {
            self.apply(AuthEvent::SignedOut);
            return self.auth_state();
        };
        let mut waits = self.inner.retry_backoff.iter();
        loop {
            match self.refresh_flight(token.clone(), token.clone()).await {
                Ok(_) => break,
                Err(e) if e.is_transient() => match waits.next() {
                    Some(wait) => platform::sleep(*wait).await,
                    None => {
                        self.apply(AuthEvent::StartupGaveUp);
                        break;
                    }
                },
                Err(_) => {
                    self.apply(AuthEvent::SignedOut);
                    break;
                }
            }
            if !matches!(self.auth_state(), AuthState::Loading) {
                break;
            }
        }
        self.auth_state()
    }

    /// Signs in as a new anonymous user. Refused with the state error `already-signed-in`
    /// (status 20), without any request, when a session exists.
    pub async fn sign_in_anonymous(
        &self,
        options: SignInAnonymousOptions,
    ) -> Result<Session, AuthError> {
        self.ensure_signed_out()?;
        let payload: SessionPayload = self
            .inner
            .transport
            .post("/signin/anonymous", &options, None)
            .await?;
        self.finish_sign_in(payload)
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
        match self.refresh_current().await {
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

    /// Refreshes the session now (single-flight: concurrent calls share one request).
    pub async fn refresh_session(&self) -> Result<Session, AuthError> {
        self.refresh_current().await
    }

    /// A valid access token: the current one, or — inside the refresh margin — a refreshed one.
    /// Offline, an access token that has not expired yet is still returned.
    pub async fn access_token(&self) -> Result<AccessToken, AuthError> {
        let session = self.session().ok_or_else(unauthenticated)?;
        if unix_now() < state::refresh_due_at(&session) {
            return Ok(session.access_token);
        }
        match self.refresh_current().await {
            Ok(s) => Ok(s.access_token),
            Err(e) if e.is_transient() && unix_now() < session.access_token_expires_at => Ok(self
                .session()
                .map(|s| s.access_token)
                .unwrap_or(session.access_token)),
            Err(e) => Err(e),
        }
    }

    /// The signed-in user, fresh from the server (`GET /user`). Current servers answer
    /// `403 forbidden-anonymous` for anonymous users: use [`Session::user`] for them.
    pub async fn user(&self) -> Result<User, AuthError> {
        let token = self.access_token().await?;
        self.inner.transport.get("/user", token.expose()).await
    }

    /// Signs out: tells the server to revoke this device's refresh token (or every session of the
    /// user), then forgets the session locally — even when the server cannot be reached, in which
    /// case the error is returned after signing out locally.
    pub async fn sign_out(&self, scope: SignOutScope) -> Result<(), AuthError> {
        let Some(session) = self.session() else {
            self.apply(AuthEvent::SignedOut);
            return Ok(());
        };
        let all = scope == SignOutScope::AllDevices;
        let bearer = if all {
            Some(self.access_token().await?)
        } else {
            None
        };
        let body = api::SignOutRequest {
            refresh_token: session.refresh_token.expose(),
            all,
        };
        let result: Result<String, AuthError> = self
            .inner
            .transport
            .post("/signout", &body, bearer.as_ref().map(AccessToken::expose))
            .await;
        self.apply(AuthEvent::SignedOut);
        result.map(drop)
    }

    /// Adopts a session obtained elsewhere — another tab, or the page the server rendered —
    /// without any request. Use it to stay in step with whoever rotated the refresh token.
    pub fn adopt_session(&self, session: Session) {
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

    /// Forgets the session locally, without telling the server (another tab signed out already).
    pub fn forget_session(&self) {
        self.apply(AuthEvent::SignedOut);
    }

    fn ensure_signed_out(&self) -> Result<(), AuthError> {
        if self.is_authenticated() {
            Err(already_signed_in())
        } else {
            Ok(())
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

    /// One `POST /token` per refresh token, however many callers: the flight is keyed by the
    /// token sent. `replaces` is the token the state holds (they differ when adopting a token
    /// that another tab or process stored).
    async fn refresh_flight(
        &self,
        send: RefreshToken,
        replaces: RefreshToken,
    ) -> Result<Session, AuthError> {
        let client = self.clone();
        let key = send.expose().to_owned();
        self.inner
            .flights
            .run(&key, move || {
                boxed(async move {
                    let body = api::RefreshTokenRequest {
                        refresh_token: send.expose(),
                    };
                    let wire: SessionWire =
                        client.inner.transport.post("/token", &body, None).await?;
                    let session = client.session_from(wire);
                    // The state changes before the flight ends, so nobody who looks afterwards
                    // sees the rotated-away token.
                    client.apply(AuthEvent::Refreshed {
                        previous: replaces,
                        session: session.clone(),
                    });
                    Ok(session)
                })
            })
            .await
    }

    /// Refreshes the held session. A `401` first checks whether someone else rotated the token
    /// legitimately (a newer session here, or a newer token in storage from another tab or
    /// process) and only then signs out and clears storage.
    async fn refresh_current(&self) -> Result<Session, AuthError> {
        let current = self.session().ok_or_else(unauthenticated)?;
        let token = current.refresh_token.clone();
        match self.refresh_flight(token.clone(), token.clone()).await {
            Ok(s) => Ok(s),
            Err(e) if e.error == ErrorCode::InvalidRefreshToken => {
                if let Some(now) = self.session()
                    && now.refresh_token != token
                {
                    return Ok(now);
                }
                if let Some(stored) = storage::stored_refresh_token(self.inner.storage.as_ref())
                    && stored != token
                {
                    return match self.refresh_flight(stored, token).await {
                        Ok(s) => Ok(s),
                        Err(e2) if e2.error == ErrorCode::InvalidRefreshToken => {
                            self.apply(AuthEvent::SignedOut);
                            Err(e2)
                        }
                        Err(e2) => Err(e2),
                    };
                }
                self.apply(AuthEvent::SignedOut);
                Err(e)
            }
            Err(e) => Err(e),
        }
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

/// The background refresher. It polls at most a second apart rather than sleeping until the due
/// time, so a machine waking from sleep refreshes an expired token at once. It holds only a weak
/// reference: dropping the last client ends it.
async fn auto_refresh_loop(weak: Weak<Inner>) {
    // After a failure: which token it was, how many failures, and when to try again.
    let mut retry: Option<(RefreshToken, usize, u64)> = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let client = NhostClient { inner };
        let wait = match client.session() {
            None => {
                retry = None;
                Duration::from_secs(1)
            }
            Some(session) => {
                let now = unix_now();
                let due = match &retry {
                    Some((token, _, at)) if *token == session.refresh_token => *at,
                    _ => state::refresh_due_at(&session),
                };
                if now >= due {
                    match client.refresh_current().await {
                        Ok(_) => retry = None,
                        Err(_) if !client.is_authenticated() => retry = None,
                        Err(_) => {
                            let failures = match &retry {
                                Some((token, n, _)) if *token == session.refresh_token => n + 1,
                                _ => 1,
                            };
                            let backoff = &client.inner.retry_backoff;
                            let wait = backoff
                                .get(failures - 1)
                                .or(backoff.last())
                                .copied()
                                .unwrap_or(Duration::from_secs(80));
                            retry = Some((
                                session.refresh_token,
                                failures,
                                unix_now() + wait.as_secs().max(1),
                            ));
                        }
                    }
                    Duration::ZERO
                } else {
                    Duration::from_secs((due - now).min(1))
                }
            }
        };
        drop(client);
        if !wait.is_zero() {
            platform::sleep(wait).await;
        }
    }
}
