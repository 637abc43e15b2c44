//! The session endpoints: a router on the site's own origin through which a hydrated browser app
//! reads, refreshes, starts and ends its session — a backend for frontend. The refresh token
//! stays in the sealed `HttpOnly` cookie; the browser only ever sees a [`PublicSession`].
//!
//! | route | body | 200 answer |
//! |---|---|---|
//! | `GET  /session` | – | `{"session": PublicSession \| null}` |
//! | `POST /token` | none or `{}` | `{"session": PublicSession}` |
//! | `POST /signin/anonymous` | `{displayName?, locale?, metadata?}` | `{"session": …}` |
//! | `POST /signin/email-password` | `{email, password}` | `{"session": …}` |
//! | `POST /signup/email-password` | `{email, password, options?}` | `{"session": … \| null}` |
//! | `POST /user/deanonymize` | `{signInMethod, email, password?, options?}` | `{"session": … \| null}` |
//! | `POST /signout` | none or `{all?}` | `{"session": null}` |
//! | `GET  /callback?code=…` | – | `303` to the landing page (an email link's destination) |
//!
//! Errors are `{status, error, message}` with the HTTP status in `status`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use nhost_core::{
    AuthError, DeanonymizeMethod, ErrorCode, STATUS_NETWORK, STATUS_STATE, STATUS_VALIDATION,
    Session, SignInAnonymousOptions, SignOutScope, SignUpOptions, SignUpOutcome,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::PublicSession;
use crate::layer::{RequestAuth, Resolution, site_origin};
use crate::origin::same_origin;

/// Where [`session_routes`] mounts the endpoints.
pub const DEFAULT_PREFIX: &str = "/_nhost";

/// The anti-forgery header every state-changing call must carry, with the value `1`. A
/// cross-site form cannot send a custom header, and a cross-site `fetch` cannot send one
/// without a CORS preflight, which these routes refuse.
pub const CSRF_HEADER: &str = "x-nhost-csrf";

/// The largest request body the endpoints read (16 KiB) unless
/// [`SessionRoutes::body_limit`] says otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// The session endpoints under [`DEFAULT_PREFIX`] (`/_nhost`): merge them into the router that
/// [`NhostSessionLayer`](crate::NhostSessionLayer) wraps — they use its cookie, its refresh
/// coordinator and its key, and answer `500` without it.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use nhost_ssr::{NhostSessionLayer, Session};
///
/// # fn site(nhost: NhostSessionLayer) -> Router {
/// Router::new()
///     .route("/", get(|session: Option<Session>| async move { /* render the page */ }))
///     .merge(nhost_ssr::session_routes()) // GET /_nhost/session, POST /_nhost/token, …
///     .layer(nhost) // after the merge: the endpoints run inside the layer
/// # }
/// ```
///
/// See [`SessionRoutes`] for another prefix or body limit.
pub fn session_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    SessionRoutes::new().into_router()
}

/// Configures the session endpoints: their prefix (default `/_nhost`) and the largest body they
/// read (default 16 KiB). [`session_routes`] is `SessionRoutes::new().into_router()`.
///
/// ```
/// use axum::Router;
/// use nhost_ssr::SessionRoutes;
///
/// let app: Router = Router::new().merge(SessionRoutes::new().prefix("/api/auth").into_router());
/// // …then `.layer(nhost)`: POST /api/auth/token, GET /api/auth/session, …
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionRoutes {
    prefix: String,
    body_limit: usize,
    landing: String,
}

impl Default for SessionRoutes {
    fn default() -> Self {
        SessionRoutes {
            prefix: DEFAULT_PREFIX.to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            landing: "/".to_owned(),
        }
    }
}

impl SessionRoutes {
    /// The endpoints under `/_nhost`, reading bodies of at most 16 KiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts the endpoints under `prefix` (starting with `/`; `""` or `/` mounts them at the
    /// root).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The largest request body read, in bytes; a longer one is refused with `400`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Where `GET {prefix}/callback` sends the browser once an email link is completed (a path
    /// of the site, default `/`); a failed link gets there with
    /// `?error=<id>&errorDescription=<message>`, the query the auth server itself uses for a
    /// failed link, so that one page handles both.
    pub fn landing(mut self, path: impl Into<String>) -> Self {
        self.landing = path.into();
        self
    }

    /// The router, to merge into the application's router inside
    /// [`NhostSessionLayer`](crate::NhostSessionLayer).
    ///
    /// # Panics
    ///
    /// When the prefix does not start with `/` (axum's `route` refuses such a path).
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let limit = self.body_limit;
        // Routed at their full paths rather than under `nest`: nesting rebuilds every request's
        // URI to strip the prefix (~0.9 µs a request in the bench).
        let prefix = self.prefix.trim_end_matches('/');
        let callback_path: Arc<str> = format!("{prefix}/callback").into();
        let landing: Arc<str> = self.landing.into();
        let actions = [
            ("/token", Action::Token),
            ("/signin/anonymous", Action::SignInAnonymous),
            ("/signin/email-password", Action::SignInEmailPassword),
            ("/signup/email-password", Action::SignUpEmailPassword),
            ("/user/deanonymize", Action::Deanonymize),
            ("/signout", Action::SignOut),
        ];
        let routes = Router::new()
            .route(&format!("{prefix}/session"), guarded(get(get_session)))
            .route(
                &callback_path,
                guarded(get(move |req: Request| callback(req, landing))),
            );
        actions.into_iter().fold(routes, |routes, (path, what)| {
            let callback_path = callback_path.clone();
            routes.route(
                &format!("{prefix}{path}"),
                guarded(post(move |req: Request| {
                    action(req, limit, what, callback_path)
                })),
            )
        })
    }
}

/// Answers every other method — above all a CORS preflight (`OPTIONS`) — with a JSON refusal.
fn guarded<S>(route: MethodRouter<S>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route.fallback(|method: Method| async move {
        if method == Method::OPTIONS {
            error(
                StatusCode::FORBIDDEN,
                "csrf",
                "cross-origin requests are refused: the session endpoints answer only the \
                 site's own pages",
            )
        } else {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "method not allowed on this session endpoint",
            )
        }
    })
}

/// `GET /session`: the request's session as the layer resolved it (refreshed when it was due).
async fn get_session(req: Request) -> Response {
    let auth = match request_auth(&req) {
        Ok(auth) => auth,
        Err(refusal) => return refusal.into_response(),
    };
    match (&auth.session, &auth.resolution) {
        (Some(session), _) => session_response(Some(session)),
        // Due, expired, and not refreshable now: not "signed out" — the cookie is kept.
        (None, Resolution::Unavailable { error, .. }) => auth_error(error).into_response(),
        (None, _) => session_response(None),
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Token,
    SignInAnonymous,
    SignInEmailPassword,
    SignUpEmailPassword,
    Deanonymize,
    SignOut,
}

/// Every state-changing endpoint: the layer's auth, the anti-forgery checks, the body, then the
/// action. Nothing is sent to the auth server, and the cookie is not touched, unless all checks
/// pass.
async fn action(req: Request, limit: usize, action: Action, callback: Arc<str>) -> Response {
    let auth = match request_auth(&req) {
        Ok(auth) => auth,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = check_forgery(req.headers(), req.uri(), auth.is_https()) {
        return refusal.into_response();
    }
    // Where an email link asked for here leads back to: the site's origin as the request
    // reached it.
    let origin = match action {
        Action::SignUpEmailPassword | Action::Deanonymize => {
            site_origin(auth.is_https(), req.headers().get(http::header::HOST))
        }
        _ => None,
    };
    let links = Links {
        origin: origin.as_deref(),
        callback: &callback,
    };
    let body = match read_body(req.into_body(), limit).await {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let result = match action {
        Action::Token => token(&auth, &body),
        Action::SignInAnonymous => sign_in_anonymous(&auth, &body).await,
        Action::SignInEmailPassword => sign_in_email_password(&auth, &body).await,
        Action::SignUpEmailPassword => sign_up_email_password(&auth, &body, links).await,
        Action::Deanonymize => deanonymize(&auth, &body, links).await,
        Action::SignOut => sign_out(&auth, &body).await,
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

type Answer = Result<Response, Refusal>;

/// `POST /token`: the session the layer resolved — refreshed through the coordinator when it
/// was due, so that a storm of calls with one cookie, and cookies already rotated by a parallel
/// call, get one outcome. A fresh session is answered as it is.
fn token(auth: &RequestAuth, body: &[u8]) -> Answer {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TokenBody {}
    let TokenBody {} = parse(body)?;
    match (&auth.resolution, &auth.session) {
        // Even with an access token still valid: the browser keeps it and retries later.
        (Resolution::Unavailable { error, .. }, _) => Err(auth_error(error)),
        (_, Some(session)) => Ok(session_response(Some(session))),
        (Resolution::Rejected(e), None) => Err(error(
            StatusCode::UNAUTHORIZED,
            e.error.as_str(),
            &e.message,
        )),
        (_, None) => Err(error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidRefreshToken.as_str(),
            "no session on this site: sign in",
        )),
    }
}

/// Refuses to act on a session the layer could not refresh: signing in now would overwrite a
/// cookie that still holds a valid refresh token (an anonymous user would be orphaned).
fn ensure_available(auth: &RequestAuth) -> Result<(), Refusal> {
    match &auth.resolution {
        Resolution::Unavailable { error, .. } => Err(auth_error(error)),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInAnonymousBody {
    display_name: Option<String>,
    locale: Option<String>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /signin/anonymous`. A request that already has a session gets that session — two tabs
/// clicking at once create one user, as nhost-core's client does.
async fn sign_in_anonymous(auth: &RequestAuth, body: &[u8]) -> Answer {
    let body: SignInAnonymousBody = parse(body)?;
    ensure_available(auth)?;
    if let Some(session) = &auth.session {
        return Ok(session_response(Some(session)));
    }
    let mut options = SignInAnonymousOptions::default();
    options.display_name = body.display_name;
    options.locale = body.locale;
    options.metadata = body.metadata;
    let session = auth
        .client()
        .sign_in_anonymous(options)
        .await
        .map_err(|e| auth_error(&e))?;
    Ok(session_response(Some(&session)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmailPasswordBody {
    email: String,
    password: String,
}

/// `POST /signin/email-password`.
async fn sign_in_email_password(auth: &RequestAuth, body: &[u8]) -> Answer {
    let body: EmailPasswordBody = parse(body)?;
    ensure_available(auth)?;
    let session = auth
        .client()
        .sign_in_email_password(&body.email, &body.password)
        .await
        .map_err(|e| auth_error(&e))?;
    Ok(session_response(Some(&session)))
}

/// The server's `SignUpOptions`, read strictly.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OptionsBody {
    allowed_roles: Option<Vec<String>>,
    default_role: Option<String>,
    display_name: Option<String>,
    locale: Option<String>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    redirect_to: Option<String>,
}

impl From<OptionsBody> for SignUpOptions {
    fn from(body: OptionsBody) -> Self {
        let mut options = SignUpOptions::default();
        options.allowed_roles = body.allowed_roles;
        options.default_role = body.default_role;
        options.display_name = body.display_name;
        options.locale = body.locale;
        options.metadata = body.metadata;
        options.redirect_to = body.redirect_to;
        options
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignUpBody {
    email: String,
    password: String,
    options: Option<OptionsBody>,
}

/// `POST /signup/email-password`: with an anonymous session, deanonymizes it (as nhost-js
/// does). `{"session": null}` when the server requires email verification first.
async fn sign_up_email_password(auth: &RequestAuth, body: &[u8], links: Links<'_>) -> Answer {
    let body: SignUpBody = parse(body)?;
    ensure_available(auth)?;
    let options = link_options(links, body.options);
    let outcome = auth
        .client()
        .sign_up_email_password(&body.email, &body.password, Some(options))
        .await
        .map_err(|e| auth_error(&e))?;
    Ok(outcome_response(&outcome))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeanonymizeBody {
    sign_in_method: String,
    email: String,
    password: Option<String>,
    options: Option<OptionsBody>,
}

/// `POST /user/deanonymize`: `{"session": null}` when the server revoked the session to have
/// the email verified first (the cookie is cleared; the user signs in after the email's link).
async fn deanonymize(auth: &RequestAuth, body: &[u8], links: Links<'_>) -> Answer {
    let body: DeanonymizeBody = parse(body)?;
    let method = match (body.sign_in_method.as_str(), body.password) {
        ("email-password", Some(password)) => DeanonymizeMethod::EmailPassword {
            email: body.email,
            password,
        },
        ("email-password", None) => {
            return Err(invalid_request(
                "`password` is required with email-password",
            ));
        }
        ("passwordless", _) => DeanonymizeMethod::Passwordless { email: body.email },
        _ => {
            return Err(invalid_request(
                "`signInMethod` must be \"email-password\" or \"passwordless\"",
            ));
        }
    };
    ensure_available(auth)?;
    let options = link_options(links, body.options);
    let outcome = auth
        .client()
        .deanonymize(method, Some(options))
        .await
        .map_err(|e| auth_error(&e))?;
    Ok(outcome_response(&outcome))
}

/// Where the email links a request asks for lead: this router's callback on the site's origin
/// as the request reached it (`None` without a valid `Host`).
#[derive(Clone, Copy)]
struct Links<'a> {
    origin: Option<&'a str>,
    callback: &'a str,
}

/// The options of a call that may make the server send a link: the caller's, with the link
/// leading to this router's callback (on the site's origin as the request reached it) unless
/// the caller chose a `redirectTo` — the request's client sends a PKCE challenge, and the layer
/// keeps its verifier in a sealed cookie for the callback.
fn link_options(links: Links<'_>, body: Option<OptionsBody>) -> SignUpOptions {
    let mut options: SignUpOptions = body.map(Into::into).unwrap_or_default();
    if options.redirect_to.is_none()
        && let Some(origin) = links.origin
    {
        options.redirect_to = Some(format!("{origin}{}", links.callback));
    }
    options
}

/// `GET /callback`: where an email link the site asked for leads (the auth server redirects
/// here with `?code=…&type=…`, or `?error=…`). Completes it with the PKCE verifier kept in the
/// request's sealed cookie — the new session goes into the session cookie — and sends the
/// browser to the landing page: `303`, so the code leaves the address bar and the history.
/// Links without PKCE (`?refreshToken=…`) are refused: anyone could send such a link to sign a
/// visitor into an account of theirs; a PKCE code only works in the browser that asked for it.
async fn callback(req: Request, landing: Arc<str>) -> Response {
    let auth = match request_auth(&req) {
        Ok(auth) => auth,
        Err(refusal) => return refusal.into_response(),
    };
    let url = req.uri().to_string();
    let query = req.uri().query().unwrap_or_default();
    let has = |name: &str| {
        form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == name && !v.trim().is_empty())
    };
    let outcome = if has("refreshToken") && !has("code") && !has("error") {
        Err(AuthError::validation(
            ErrorCode::InvalidRequest,
            "this site completes only the email links it asked for (PKCE); ask for a new link",
        ))
    } else {
        auth.complete_email_link(&url).await
    };
    let location = match outcome {
        Ok(_) => landing.to_string(),
        Err(e) => {
            tracing::info!(error = %e.error, "email link not completed");
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("error", e.error.as_str())
                .append_pair("errorDescription", &e.message)
                .finish();
            let joiner = if landing.contains('?') { '&' } else { '?' };
            format!("{landing}{joiner}{query}")
        }
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid-configuration",
            "the landing page of email links is not a valid address",
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignOutBody {
    #[serde(default)]
    all: bool,
}

/// `POST /signout`: the cookie is cleared whatever the auth server says — signed out on this
/// site even when the server cannot be told (then `503`, the session ended here all the same).
async fn sign_out(auth: &RequestAuth, body: &[u8]) -> Answer {
    let body: SignOutBody = parse(body)?;
    if let (None, Resolution::Unavailable { error, stale }) = (&auth.session, &auth.resolution) {
        // The cookie's access token expired and could not be refreshed: the request's client has
        // no session to sign out with, so end it here.
        auth.sign_out_stale(stale).await;
        return Err(signed_out_locally(error));
    }
    let scope = if body.all {
        SignOutScope::AllDevices
    } else {
        SignOutScope::ThisDevice
    };
    match auth.client().sign_out(scope).await {
        Ok(()) => Ok(session_response(None)),
        Err(e) if e.is_transient() => Err(signed_out_locally(&e)),
        Err(e) => Err(auth_error(&e)),
    }
}

fn signed_out_locally(e: &AuthError) -> Refusal {
    tracing::warn!(error = %e, "signed out on this site; the auth server could not be told");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        e.error.as_str(),
        "signed out on this site, but the auth server could not be reached to revoke the session",
    )
}

/// The layer's per-request auth, or a JSON `500` when the routes are not inside the layer.
fn request_auth(req: &Request) -> Result<Arc<RequestAuth>, Refusal> {
    req.extensions()
        .get::<Arc<RequestAuth>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("nhost-ssr: the session routes are not behind NhostSessionLayer");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::InternalServerError.as_str(),
                "the session endpoints are not behind NhostSessionLayer: add `.layer(nhost)` \
                 after merging them",
            )
        })
}

/// The anti-forgery checks of a state-changing call: `X-Nhost-CSRF: 1`, and a same-origin
/// request as far as the browser says ([`crate::is_same_origin`]).
fn check_forgery(headers: &HeaderMap, uri: &Uri, https: bool) -> Result<(), Refusal> {
    let marked = headers.get_all(CSRF_HEADER).iter().count() == 1
        && headers.get(CSRF_HEADER).is_some_and(|v| v == "1");
    if !marked {
        return Err(error(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing anti-forgery header `X-Nhost-CSRF: 1`",
        ));
    }
    if !same_origin(headers, uri, https) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "csrf",
            "cross-origin request refused: the session endpoints answer only the site's own pages",
        ));
    }
    Ok(())
}

/// Reads at most `limit` bytes of body.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, Refusal> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| invalid_request(&format!("the request body is over {limit} bytes")))
}

/// Parses a JSON body strictly (unknown fields refused); an empty body counts as `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| invalid_request(&format!("invalid JSON body: {e}")))
}

fn invalid_request(message: &str) -> Refusal {
    error(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidRequest.as_str(),
        message,
    )
}

fn outcome_response(outcome: &SignUpOutcome) -> Response {
    match outcome {
        SignUpOutcome::SignedIn(session) => session_response(Some(session)),
        SignUpOutcome::EmailVerificationRequired => session_response(None),
    }
}

/// `{"session": PublicSession | null}`, never cached.
fn session_response(session: Option<&Session>) -> Response {
    #[derive(serde::Serialize)]
    struct Envelope {
        session: Option<PublicSession>,
    }
    let envelope = Envelope {
        session: session.map(PublicSession::new),
    };
    json(StatusCode::OK, &envelope)
}

/// A refusal: `{status, error, message}` with `status` as the HTTP status.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    error: String,
    message: String,
}

fn error(status: StatusCode, id: &str, message: &str) -> Refusal {
    Refusal {
        status,
        error: id.to_owned(),
        message: message.to_owned(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        #[derive(serde::Serialize)]
        struct ErrorBody<'a> {
            status: u16,
            error: &'a str,
            message: &'a str,
        }
        let body = ErrorBody {
            status: self.status.as_u16(),
            error: &self.error,
            message: &self.message,
        };
        json(self.status, &body)
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// An error of nhost-core's client as the browser may see it: the auth server's own verdicts
/// (`invalid-email-password`, `email-already-in-use`…) and the client's input and state errors
/// as they are; a server that cannot be reached `503`, a failing one `502`, with plain messages
/// that do not name the auth server's address.
fn auth_error(e: &AuthError) -> Refusal {
    let id = e.error.as_str();
    let (status, message) = match e.status {
        STATUS_NETWORK => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the auth server cannot be reached right now; try again in a moment",
        ),
        STATUS_VALIDATION => (StatusCode::BAD_REQUEST, e.message.as_str()),
        STATUS_STATE => {
            let status = match e.error {
                ErrorCode::UnauthenticatedUser => StatusCode::UNAUTHORIZED,
                ErrorCode::UserNotAnonymous => StatusCode::BAD_REQUEST,
                _ => StatusCode::CONFLICT,
            };
            (status, e.message.as_str())
        }
        429 => (StatusCode::TOO_MANY_REQUESTS, e.message.as_str()),
        500..=599 => (
            StatusCode::BAD_GATEWAY,
            "the auth server failed; try again in a moment",
        ),
        400..=499 if !matches!(e.error, ErrorCode::Other(_)) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            e.message.as_str(),
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "the auth server gave an unexpected answer; try again in a moment",
        ),
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "session endpoint: auth server failure");
    }
    error(status, id, message)
}
