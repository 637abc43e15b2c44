//! Extractors: [`Session`] (and `Option<Session>`) to read the request's session, [`NhostAuth`]
//! to act on it.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use nhost_core::NhostClient;

use crate::layer::{RequestAuth, site_origin};

/// The request's session, authentic and fresh: the extractor rejects with `401` when there is
/// none. Use `Option<Session>` for pages that render for everyone.
///
/// It derefs to [`nhost_core::Session`] and shares the session the layer opened (an [`Arc`]):
/// extracting it copies nothing, whatever the session's size.
///
/// ```
/// use nhost_ssr::Session;
///
/// async fn me(session: Session) -> String {
///     session.user_id().unwrap_or_default().to_owned()
/// }
///
/// async fn home(session: Option<Session>) -> &'static str {
///     if session.is_some() { "welcome back" } else { "hello, stranger" }
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Session(Arc<nhost_core::Session>);

impl Session {
    /// The session, shared.
    pub fn shared(&self) -> &Arc<nhost_core::Session> {
        &self.0
    }

    /// The session itself: a copy, unless this was its last handle.
    pub fn into_inner(self) -> nhost_core::Session {
        Arc::unwrap_or_clone(self.0)
    }
}

impl Deref for Session {
    type Target = nhost_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl AsRef<nhost_core::Session> for Session {
    fn as_ref(&self) -> &nhost_core::Session {
        &self.0
    }
}

impl From<nhost_core::Session> for Session {
    fn from(session: nhost_core::Session) -> Self {
        Session(Arc::new(session))
    }
}

impl From<Arc<nhost_core::Session>> for Session {
    fn from(session: Arc<nhost_core::Session>) -> Self {
        Session(session)
    }
}

impl From<Session> for nhost_core::Session {
    fn from(session: Session) -> Self {
        session.into_inner()
    }
}

impl From<Session> for Arc<nhost_core::Session> {
    fn from(session: Session) -> Self {
        session.0
    }
}

/// Why an extractor failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The request has no session (`401`).
    #[error("not signed in")]
    SignedOut,
    /// The route is not behind [`NhostSessionLayer`](crate::NhostSessionLayer) (`500`: a
    /// programming error, like axum's missing `Extension`).
    #[error(
        "nhost-ssr: the route is not behind NhostSessionLayer; add `.layer(nhost_layer)` to the router"
    )]
    MissingLayer,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let status = match self {
            SessionRejection::SignedOut => StatusCode::UNAUTHORIZED,
            SessionRejection::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, self.to_string()).into_response()
    }
}

fn request_auth(parts: &Parts) -> Result<&Arc<RequestAuth>, SessionRejection> {
    parts
        .extensions
        .get::<Arc<RequestAuth>>()
        .ok_or(SessionRejection::MissingLayer)
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        request_auth(parts)?
            .session
            .clone()
            .map(Session)
            .ok_or(SessionRejection::SignedOut)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(request_auth(parts)?.session.clone().map(Session))
    }
}

/// The request's auth: its session and a client seeded with it. Whatever the handler does with
/// the client — sign in, sign out, deanonymize — the layer writes to the cookie afterwards.
///
/// ```
/// use axum::response::Redirect;
/// use nhost_ssr::NhostAuth;
///
/// async fn sign_in_anonymously(auth: NhostAuth) -> Result<Redirect, String> {
///     auth.client()
///         .sign_in_anonymous(Default::default())
///         .await
///         .map_err(|e| e.message)?;
///     Ok(Redirect::to("/")) // the response sets the session cookie
/// }
///
/// async fn sign_out(auth: NhostAuth) -> Redirect {
///     // Signed out locally (cookie cleared) even when the server cannot be told.
///     let _ = auth.client().sign_out(Default::default()).await;
///     Redirect::to("/")
/// }
/// ```
#[derive(Clone)]
pub struct NhostAuth {
    auth: Arc<RequestAuth>,
    /// The request's `Host`, as the handler sees it, for [`site_origin`](Self::site_origin):
    /// taken here rather than by the layer, on every request, since few handlers ask.
    host: Option<HeaderValue>,
    site_origin: OnceLock<Option<String>>,
}

impl std::fmt::Debug for NhostAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NhostAuth")
            .field("session", &self.auth.session)
            .finish_non_exhaustive()
    }
}

impl NhostAuth {
    /// The session the request arrived with (after any refresh by the layer).
    pub fn session(&self) -> Option<&nhost_core::Session> {
        self.auth.session.as_deref()
    }

    /// A client for this request, seeded with its session, sharing the layer's HTTP client. It
    /// does not refresh on its own: the layer already did.
    pub fn client(&self) -> &NhostClient {
        self.auth.client()
    }

    /// The site's origin as this request reached it — `https://` or `http://` per the layer's
    /// [`SecureCookie`](crate::SecureCookie) setting, then the `Host` header — e.g. to build the
    /// `redirectTo` of an email link. `None` without a valid `Host`.
    pub fn site_origin(&self) -> Option<&str> {
        self.site_origin
            .get_or_init(|| site_origin(self.auth.is_https(), self.host.as_ref()))
            .as_deref()
    }

    /// Completes the email link whose landing address is `url` (the request's URI), with the
    /// PKCE verifier the layer kept in a sealed cookie when the link was asked for through it:
    /// the new session replaces the request's and goes into the session cookie; a failure
    /// changes nothing. `Ok(false)` when `url` carries no link. [`session_routes`]'s
    /// `GET /_nhost/callback` does this; call it for a callback route of your own.
    ///
    /// [`session_routes`]: crate::session_routes
    ///
    /// # Errors
    ///
    /// As `NhostClient::complete_email_link`: the link's own error, no verifier (another
    /// browser), a used or expired code.
    pub async fn complete_email_link(&self, url: &str) -> Result<bool, nhost_core::AuthError> {
        self.auth.complete_email_link(url).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NhostAuth {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(NhostAuth {
            auth: request_auth(parts)?.clone(),
            host: parts.headers.get(http::header::HOST).cloned(),
            site_origin: OnceLock::new(),
        })
    }
}
