//! The axum SSR example as a library: [`router`] builds the whole site around an
//! [`NhostSessionLayer`], so the binary (`main.rs`) and the tests serve the same thing.
//!
//! Routes: `GET /` (the page, rendered by Yew's `ServerRenderer` with `nhost-yew`'s provider
//! seeded with the request's session), `POST /auth/sign-in/anonymous`, `POST /auth/sign-out`,
//! `POST /auth/deanonymize` (form fields `email`, `password`). Every page works without
//! JavaScript; state-changing POSTs from another origin are refused.

mod pages;

use axum::Router;
use axum::extract::{Form, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use nhost_ssr::nhost_core::{AuthError, DeanonymizeMethod, SignUpOutcome};
use nhost_ssr::{NhostAuth, NhostSessionLayer};
use serde::Deserialize;

pub use pages::{Notice, PageProps, render as render_page};

/// The site, behind `nhost` (which keeps the session cookie) and the cross-site POST check.
pub fn router(nhost: NhostSessionLayer) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/auth/sign-in/anonymous", post(sign_in_anonymous))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/deanonymize", post(deanonymize))
        .layer(nhost)
        .layer(middleware::from_fn(same_origin_posts))
}

#[derive(Deserialize)]
struct HomeQuery {
    notice: Option<String>,
}

async fn home(auth: NhostAuth, query: axum::extract::Query<HomeQuery>) -> Response {
    let notice = match query.notice.as_deref() {
        Some("check-mailbox") => Some(Notice::CheckMailbox),
        Some("deanonymized") => Some(Notice::Deanonymized),
        _ => None,
    };
    render(&auth, notice, StatusCode::OK).await
}

async fn render(auth: &NhostAuth, notice: Option<Notice>, status: StatusCode) -> Response {
    let props = PageProps {
        client: auth.client().clone(),
        session: auth.client().session(),
        notice,
    };
    let body = render_page(props).await;
    (status, Html(body)).into_response()
}

/// A failed action: the page again, with the error, and a status that says what went wrong.
async fn failed(auth: &NhostAuth, error: AuthError) -> Response {
    let status = StatusCode::from_u16(error.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .map(|s| {
            // The auth server failing is a bad gateway here, not our own 5xx.
            if s.is_server_error() {
                StatusCode::BAD_GATEWAY
            } else {
                s
            }
        })
        .unwrap_or(if error.is_transient() {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::BAD_REQUEST
        });
    render(auth, Some(Notice::Error(error)), status).await
}

async fn sign_in_anonymous(auth: NhostAuth) -> Response {
    if auth.session().is_some() {
        return Redirect::to("/").into_response();
    }
    match auth.client().sign_in_anonymous(Default::default()).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => failed(&auth, e).await,
    }
}

async fn sign_out(auth: NhostAuth) -> Response {
    // Signed out locally — cookie cleared — even when the server cannot be told.
    let _ = auth.client().sign_out(Default::default()).await;
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
struct DeanonymizeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn deanonymize(auth: NhostAuth, Form(form): Form<DeanonymizeForm>) -> Response {
    let method = DeanonymizeMethod::EmailPassword {
        email: form.email.trim().to_owned(),
        password: form.password,
    };
    match auth.client().deanonymize(method, None).await {
        Ok(SignUpOutcome::SignedIn(_)) => Redirect::to("/?notice=deanonymized").into_response(),
        Ok(SignUpOutcome::EmailVerificationRequired) => {
            Redirect::to("/?notice=check-mailbox").into_response()
        }
        Err(e) => failed(&auth, e).await,
    }
}

/// Refuses state-changing requests whose `Origin` is another site (the `SameSite=Lax` cookie
/// already keeps it out of cross-site POSTs; this is the second lock). Requests without an
/// `Origin` header — curl, old clients — pass.
async fn same_origin_posts(request: Request, next: Next) -> Response {
    let safe = matches!(request.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if !safe && !origin_matches_host(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "cross-site request refused: the Origin header does not match this site",
        )
            .into_response();
    }
    next.run(request).await
}

fn origin_matches_host(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_rules() {
        let check = |origin: Option<&str>, host: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().expect("header"));
            }
            if let Some(v) = host {
                h.insert(header::HOST, v.parse().expect("header"));
            }
            origin_matches_host(&h)
        };
        assert!(check(None, Some("localhost:3000")));
        assert!(check(Some("http://localhost:3000"), Some("localhost:3000")));
        assert!(check(Some("https://Example.com"), Some("example.com")));
        assert!(!check(Some("https://evil.com"), Some("example.com")));
        assert!(!check(Some("null"), Some("example.com")));
        assert!(!check(
            Some("http://localhost:3001"),
            Some("localhost:3000")
        ));
        assert!(!check(Some("http://example.com"), None));
    }
}
