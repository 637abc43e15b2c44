//! The server half: the site's routes around an [`NhostSessionLayer`].
//!
//! Routes:
//! - `GET /` — the page, rendered by Yew's `ServerRenderer` ([`crate::app::App`], the request's
//!   client holding its session), with the hydration data (`<script id="nhost-session">` — the
//!   public session, never the refresh token — and `<script id="page-notice">`) and, when the
//!   site has a [`Bundle`], the module script that hydrates it;
//! - `POST /auth/sign-in/anonymous`, `POST /auth/sign-out`, `POST /auth/deanonymize` (form
//!   fields `email`, `password`), `POST /auth/sign-in/magic-link` (`email`) — the forms' routes, used without JavaScript (or before the
//!   bundle has loaded): they answer `303 See Other` back to `/`;
//! - `/_nhost/*` — nhost-ssr's session endpoints, used by the hydrated page's hooks, and
//!   `GET /_nhost/callback`, where email links land (completed on the server, JavaScript or
//!   not, then `303` to `/?notice=email-link` — or `/?…&error=…&errorDescription=…`);
//! - `GET /assets/example-axum-ssr.js`, `GET /assets/example-axum-ssr_bg.wasm` — the bundle.
//!
//! State-changing requests from another origin are refused (`Sec-Fetch-Site`, else `Origin`
//! against the site's scheme, host and port), and error pages never show what the visitor
//! should not see (the auth server's address, the HTTP library's message).

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use nhost_ssr::nhost_core::{
    AuthError, DeanonymizeMethod, ErrorCode, SignUpOptions, SignUpOutcome,
};
use nhost_ssr::{NhostAuth, NhostSessionLayer, SecureCookie};
use serde::Deserialize;
use yew::ServerRenderer;

use crate::app::{App, AppProps, NOTICE_SCRIPT_ID, Notice};

/// The browser bundle: `example-axum-ssr.js` and `example-axum-ssr_bg.wasm`, as wasm-bindgen
/// (`--target web`) writes them for this crate's wasm32 build (`cargo xtask axum-ssr` does both).
/// Read into memory once: the site then serves them without touching the disk.
#[derive(Clone)]
pub struct Bundle {
    js: axum::body::Bytes,
    wasm: axum::body::Bytes,
}

impl Bundle {
    /// The JavaScript glue's name in the bundle folder.
    pub const JS: &str = "example-axum-ssr.js";
    /// The WebAssembly module's name in the bundle folder.
    pub const WASM: &str = "example-axum-ssr_bg.wasm";

    /// Reads the bundle from `dir`.
    ///
    /// # Errors
    ///
    /// When either file cannot be read, naming it.
    pub fn load(dir: &Path) -> Result<Bundle, String> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map(axum::body::Bytes::from)
                .map_err(|e| format!("cannot read the bundle's {}: {e}", path.display()))
        };
        Ok(Bundle {
            js: read(Self::JS)?,
            wasm: read(Self::WASM)?,
        })
    }
}

#[derive(Clone)]
struct Site {
    bundle: Option<Arc<Bundle>>,
}

/// The site, behind `nhost` (which keeps the session cookie) and the cross-site POST check.
/// With a `bundle` the pages load it and hydrate; without one they are the same pages, served
/// for use without JavaScript. The check takes the site's scheme from the layer's
/// [`SecureCookie`] setting, so that the cookie and the check agree on whether the site is
/// served over HTTPS.
pub fn router(nhost: NhostSessionLayer, bundle: Option<Bundle>) -> Router {
    let secure = nhost.secure_cookie();
    let site = Site {
        bundle: bundle.map(Arc::new),
    };
    Router::new()
        .route("/", get(home))
        .route("/auth/sign-in/anonymous", post(sign_in_anonymous))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/deanonymize", post(deanonymize))
        .route("/auth/sign-in/magic-link", post(magic_link))
        .route(&format!("/assets/{}", Bundle::JS), get(bundle_js))
        .route(&format!("/assets/{}", Bundle::WASM), get(bundle_wasm))
        .with_state(site)
        // Email links land on `GET /_nhost/callback`, which completes them and comes back here.
        .merge(
            nhost_ssr::SessionRoutes::new()
                .landing(format!("/?notice={LINK_NOTICE}"))
                .into_router(),
        )
        .layer(nhost)
        .layer(middleware::from_fn_with_state(secure, same_origin_posts))
}

async fn bundle_js(State(site): State<Site>) -> Response {
    asset(&site, "text/javascript", |b| b.js.clone())
}

async fn bundle_wasm(State(site): State<Site>) -> Response {
    asset(&site, "application/wasm", |b| b.wasm.clone())
}

fn asset(
    site: &Site,
    content_type: &'static str,
    body: impl Fn(&Bundle) -> axum::body::Bytes,
) -> Response {
    match &site.bundle {
        Some(bundle) => (
            [
                (header::CONTENT_TYPE, content_type),
                // Rebuilt in place while developing: always revalidate.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body(bundle),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The `notice` of the page an email link lands on.
const LINK_NOTICE: &str = "email-link";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HomeQuery {
    notice: Option<String>,
    /// A failed email link: the error id (from nhost-ssr's callback, or the auth server).
    error: Option<String>,
    error_description: Option<String>,
}

async fn home(
    State(site): State<Site>,
    auth: NhostAuth,
    query: axum::extract::Query<HomeQuery>,
) -> Response {
    let query = query.0;
    let notice = match (query.error, query.notice.as_deref()) {
        (Some(id), _) => {
            // Shown as the callback or the auth server phrased it, cut to a sane length: the
            // query is the visitor's (anyone can craft it), so it is text, never markup.
            let message: String = query
                .error_description
                .unwrap_or_else(|| "The email link could not be completed.".to_owned())
                .chars()
                .take(300)
                .collect();
            let id: String = id.chars().take(64).collect();
            Some(Notice::Error {
                error: AuthError::new(400, ErrorCode::parse(&id), message),
            })
        }
        (None, Some("check-mailbox")) => Some(Notice::CheckMailbox),
        (None, Some("deanonymized")) => Some(Notice::Deanonymized),
        (None, Some(LINK_NOTICE)) => Some(Notice::LinkCompleted),
        _ => None,
    };
    render(&site, &auth, notice, StatusCode::OK).await
}

async fn render(
    site: &Site,
    auth: &NhostAuth,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let props = AppProps {
        client: auth.client().clone(),
        notice,
    };
    let body = render_page(props, site.bundle.is_some()).await;
    // The page holds the access token (in its session script): never stored by a cache.
    (
        status,
        [(header::CACHE_CONTROL, "private, no-store")],
        Html(body),
    )
        .into_response()
}

/// Renders the whole HTML document for `props`: the app's HTML in `<body>`, its hydration data
/// in `<head>` and, with `hydrate`, the module script that loads the bundle.
pub async fn render_page(props: AppProps, hydrate: bool) -> String {
    let session = props.client.session();
    let notice = nhost_ssr::json_script(NOTICE_SCRIPT_ID, &props.notice)
        // A notice is strings and numbers: it always serialises.
        .unwrap_or_default();
    let body = ServerRenderer::<App>::with_props(move || props)
        .render()
        .await;
    let script = if hydrate {
        format!(
            "<script type=\"module\">import init from \"/assets/{}\";init();</script>",
            Bundle::JS
        )
    } else {
        String::new()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>nhost-rs · axum SSR</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         dt{{font-weight:bold}}form{{margin:1rem 0}}.error{{color:#b00}}</style>\
         {session_script}{notice}{script}</head><body>{body}</body></html>",
        session_script = nhost_ssr::session_script(session.as_ref()),
    )
}

/// A failed action: the page again, with the error, and a status that says what went wrong.
/// The full error goes to the log; the page gets [`public_error`].
async fn failed(site: &Site, auth: &NhostAuth, error: AuthError) -> Response {
    tracing::warn!(error = %error, "action failed");
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
    let error = public_error(error);
    render(site, auth, Some(Notice::Error { error }), status).await
}

/// What a visitor may read of an error: the auth server's own words for its known 4xx
/// verdicts (`email-already-in-use`, `password-too-short`…) and nhost-core's for input and
/// state errors; for everything else — network errors (whose text names the auth server's
/// internal URL), 5xx, 429, answers from a proxy — a plain sentence.
fn public_error(error: AuthError) -> AuthError {
    let known_verdict = (400..500).contains(&error.status)
        && error.status != 429
        && !matches!(error.error, ErrorCode::Other(_));
    let from_this_client = matches!(
        error.status,
        nhost_ssr::nhost_core::STATUS_VALIDATION | nhost_ssr::nhost_core::STATUS_STATE
    );
    if known_verdict || from_this_client {
        return error;
    }
    let message = if error.is_transient() || error.status == 429 {
        "The sign-in service is not available right now. Please try again in a moment."
    } else {
        "Something went wrong on our side. Please try again."
    };
    AuthError::new(error.status, error.error, message)
}

async fn sign_in_anonymous(State(site): State<Site>, auth: NhostAuth) -> Response {
    if auth.session().is_some() {
        return Redirect::to("/").into_response();
    }
    match auth.client().sign_in_anonymous(Default::default()).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => failed(&site, &auth, e).await,
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

async fn deanonymize(
    State(site): State<Site>,
    auth: NhostAuth,
    Form(form): Form<DeanonymizeForm>,
) -> Response {
    let method = DeanonymizeMethod::EmailPassword {
        email: form.email.trim().to_owned(),
        password: form.password,
    };
    // When the server wants the email verified, its link leads to nhost-ssr's callback, which
    // completes it with the PKCE verifier the layer keeps in a sealed cookie.
    let options = auth
        .site_origin()
        .map(|origin| SignUpOptions::default().redirect_to(format!("{origin}/_nhost/callback")));
    match auth.client().deanonymize(method, options).await {
        Ok(SignUpOutcome::SignedIn(_)) => Redirect::to("/?notice=deanonymized").into_response(),
        Ok(SignUpOutcome::EmailVerificationRequired) => {
            Redirect::to("/?notice=check-mailbox").into_response()
        }
        Err(e) => failed(&site, &auth, e).await,
    }
}

#[derive(Deserialize)]
struct MagicLinkForm {
    #[serde(default)]
    email: String,
}

/// Emails a sign-in link (PKCE: the layer keeps the verifier in a sealed cookie) leading to
/// nhost-ssr's callback, then shows "check your mailbox".
async fn magic_link(
    State(site): State<Site>,
    auth: NhostAuth,
    Form(form): Form<MagicLinkForm>,
) -> Response {
    if auth.session().is_some() {
        return Redirect::to("/").into_response();
    }
    let options = auth
        .site_origin()
        .map(|origin| SignUpOptions::default().redirect_to(format!("{origin}/_nhost/callback")));
    match auth
        .client()
        .sign_in_passwordless_email(form.email.trim(), options)
        .await
    {
        Ok(()) => Redirect::to("/?notice=check-mailbox").into_response(),
        Err(e) => failed(&site, &auth, e).await,
    }
}

/// Refuses state-changing requests from another origin — the second lock after the
/// `SameSite=Lax` cookie, the rule of Go's `http.CrossOriginProtection`:
/// 1. `Sec-Fetch-Site` (sent by every current browser, and not settable by a page) decides when
///    present: `same-origin` or `none` (the user's own navigation) pass, anything else —
///    `cross-site`, `same-site` (a sibling subdomain is another origin) — is refused;
/// 2. else an `Origin` must equal the site's origin: scheme (from the layer's [`SecureCookie`]
///    setting), host and port (from `Host`);
/// 3. else (no browser headers: curl, old clients) the request passes.
async fn same_origin_posts(
    State(secure): State<SecureCookie>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(request.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if !safe && !is_same_origin(request.headers(), request.uri(), secure) {
        return (
            StatusCode::FORBIDDEN,
            "cross-site request refused: this form may only be sent from this site",
        )
            .into_response();
    }
    next.run(request).await
}

/// [`nhost_ssr::is_same_origin`], plus `Sec-Fetch-Site: none`: a form the user submits on a page
/// they opened by typing its address.
fn is_same_origin(headers: &HeaderMap, uri: &Uri, secure: SecureCookie) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"none")
        || nhost_ssr::is_same_origin(headers, uri, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], https: bool) -> bool {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            h.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        let secure = if https {
            SecureCookie::Always
        } else {
            SecureCookie::PlainHttpDevelopment
        };
        is_same_origin(&h, &Uri::from_static("/"), secure)
    }

    #[test]
    fn origin_rules() {
        let host = ("host", "localhost:3000");
        assert!(check(&[host], false), "no browser headers: curl");
        assert!(check(&[host, ("origin", "http://localhost:3000")], false));
        assert!(check(&[host, ("origin", "http://LOCALHOST:3000")], false));
        assert!(
            !check(&[host, ("origin", "https://localhost:3000")], false),
            "scheme"
        );
        assert!(
            !check(&[host, ("origin", "http://localhost:3000")], true),
            "scheme"
        );
        assert!(
            !check(&[host, ("origin", "http://localhost:3001")], false),
            "port"
        );
        assert!(
            !check(&[host, ("origin", "http://localhost")], false),
            "default port"
        );
        assert!(!check(&[host, ("origin", "null")], false));
        assert!(!check(&[host, ("origin", "http://evil.com")], false));
        assert!(
            !check(&[("origin", "http://localhost:3000")], false),
            "no Host"
        );
        let https = ("host", "example.com");
        assert!(check(&[https, ("origin", "https://example.com")], true));
        assert!(check(&[https, ("origin", "https://example.com:443")], true));
        assert!(check(
            &[
                ("host", "example.com:443"),
                ("origin", "https://example.com")
            ],
            true
        ));
        assert!(!check(&[https, ("origin", "https://a.example.com")], true));
        // Sec-Fetch-Site decides when present.
        assert!(!check(&[host, ("sec-fetch-site", "cross-site")], false));
        assert!(!check(&[host, ("sec-fetch-site", "same-site")], false));
        assert!(check(&[host, ("sec-fetch-site", "same-origin")], false));
        assert!(check(&[host, ("sec-fetch-site", "none")], false));
        assert!(!check(
            &[
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://localhost:3000")
            ],
            false
        ));
    }

    #[test]
    fn error_pages_keep_internal_details_out() {
        let network = AuthError::network(
            "error sending request for url (http://10.0.0.7:4000/signin/anonymous)",
        );
        let shown = public_error(network);
        assert!(!shown.message.contains("10.0.0.7"), "{}", shown.message);
        assert_eq!(shown.status, 0);
        let proxy = AuthError::from_response(403, "<html>nginx internal-host-7</html>");
        assert!(!public_error(proxy).message.contains("nginx"));
        let verdict = AuthError::from_response(
            409,
            r#"{"status":409,"error":"email-already-in-use","message":"Email already in use"}"#,
        );
        assert_eq!(public_error(verdict).message, "Email already in use");
    }
}
