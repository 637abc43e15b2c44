//! The wire: request and response JSON of the Nhost Auth protocol, and the HTTP transport.
//!
//! Everything camelCase lives here and nowhere else; the rest of the crate sees domain types.

use std::time::Duration;

use futures_util::future::{Either, select};
#[cfg(not(target_arch = "wasm32"))]
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, ErrorCode, STATUS_OTHER};
use crate::options::SignUpOptions;
use crate::platform;
use crate::session::User;

/// `Session` as the server sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionWire {
    pub(crate) access_token: String,
    pub(crate) access_token_expires_in: u64,
    pub(crate) refresh_token: String,
    #[serde(default, deserialize_with = "crate::session::lenient")]
    pub(crate) refresh_token_id: Option<String>,
    /// A user that cannot be read is left out rather than losing the (already rotated) session.
    #[serde(default, deserialize_with = "crate::session::lenient")]
    pub(crate) user: Option<User>,
}

/// `{"session": Session}`; `session` is absent (or null on older servers) when the user must
/// verify their email first, and `mfa` is set when a second factor is needed.
#[derive(Deserialize)]
pub(crate) struct SessionPayload {
    #[serde(default)]
    pub(crate) session: Option<SessionWire>,
    #[serde(default)]
    pub(crate) mfa: Option<serde_json::Value>,
}

/// A session endpoint's `PublicSession` (server-session mode): the access token, the seconds it
/// has left, the user — never a refresh token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PublicSessionWire {
    pub(crate) access_token: String,
    pub(crate) access_token_expires_in: u64,
    #[serde(default, deserialize_with = "crate::session::lenient")]
    pub(crate) user: Option<User>,
}

/// `{"session": PublicSession | null}`: every answer of the session endpoints.
#[derive(Deserialize)]
pub(crate) struct PublicPayload {
    #[serde(default)]
    pub(crate) session: Option<PublicSessionWire>,
}

/// The body of `POST {session endpoints}/signout`: the server knows the refresh token.
#[cfg(feature = "server-session")]
#[derive(Serialize)]
pub(crate) struct SessionSignOutRequest {
    pub(crate) all: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshTokenRequest<'a> {
    pub(crate) refresh_token: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignOutRequest<'a> {
    pub(crate) refresh_token: &'a str,
    pub(crate) all: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailPasswordRequest<'a> {
    pub(crate) email: &'a str,
    pub(crate) password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) options: Option<&'a SignUpOptions>,
    /// PKCE: the S256 challenge of the verifier this client keeps (sign-up only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code_challenge: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordlessEmailRequest<'a> {
    pub(crate) email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) options: Option<&'a SignUpOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code_challenge: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeanonymizeRequest<'a> {
    pub(crate) sign_in_method: &'static str,
    pub(crate) email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) options: Option<&'a SignUpOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code_challenge: Option<&'a str>,
}

/// `POST /token/exchange`: a PKCE link's one-time code and the verifier of its challenge.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenExchangeRequest<'a> {
    pub(crate) code: &'a str,
    pub(crate) code_verifier: &'a str,
}

/// A request body: serde on native; in the browser the hand mapping of `json.rs`, written by
/// the engine's `JSON.stringify` (see `js.rs`).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) trait Body: Serialize {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Serialize> Body for T {}
/// A request body: serde on native; in the browser the hand mapping of `json.rs`, written by
/// the engine's `JSON.stringify` (see `js.rs`).
#[cfg(target_arch = "wasm32")]
pub(crate) use crate::json::ToJson as Body;

/// A response body: serde on native; in the browser the hand mapping of `json.rs`, read by the
/// engine's `JSON.parse`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) trait Decode: DeserializeOwned {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: DeserializeOwned> Decode for T {}
/// A response body: serde on native; in the browser the hand mapping of `json.rs`, read by the
/// engine's `JSON.parse`.
#[cfg(target_arch = "wasm32")]
pub(crate) use crate::json::FromJson as Decode;

/// Encodes a request body.
#[cfg(not(target_arch = "wasm32"))]
fn encode<B: Body + ?Sized>(body: &B) -> Result<String, AuthError> {
    serde_json::to_string(body).map_err(|e| {
        AuthError::new(
            STATUS_OTHER,
            ErrorCode::InvalidRequest,
            format!("cannot encode the request: {e}"),
        )
    })
}

/// Encodes a request body.
#[cfg(target_arch = "wasm32")]
fn encode<B: Body + ?Sized>(body: &B) -> Result<String, AuthError> {
    Ok(crate::js::stringify(&body.to_json()))
}

/// Decodes a success body, or says why it cannot (keeping the body for debugging).
pub(crate) fn decode<R: Decode>(body: String) -> Result<R, AuthError> {
    #[cfg(not(target_arch = "wasm32"))]
    let decoded = serde_json::from_str(&body).map_err(|e| e.to_string());
    #[cfg(target_arch = "wasm32")]
    let decoded = crate::js::parse(&body).and_then(|v| R::from_json(&v));
    decoded.map_err(|e| {
        let mut err = AuthError::new(
            STATUS_OTHER,
            ErrorCode::InvalidResponse,
            format!("the auth server's answer could not be read: {e}"),
        );
        err.raw_body = Some(body.chars().take(2048).collect());
        err
    })
}

/// The HTTP client underneath: `reqwest` on native; on wasm32 the browser's `fetch` directly
/// (reqwest there would cost about 100 KB of gzipped bundle for the same `fetch` call).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type HttpClient = reqwest::Client;
/// The HTTP client underneath: the browser's `fetch`.
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Default)]
pub(crate) struct HttpClient;

/// The anti-forgery header of the site's session endpoints (server-session mode), sent with the
/// value `1` on every request there: a header no cross-site form can send.
pub(crate) const CSRF_HEADER: &str = "X-Nhost-CSRF";

/// HTTP to one auth server — or, in server-session mode, to the site's session endpoints — with
/// one timeout for every request.
#[derive(Clone)]
pub(crate) struct Transport {
    http: HttpClient,
    base: String,
    timeout: Duration,
    /// Server-session mode: every request carries [`CSRF_HEADER`] and, in the browser,
    /// `credentials: "same-origin"` (the sealed session cookie goes along).
    session_endpoints: bool,
}

impl Transport {
    pub(crate) fn new(
        http: HttpClient,
        base: String,
        timeout: Duration,
        session_endpoints: bool,
    ) -> Self {
        Transport {
            http,
            base,
            timeout,
            session_endpoints,
        }
    }

    /// Whether this transport talks to the site's session endpoints (server-session mode).
    /// Always `false` without the crate feature `server-session`, so that the optimiser drops
    /// the mode's branches from a single-page app's bundle.
    pub(crate) fn is_session_endpoints(&self) -> bool {
        cfg!(feature = "server-session") && self.session_endpoints
    }

    /// `POST {base}{path}` without a body (a session endpoint's `/token`).
    #[cfg(feature = "server-session")]
    pub(crate) async fn post_empty<R: Decode>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<R, AuthError> {
        decode(self.send("POST", path, None, None, timeout).await?)
    }

    /// `GET {base}{path}` without a bearer token (a session endpoint's `/session`).
    #[cfg(feature = "server-session")]
    pub(crate) async fn get_plain<R: Decode>(&self, path: &str) -> Result<R, AuthError> {
        decode(self.send("GET", path, None, None, self.timeout).await?)
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `POST {base}{path}` with a JSON body; decodes a JSON success or an [`AuthError`].
    pub(crate) async fn post<B: Body + ?Sized, R: Decode>(
        &self,
        path: &str,
        body: &B,
        bearer: Option<&str>,
    ) -> Result<R, AuthError> {
        self.post_within(path, body, bearer, self.timeout).await
    }

    /// [`post`](Self::post) with its own timeout (a refresh flight outlives its callers' patience,
    /// see `client.rs`).
    pub(crate) async fn post_within<B: Body + ?Sized, R: Decode>(
        &self,
        path: &str,
        body: &B,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<R, AuthError> {
        let body = encode(body)?;
        decode(self.send("POST", path, Some(body), bearer, timeout).await?)
    }

    /// The timeout of each request.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET {base}{path}` with a bearer token.
    pub(crate) async fn get<R: Decode>(&self, path: &str, bearer: &str) -> Result<R, AuthError> {
        decode(
            self.send("GET", path, None, Some(bearer), self.timeout)
                .await?,
        )
    }

    /// One request; the body of a 2xx answer, or the [`AuthError`] of any other. Not generic,
    /// so that it exists once in the binary.
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<String>,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<String, AuthError> {
        let url = format!("{}{path}", self.base);
        // The timeout is a race with a platform timer, so it works the same on native and in the
        // browser (where dropping the request future abandons the fetch).
        let exchange = Box::pin(exchange(
            &self.http,
            method,
            &url,
            body,
            bearer,
            self.is_session_endpoints(),
        ));
        let timer = Box::pin(platform::sleep(timeout));
        let (status, body) = match select(exchange, timer).await {
            Either::Left((result, _)) => result?,
            Either::Right(_) => {
                return Err(AuthError::network(format!(
                    "the auth server did not answer within {} s",
                    seconds(timeout)
                )));
            }
        };
        if !(200..300).contains(&status) {
            return Err(AuthError::from_response(status, &body));
        }
        Ok(body)
    }
}

/// A duration in seconds, for messages: `10`, `0.5`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn seconds(d: Duration) -> f32 {
    d.as_secs_f32()
}

/// A duration in seconds, for messages: `10`, `0.5` — to the millisecond, without the float
/// formatting machinery (several KB of wasm).
#[cfg(target_arch = "wasm32")]
pub(crate) fn seconds(d: Duration) -> String {
    let fraction = format!("{:03}", d.subsec_millis());
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{}", d.as_secs())
    } else {
        format!("{}.{fraction}", d.as_secs())
    }
}

/// One request and its whole answer: `(status, body)`.
#[cfg(not(target_arch = "wasm32"))]
async fn exchange(
    http: &HttpClient,
    method: &'static str,
    url: &str,
    body: Option<String>,
    bearer: Option<&str>,
    session_endpoints: bool,
) -> Result<(u16, String), AuthError> {
    let mut req = match method {
        "GET" => http.get(url),
        _ => http.post(url),
    };
    if let Some(body) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if session_endpoints {
        // The session cookie is the `reqwest::Client`'s business (its cookie store): natively
        // there is no page whose cookies would go along.
        req = req.header(CSRF_HEADER, "1");
    }
    let res = req.send().await.map_err(network_error)?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(network_error)?;
    Ok((status, text))
}

/// One request and its whole answer: `(status, body)`, through the browser's `fetch`.
#[cfg(target_arch = "wasm32")]
async fn exchange(
    _http: &HttpClient,
    method: &'static str,
    url: &str,
    body: Option<String>,
    bearer: Option<&str>,
    session_endpoints: bool,
) -> Result<(u16, String), AuthError> {
    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_futures::JsFuture;

    // The browser says little about why a fetch failed (CORS, DNS, refused): keep what it says.
    let failed = |what: &str, e: JsValue| {
        AuthError::network(format!(
            "{what}: {}",
            e.as_string().unwrap_or_else(|| format!("{e:?}"))
        ))
    };
    let headers = web_sys::Headers::new().map_err(|e| failed("cannot build headers", e))?;
    if body.is_some() {
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| failed("bad header", e))?;
    }
    if let Some(token) = bearer {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(|e| failed("bad header", e))?;
    }
    if session_endpoints {
        headers
            .set(CSRF_HEADER, "1")
            .map_err(|e| failed("bad header", e))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if session_endpoints {
        // The sealed session cookie goes with requests to the page's own origin, never elsewhere.
        init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    }
    init.set_headers(&headers);
    if let Some(body) = &body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|e| failed("the request to the auth server failed", e))?;
    let window =
        web_sys::window().ok_or_else(|| AuthError::network("no browser window to fetch from"))?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| failed("could not reach the auth server", e))?
        .dyn_into()
        .map_err(|e| failed("fetch did not return a Response", e))?;
    let status = response.status();
    let text = response
        .text()
        .map_err(|e| failed("cannot read the answer", e))?;
    let text = JsFuture::from(text)
        .await
        .map_err(|e| failed("cannot read the answer", e))?;
    Ok((status, text.as_string().unwrap_or_default()))
}

#[cfg(not(target_arch = "wasm32"))]
fn network_error(e: reqwest::Error) -> AuthError {
    // reqwest's messages name the URL but never the body or headers, so no token leaks here.
    let what = if e.is_connect() {
        "could not connect to the auth server"
    } else if e.is_timeout() {
        "the auth server did not answer in time"
    } else {
        "the request to the auth server failed"
    };
    AuthError::network(format!("{what}: {e}"))
}
