//! [`NhostSessionLayer`]: resolves every request's session from its cookie, refreshing it when
//! due, and writes the cookie back when the session changed.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, header};
use nhost_core::{
    AuthError, MemoryStorage, NhostClient, Session, SessionStorage as _, SignInAnonymousOptions,
};
use tower_cookies::{CookieManager, Cookies, Key};
use tower_layer::Layer;
use tower_service::Service;

use crate::Error;
use crate::cookie::{CookieSettings, Incoming, SecureCookie};
use crate::coordinator::{MemoryCoordinator, RefreshCoordinator, RefreshKey, RefreshOutcome};

/// Builds an [`NhostSessionLayer`]. A cookie [`Key`] is required: there is no way to build the
/// layer without sealing the cookie.
#[must_use]
pub struct NhostSessionLayerBuilder {
    auth_url: Option<String>,
    subdomain: Option<String>,
    region: Option<String>,
    key: Option<Key>,
    cookie_name: String,
    secure: SecureCookie,
    cookie_max_age: Duration,
    refresh_margin: Option<Duration>,
    race_window: Duration,
    coordinator: Option<Box<dyn RefreshCoordinator>>,
    anonymous: Option<SignInAnonymousOptions>,
    timeout: Duration,
    http: Option<reqwest::Client>,
    claims_namespace: Option<String>,
}

impl std::fmt::Debug for NhostSessionLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhostSessionLayerBuilder")
            .field("auth_url", &self.auth_url)
            .field("cookie_name", &self.cookie_name)
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl NhostSessionLayerBuilder {
    /// The auth server's URL, e.g. `https://<subdomain>.auth.<region>.nhost.run/v1` or an emulator.
    pub fn auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = Some(url.into());
        self
    }

    /// The Nhost project's subdomain (with [`region`](Self::region)), instead of an auth URL.
    pub fn subdomain(mut self, subdomain: impl Into<String>) -> Self {
        self.subdomain = Some(subdomain.into());
        self
    }

    /// The Nhost project's region (with [`subdomain`](Self::subdomain)).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The key that seals the session cookie (required). Every instance serving the site must use
    /// the same key; see [`key_from_bytes`](crate::key_from_bytes).
    pub fn cookie_key(mut self, key: Key) -> Self {
        self.key = Some(key);
        self
    }

    /// The cookie's name (default `nhostSession`). When the cookie is `Secure` the layer names it
    /// `__Host-<name>`; give the name without a prefix.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Whether the site is served over HTTPS, which makes the cookie `Secure` and `__Host-`
    /// prefixed (default [`SecureCookie::Always`]). Plain-HTTP development must opt out
    /// explicitly with [`SecureCookie::PlainHttpDevelopment`]; behind a TLS-terminating proxy
    /// that reports the scheme, [`SecureCookie::FromTrustedProxy`]. Never taken from `Host`.
    pub fn secure(mut self, secure: SecureCookie) -> Self {
        self.secure = secure;
        self
    }

    /// The cookie's `Max-Age`: set it to the auth server's refresh-token lifetime
    /// (`AUTH_REFRESH_TOKEN_EXPIRES_IN`; default 30 days, the server's default).
    pub fn cookie_max_age(mut self, max_age: Duration) -> Self {
        self.cookie_max_age = max_age;
        self
    }

    /// Refresh when the access token has less than this left (default: `nhost_core`'s
    /// `min(5 min, lifetime / 2)`).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = Some(margin);
        self
    }

    /// How long the outcome of a refresh is kept for requests that still present the old token
    /// (default 60 s). Longer covers slower stragglers; the cache holds one entry per refresh.
    pub fn race_window(mut self, window: Duration) -> Self {
        self.race_window = window;
        self
    }

    /// Who coordinates refreshes (default: a [`MemoryCoordinator`], right for one instance). Use
    /// `RedisCoordinator` (feature `redis`) when several instances serve the site.
    pub fn coordinator(mut self, coordinator: impl RefreshCoordinator) -> Self {
        self.coordinator = Some(Box::new(coordinator));
        self
    }

    /// Signs visitors without a session cookie in anonymously on `GET`/`HEAD` requests (off by
    /// default). Every cookie-less client — crawlers, `curl`, browsers refusing cookies — then
    /// creates a user on each visit, and the auth server's sign-in rate limit applies per IP;
    /// users created this way whose cookie is lost are orphaned. Prefer an explicit button.
    pub fn auto_anonymous_sign_in(mut self, options: Option<SignInAnonymousOptions>) -> Self {
        self.anonymous = options;
        self
    }

    /// Timeout of each request to the auth server (default 10 s): also the longest a refresh
    /// takes, which the coordinator is told (a `RedisCoordinator` holds its lock longer).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The HTTP client for the auth server (default: a new one, shared by every request).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The JWT claims namespace (default `https://hasura.io/jwt/claims`).
    pub fn claims_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.claims_namespace = Some(namespace.into());
        self
    }

    /// Builds the layer. Fails without a cookie key, with an unusable cookie name, or when no
    /// auth URL can be formed.
    pub fn build(self) -> Result<NhostSessionLayer, Error> {
        let key = self.key.ok_or(Error::MissingKey)?;
        let valid_name = !self.cookie_name.is_empty()
            && self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(Error::InvalidCookieName(self.cookie_name));
        }
        let lower = self.cookie_name.to_ascii_lowercase();
        if lower.starts_with("__host-") || lower.starts_with("__secure-") {
            return Err(Error::ReservedCookiePrefix(self.cookie_name));
        }
        if self.secure == SecureCookie::PlainHttpDevelopment {
            tracing::warn!(
                "nhost-ssr: the session cookie is neither Secure nor __Host- prefixed \
                 (SecureCookie::PlainHttpDevelopment): for plain-HTTP development only"
            );
        }
        let mut coordinator = self
            .coordinator
            .unwrap_or_else(|| Box::new(MemoryCoordinator::new()));
        coordinator.set_refresh_timeout(self.timeout);
        let shared = Shared {
            auth_url: String::new(),
            http: self.http.unwrap_or_default(),
            timeout: self.timeout,
            claims_namespace: self.claims_namespace,
            cookie: CookieSettings::new(self.cookie_name, key, self.secure, self.cookie_max_age),
            refresh_margin: self.refresh_margin,
            race_window: self.race_window,
            coordinator: Arc::from(coordinator),
            anonymous: self.anonymous,
            signed_out: quick_cache::sync::Cache::new(SIGNED_OUT_CAPACITY),
        };
        // Let nhost-core form and check the URL, once.
        let mut probe = NhostClient::builder();
        if let Some(url) = self.auth_url {
            probe = probe.auth_url(url);
        }
        if let Some(s) = self.subdomain {
            probe = probe.subdomain(s);
        }
        if let Some(r) = self.region {
            probe = probe.region(r);
        }
        let auth_url = probe.build().map_err(Error::AuthUrl)?.auth_url().to_owned();
        Ok(NhostSessionLayer {
            shared: Arc::new(Shared { auth_url, ..shared }),
        })
    }
}

/// A tower [`Layer`] that gives every request its Nhost session, from a sealed cookie, refreshed
/// when due — once per refresh token however many requests carry it — and keeps the cookie in
/// step. Handlers read the session with the [`Session`](crate::Session) extractor and act with
/// [`NhostAuth`](crate::NhostAuth).
///
/// It includes `tower-cookies`' [`CookieManager`]; adding a `CookieManagerLayer` of your own as
/// well is harmless.
///
/// Per request:
/// - no cookie → no session (or an anonymous sign-in, when enabled);
/// - a cookie that does not open with the key, or holds no session → no session;
/// - several different session cookies → no session, nothing written;
/// - a cookie of a session signed out through this layer (any of its cookies, even one whose
///   access token is fresh) → no session, cookie cleared;
/// - an access token outside the refresh margin → that session, no network call;
/// - inside the margin or expired → one refresh through the [`RefreshCoordinator`]; the new
///   session and a new cookie (`Cache-Control: private, no-store`);
/// - the refresh token rejected → cookie cleared, no session;
/// - the auth server unreachable or failing → cookie kept; the session if its access token has
///   not expired yet, else none. The page still renders.
///
/// Every response rendered with a session gets `Cache-Control: private, no-store` and
/// `Vary: Cookie`; a handler may set its own `Cache-Control` instead, except on a response that
/// sets or clears the cookie, which is always `private, no-store`.
#[derive(Clone)]
pub struct NhostSessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NhostSessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhostSessionLayer")
            .field("auth_url", &self.shared.auth_url)
            .field("cookie_name", &self.shared.cookie.name)
            .finish_non_exhaustive()
    }
}

impl NhostSessionLayer {
    /// Starts building a layer.
    pub fn builder() -> NhostSessionLayerBuilder {
        NhostSessionLayerBuilder {
            auth_url: None,
            subdomain: None,
            region: None,
            key: None,
            cookie_name: "nhostSession".into(),
            secure: SecureCookie::default(),
            cookie_max_age: Duration::from_secs(30 * 24 * 3600),
            refresh_margin: None,
            race_window: Duration::from_secs(60),
            coordinator: None,
            anonymous: None,
            timeout: Duration::from_secs(10),
            http: None,
            claims_namespace: None,
        }
    }

    /// The auth server's URL, as formed by the builder.
    pub fn auth_url(&self) -> &str {
        &self.shared.auth_url
    }

    /// A client for the auth server with no session, sharing the layer's HTTP client — for work
    /// outside a request.
    pub fn client(&self) -> NhostClient {
        self.shared.client(None)
    }

    /// Seals `session` into the cookie value this layer would set (for tests and migrations).
    /// `None` when the session cannot fit in a cookie.
    pub fn seal(&self, session: &Session) -> Option<String> {
        self.shared.cookie.seal(session)
    }

    /// The session cookie's name on the site: `__Host-<name>` unless the layer is configured
    /// for plain-HTTP development (with [`SecureCookie::FromTrustedProxy`], the HTTPS name).
    pub fn cookie_name(&self) -> &str {
        let cookie = &self.shared.cookie;
        cookie.wire_name(cookie.secure != SecureCookie::PlainHttpDevelopment)
    }

    /// How the layer decides that a request is served over HTTPS — for an application's own
    /// checks (a same-origin check needs the site's scheme) to agree with the cookie's.
    pub fn secure_cookie(&self) -> SecureCookie {
        self.shared.cookie.secure
    }
}

impl<S> Layer<S> for NhostSessionLayer {
    type Service = CookieManager<NhostSessionService<S>>;

    fn layer(&self, inner: S) -> Self::Service {
        CookieManager::new(NhostSessionService {
            inner,
            shared: self.shared.clone(),
        })
    }
}

/// The service [`NhostSessionLayer`] wraps around the application (inside `tower-cookies`'
/// `CookieManager`).
#[derive(Clone)]
pub struct NhostSessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for NhostSessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhostSessionService")
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for NhostSessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let Some(cookies) = req.extensions().get::<Cookies>().cloned() else {
            // Unreachable through `NhostSessionLayer`, which installs the cookie manager.
            return ResponseFuture::handler(self.inner.call(req), None);
        };
        let shared = &self.shared;
        let https = shared.cookie.secure.is_https(req.headers());
        let (auth, pending) =
            RequestAuth::start(shared, cookies, https, req.method(), req.headers());
        match pending {
            // Resolved without waiting (a fresh cookie, none, or one not used): the service
            // polled ready takes the request now, and nothing is boxed unless the handler's
            // client changed the session (see `ResponseFuture`).
            None => {
                let auth = Arc::new(auth);
                req.extensions_mut().insert(auth.clone());
                ResponseFuture::handler(self.inner.call(req), Some(auth))
            }
            // A refresh or an anonymous sign-in first: the service polled ready goes with the
            // request, a clone takes its place.
            Some(pending) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::boxed(Box::pin(async move {
                    let auth = Arc::new(auth.complete(pending).await);
                    req.extensions_mut().insert(auth.clone());
                    let response = inner.call(req).await?;
                    Ok(auth.respond(response).await)
                }))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`NhostSessionService`]. A request whose session was resolved
    /// without waiting — a fresh cookie, none, one not used: nearly every request — runs the
    /// application's future in place, and the response is finished as soon as it is ready;
    /// only a refresh or an anonymous sign-in before the handler, or a handler that used the
    /// request's client after it (its session may have changed: the cookie follows, and the
    /// coordinator may be told), goes through a boxed future.
    pub struct ResponseFuture<F, ResBody, E> {
        #[pin]
        state: ResponseState<F, ResBody, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = ResponseStateProj]
    enum ResponseState<F, ResBody, E> {
        // The application's future; then the request's auth finishes the response (`None`: not
        // behind the cookie manager, the response is passed on as it is).
        Handler {
            #[pin]
            future: F,
            auth: Option<Arc<RequestAuth>>,
        },
        // Everything that waits on the network or the coordinator.
        Boxed {
            future: BoxFuture<'static, Result<Response<ResBody>, E>>,
        },
    }
}

impl<F, ResBody, E> ResponseFuture<F, ResBody, E> {
    fn handler(future: F, auth: Option<Arc<RequestAuth>>) -> Self {
        ResponseFuture {
            state: ResponseState::Handler { future, auth },
        }
    }

    fn boxed(future: BoxFuture<'static, Result<Response<ResBody>, E>>) -> Self {
        ResponseFuture {
            state: ResponseState::Boxed { future },
        }
    }
}

impl<F, ResBody, E> std::fmt::Debug for ResponseFuture<F, ResBody, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> std::future::Future for ResponseFuture<F, ResBody, E>
where
    F: std::future::Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Send + 'static,
    E: 'static,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let (response, auth) = match state.as_mut().project() {
            ResponseStateProj::Boxed { future } => return future.as_mut().poll(cx),
            ResponseStateProj::Handler { future, auth } => {
                let response = std::task::ready!(future.poll(cx))?;
                match auth.take() {
                    None => return Poll::Ready(Ok(response)),
                    Some(auth) => (response, auth),
                }
            }
        };
        let response = match auth.respond_at_once(response) {
            Ok(response) => return Poll::Ready(Ok(response)),
            Err(response) => response,
        };
        // The handler made a client: finishing may write its session and tell the coordinator.
        let mut finishing: BoxFuture<'static, Result<Response<ResBody>, E>> =
            Box::pin(async move { Ok(auth.respond(response).await) });
        let poll = finishing.as_mut().poll(cx);
        state.set(ResponseState::Boxed { future: finishing });
        poll
    }
}

/// Marks a response that carries a session (or its cookie) as personal: `private, no-store`
/// — unless the handler chose its own `Cache-Control` and the response sets no cookie — and
/// `Vary: Cookie`, for caches that ignore `no-store`.
fn keep_out_of_caches(headers: &mut http::HeaderMap, wrote_cookie: bool) {
    // Whether the handler set either header: one walk over the response's few header names
    // costs less than looking each one up before inserting it.
    let (mut own_cache_control, mut own_vary) = (false, false);
    for name in headers.keys() {
        own_cache_control |= name == header::CACHE_CONTROL;
        own_vary |= name == header::VARY;
    }
    if wrote_cookie || !own_cache_control {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    let varies = own_vary
        && headers.get_all(header::VARY).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("cookie"))
            })
        });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

/// The site's origin as a request reached it: `https://` or `http://` as the layer decided for
/// it (`https`, per [`SecureCookie`]), then its `Host` header; `None` without a valid `Host`.
/// Formed by those who ask (email links), from the headers they see: most requests never do.
pub(crate) fn site_origin(https: bool, host: Option<&HeaderValue>) -> Option<String> {
    let host = host?.to_str().ok()?.parse::<http::uri::Authority>().ok()?;
    let scheme = if https { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// What every request shares with the layer.
pub(crate) struct Shared {
    auth_url: String,
    http: reqwest::Client,
    timeout: Duration,
    claims_namespace: Option<String>,
    cookie: CookieSettings,
    refresh_margin: Option<Duration>,
    race_window: Duration,
    coordinator: Arc<dyn RefreshCoordinator>,
    anonymous: Option<SignInAnonymousOptions>,
    /// Sessions signed out through this layer, by refresh-token id (stable across rotations):
    /// a cookie of such a session whose access token is still fresh would otherwise be served
    /// without asking anyone until the token expires. Bounded; in-process only.
    signed_out: quick_cache::sync::Cache<String, ()>,
}

/// How many signed-out sessions a layer remembers.
const SIGNED_OUT_CAPACITY: usize = 4096;

/// The key under which a session's sign-out is remembered: its refresh-token id, the same for
/// every cookie of the session, else (a server that sends no id) the hash of its token.
fn session_chain_id(session: &Session) -> Cow<'_, str> {
    if session.refresh_token_id.is_empty() {
        Cow::Owned(
            RefreshKey::new(session.refresh_token.expose())
                .id()
                .to_owned(),
        )
    } else {
        Cow::Borrowed(&session.refresh_token_id)
    }
}

impl Shared {
    /// A request-scoped client: no auto-refresh (the layer refreshes), in-memory storage.
    pub(crate) fn client(&self, session: Option<Session>) -> NhostClient {
        self.client_on(session, MemoryStorage::default())
    }

    /// [`client`](Self::client) on `storage`.
    fn client_on(&self, session: Option<Session>, storage: MemoryStorage) -> NhostClient {
        let mut builder = NhostClient::builder()
            .storage(storage)
            .auth_url(self.auth_url.clone())
            .http_client(self.http.clone())
            .timeout(self.timeout)
            .auto_refresh(false);
        if let Some(ns) = &self.claims_namespace {
            builder = builder.claims_namespace(ns.clone());
        }
        if let Some(s) = session {
            // `initial_session` counts the lifetime from now: hand over the time left.
            builder = builder.initial_session(s.handed_over());
        }
        builder
            .build()
            .expect("the auth URL was checked when the layer was built")
    }

    /// Whether the session's access token has more than the refresh margin left.
    fn is_fresh(&self, session: &Session) -> bool {
        let margin = self.refresh_margin.unwrap_or_else(|| {
            nhost_core::refresh_margin(Duration::from_secs(session.access_token_expires_in))
        });
        session.expires_in() > margin
    }

    async fn refresh(self: &Arc<Self>, session: &Session) -> RefreshOutcome {
        let key = RefreshKey::new(session.refresh_token.expose());
        let shared = self.clone();
        let token = session.refresh_token.clone();
        let work: crate::coordinator::RefreshWork = Box::new(move || {
            Box::pin(async move {
                let client = shared.client(None);
                let result = client
                    .sign_in_with_refresh_token(token.expose())
                    .await
                    .and_then(|s| {
                        let sealed = shared.cookie.seal(&s).ok_or_else(|| {
                            AuthError::new(
                                nhost_core::STATUS_OTHER,
                                nhost_core::ErrorCode::Other("session-too-large".into()),
                                "the new session does not fit in a 4 KB cookie",
                            )
                        })?;
                        Ok((s, sealed))
                    });
                RefreshOutcome::from_result(result)
            })
        });
        self.coordinator
            .coordinate(&key, self.race_window, work)
            .await
    }
}

/// One request's session, shared by the layer and the extractors.
pub(crate) struct RequestAuth {
    shared: Arc<Shared>,
    cookies: Cookies,
    /// Whether the request is served over HTTPS (per [`SecureCookie`]): the cookie's name and
    /// `Secure` attribute.
    https: bool,
    pub(crate) session: Option<Arc<Session>>,
    /// How the session was resolved — what the session endpoints answer besides the session.
    pub(crate) resolution: Resolution,
    client: OnceLock<NhostClient>,
    wrote_cookie: AtomicBool,
    /// The PKCE verifier the request's sealed cookie holds (an email link asked for earlier).
    verifier: Option<String>,
    /// An email link was completed with [`RequestAuth::verifier`]: clear its cookie.
    verifier_used: AtomicBool,
}

/// How the layer resolved a request's session.
#[derive(Debug, Clone)]
pub(crate) enum Resolution {
    /// No usable session cookie (none, unreadable, ambiguous, or a signed-out session's).
    NoSession,
    /// A session from the cookie, fresh or refreshed (or just signed in anonymously).
    Session,
    /// The auth server rejected the cookie's refresh token: the cookie is cleared.
    Rejected(AuthError),
    /// The session was due for a refresh that could not be made now: the cookie is kept;
    /// `session` above holds it while its access token has not expired.
    Unavailable {
        /// Why the refresh could not be made.
        error: AuthError,
        /// The cookie's session, expired or not.
        stale: Arc<Session>,
    },
}

/// What a request's session still waits for after [`RequestAuth::start`]: the network.
enum Pending {
    /// An anonymous sign-in for a visitor without a cookie (when enabled).
    AnonymousSignIn(SignInAnonymousOptions),
    /// A refresh of the cookie's session, which is due.
    Refresh(Arc<Session>),
}

impl RequestAuth {
    /// Resolves the request's session as far as it can without waiting: everything but an
    /// anonymous sign-in and a refresh, which are returned as [`Pending`] for
    /// [`complete`](Self::complete). A returning visitor with a fresh cookie — nearly every
    /// request — is resolved here, so the layer can call the application's service at once.
    fn start(
        shared: &Arc<Shared>,
        cookies: Cookies,
        https: bool,
        method: &Method,
        headers: &http::HeaderMap,
    ) -> (Self, Option<Pending>) {
        let found = shared.cookie.scan(headers, https);
        let verifier = shared.cookie.read_verifier(found.verifier);
        let mut auth = RequestAuth {
            shared: shared.clone(),
            cookies,
            https,
            session: None,
            resolution: Resolution::NoSession,
            client: OnceLock::new(),
            wrote_cookie: AtomicBool::new(false),
            verifier,
            verifier_used: AtomicBool::new(false),
        };
        let pending = match shared.cookie.read(found.session, found.remembered) {
            Incoming::Missing => shared
                .anonymous
                .clone()
                .filter(|_| method == Method::GET || method == Method::HEAD)
                .map(Pending::AnonymousSignIn),
            Incoming::Unreadable => {
                tracing::debug!("session cookie does not open with the key; ignored");
                None
            }
            Incoming::Ambiguous => {
                tracing::warn!(
                    "several different session cookies in one request (one may be planted); \
                     none is used"
                );
                None
            }
            Incoming::Session(session) => {
                if shared
                    .signed_out
                    .peek(&*session_chain_id(&session))
                    .is_some()
                {
                    tracing::debug!("cookie of a signed-out session; cleared");
                    shared.cookie.clear(&auth.cookies, https);
                    auth.wrote_cookie.store(true, Ordering::Relaxed);
                    None
                } else if shared.is_fresh(&session) {
                    auth.session = Some(session);
                    auth.resolution = Resolution::Session;
                    None
                } else {
                    Some(Pending::Refresh(session))
                }
            }
        };
        (auth, pending)
    }

    /// Finishes resolving the session: the anonymous sign-in or the refresh
    /// [`start`](Self::start) left.
    async fn complete(mut self, pending: Pending) -> Self {
        match pending {
            Pending::AnonymousSignIn(options) => {
                match self.shared.client(None).sign_in_anonymous(options).await {
                    Ok(session) => {
                        self.write(&session);
                        self.session = Some(Arc::new(session));
                        self.resolution = Resolution::Session;
                    }
                    Err(e) => tracing::warn!(error = %e, "anonymous sign-in failed"),
                }
            }
            Pending::Refresh(session) => match self.shared.refresh(&session).await {
                RefreshOutcome::Refreshed { session, cookie } => {
                    self.set_sealed(cookie);
                    self.session = Some(Arc::new(*session));
                    self.resolution = Resolution::Session;
                }
                RefreshOutcome::Rejected(e) => {
                    tracing::info!(error = %e.error, "refresh token rejected; signed out");
                    self.shared.cookie.clear(&self.cookies, self.https);
                    self.wrote_cookie.store(true, Ordering::Relaxed);
                    self.resolution = Resolution::Rejected(e);
                }
                RefreshOutcome::Unavailable(e) => {
                    tracing::warn!(error = %e, "auth server unavailable; cookie kept");
                    if !session.expires_in().is_zero() {
                        self.session = Some(session.clone());
                    }
                    self.resolution = Resolution::Unavailable {
                        error: e,
                        stale: session,
                    };
                }
            },
        }
        self
    }

    fn set_sealed(&self, sealed: String) {
        self.shared.cookie.set(&self.cookies, sealed, self.https);
        self.wrote_cookie.store(true, Ordering::Relaxed);
    }

    fn write(&self, session: &Session) {
        match self.shared.cookie.seal(session) {
            Some(sealed) => self.set_sealed(sealed),
            None => tracing::error!("session does not fit in a 4 KB cookie; not stored"),
        }
    }

    /// Ends the session of a cookie the layer could not refresh (the auth server is down): the
    /// cookie is cleared and the session remembered as signed out. Its refresh token stays
    /// valid at the auth server until it expires — nobody can tell it now.
    pub(crate) async fn sign_out_stale(&self, stale: &Session) {
        self.shared.cookie.clear(&self.cookies, self.https);
        self.wrote_cookie.store(true, Ordering::Relaxed);
        self.shared
            .signed_out
            .insert(session_chain_id(stale).into_owned(), ());
        let key = RefreshKey::new(stale.refresh_token.expose());
        self.shared
            .coordinator
            .publish(&key, self.shared.race_window, RefreshOutcome::signed_out())
            .await;
    }

    /// Whether the site is served over HTTPS for this request (per [`SecureCookie`]).
    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    /// The request's client, seeded with its session (built on first use).
    pub(crate) fn client(&self) -> &NhostClient {
        self.client
            .get_or_init(|| self.shared.client(self.session.as_deref().cloned()))
    }

    /// Completes the email link whose landing address is `url` (see
    /// `NhostClient::complete_email_link`) with the PKCE verifier of the request's cookie. A
    /// new session replaces the request's — whatever it was: following a link signs in as its
    /// user, as nhost-js does — and is written to the cookie by [`finish`](Self::finish); a
    /// failure changes nothing. `Ok(false)`: the address carries no link.
    pub(crate) async fn complete_email_link(&self, url: &str) -> Result<bool, AuthError> {
        let storage = MemoryStorage::default();
        if let Some(verifier) = &self.verifier {
            storage.set(nhost_core::CODE_VERIFIER_KEY, verifier);
        }
        let exchange = self.shared.client_on(None, storage);
        match exchange.complete_email_link(url).await? {
            Some(session) => {
                self.client().adopt_session(session.handed_over());
                self.verifier_used.store(true, Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The application's response, after [`finish`](Self::finish): kept out of shared caches
    /// when it carries a session or sets the cookie.
    async fn respond<B>(&self, response: Response<B>) -> Response<B> {
        let wrote_cookie = self.finish().await;
        self.mark(response, wrote_cookie)
    }

    /// [`respond`](Self::respond) without waiting, when the handler made no client — so the
    /// session did not change, and there is nothing to tell the coordinator. `Err`: it did make
    /// one; the response is given back for `respond`.
    fn respond_at_once<B>(&self, response: Response<B>) -> Result<Response<B>, Response<B>> {
        if self.client.get().is_some() {
            return Err(response);
        }
        // `finish` without a client: the verifier cookie is all that may follow.
        self.settle_verifier();
        Ok(self.mark(response, self.wrote_cookie.load(Ordering::Relaxed)))
    }

    /// A link the handler asked for (its PKCE verifier, made by the request's client), or one
    /// completed: the verifier cookie follows.
    fn settle_verifier(&self) {
        if let Some(client) = self.client.get()
            && let Some(verifier) = client.code_verifier()
            && self.verifier.as_deref() != Some(verifier.as_str())
        {
            self.shared
                .cookie
                .set_verifier(&self.cookies, &verifier, self.https);
        } else if self.verifier_used.load(Ordering::Relaxed) {
            self.shared.cookie.clear_verifier(&self.cookies, self.https);
        }
    }

    /// Keeps a response that carries a session, or sets the cookie, out of shared caches.
    fn mark<B>(&self, mut response: Response<B>, wrote_cookie: bool) -> Response<B> {
        if wrote_cookie || self.session.is_some() {
            keep_out_of_caches(response.headers_mut(), wrote_cookie);
        }
        response
    }

    /// After the handler: writes the cookie when the handler's client changed the session.
    /// Returns whether this request set or cleared the cookie.
    async fn finish(&self) -> bool {
        self.settle_verifier();
        // Read the client's session first: the client is not held across an await.
        let after = self.client.get().map(NhostClient::session);
        if let Some(now) = after {
            let before = self.session.as_deref();
            let changed = match (&now, before) {
                (Some(a), Some(b)) => a.refresh_token != b.refresh_token || a.user != b.user,
                (None, None) => false,
                _ => true,
            };
            if changed {
                match now {
                    Some(session) => {
                        let sealed = self.shared.cookie.seal(&session);
                        // The handler exchanged the request's refresh token itself (deanonymize,
                        // an explicit refresh): tell the coordinator, so that requests still
                        // presenting the old token get this session instead of a rejection.
                        if let (Some(old), Some(sealed)) = (before, &sealed)
                            && old.refresh_token != session.refresh_token
                            && old.user_id() == session.user_id()
                        {
                            let key = RefreshKey::new(old.refresh_token.expose());
                            let outcome = RefreshOutcome::Refreshed {
                                session: Box::new(session.clone()),
                                cookie: sealed.clone(),
                            };
                            self.shared
                                .coordinator
                                .publish(&key, self.shared.race_window, outcome)
                                .await;
                        }
                        match sealed {
                            Some(sealed) => self.set_sealed(sealed),
                            None => {
                                tracing::error!("session does not fit in a 4 KB cookie; not stored")
                            }
                        }
                    }
                    None => {
                        self.shared.cookie.clear(&self.cookies, self.https);
                        self.wrote_cookie.store(true, Ordering::Relaxed);
                        // Signed out: record it under the session's token, so that requests
                        // replaying an older cookie of this session — whose refresh to this one
                        // is still cached — are signed out too, on every instance.
                        if let Some(old) = before {
                            self.shared
                                .signed_out
                                .insert(session_chain_id(old).into_owned(), ());
                            let key = RefreshKey::new(old.refresh_token.expose());
                            self.shared
                                .coordinator
                                .publish(
                                    &key,
                                    self.shared.race_window,
                                    RefreshOutcome::signed_out(),
                                )
                                .await;
                        }
                    }
                }
            }
        }
        self.wrote_cookie.load(Ordering::Relaxed)
    }
}
