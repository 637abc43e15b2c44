//! The wire: request and response JSON of the Nhost Auth protocol, and the HTTP transport.
//!
//! Everything camelCase lives here and nowhere else; the rest of the crate sees domain types.

use std::time::Duration;

use futures_util::future::{Either, select};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, ErrorCode, STATUS_OTHER};
use crate::platform;
use crate::session::User;

/// `Session` as the server sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionWire {
    pub(crate) access_token: String,
    pub(crate) access_token_expires_in: u64,
    pub(crate) refresh_token: String,
    #[serde(default)]
    pub(crate) refresh_token_id: Option<String>,
    #[serde(default)]
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
pub(crate) struct EmailPasswordRequest<'a, O: Serialize> {
    pub(crate) email: &'a str,
    pub(crate) password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) options: Option<&'a O>,
}

#[derive(Serialize)]
pub(crate) struct PasswordlessEmailRequest<'a, O: Serialize> {
    pub(crate) email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) options: Option<&'a O>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeanonymizeRequest<'a, O: Serialize> {
    pub(crate) sign_in_method: &'static str,
    pub(crate) email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) options: Option<&'a O>,
}

/// HTTP to one auth server, with one timeout for every request.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl Transport {
    pub(crate) fn new(http: reqwest::Client, base: String, timeout: Duration) -> Self {
        Transport {
            http,
            base,
            timeout,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `POST {base}{path}` with a JSON body; decodes a JSON success or an [`AuthError`].
    pub(crate) async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        bearer: Option<&str>,
    ) -> Result<R, AuthError> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// `GET {base}{path}` with a bearer token.
    pub(crate) async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        bearer: &str,
    ) -> Result<R, AuthError> {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(bearer),
        )
        .await
    }

    async fn send<R: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<R, AuthError> {
        // The timeout is a race with a platform timer, so it works the same on native and in the
        // browser (where dropping the request future abandons the fetch).
        let exchange = Box::pin(async {
            let res = req.send().await.map_err(network_error)?;
            let status = res.status().as_u16();
            let body = res.text().await.map_err(network_error)?;
            Ok::<_, AuthError>((status, body))
        });
        let timer = Box::pin(platform::sleep(self.timeout));
        let (status, body) = match select(exchange, timer).await {
            Either::Left((result, _)) => result?,
            Either::Right(_) => {
                return Err(AuthError::network(format!(
                    "the auth server did not answer within {} s",
                    self.timeout.as_secs_f32()
                )));
            }
        };
        if !(200..300).contains(&status) {
            return Err(AuthError::from_response(status, &body));
        }
        serde_json::from_str(&body).map_err(|e| {
            let mut err = AuthError::new(
                STATUS_OTHER,
                ErrorCode::InvalidResponse,
                format!("the auth server's answer could not be read: {e}"),
            );
            err.raw_body = Some(body.chars().take(2048).collect());
            err
        })
    }
}

fn network_error(e: reqwest::Error) -> AuthError {
    // reqwest's messages name the URL but never the body or headers, so no token leaks here.
    #[cfg(not(target_arch = "wasm32"))]
    let connect = e.is_connect();
    // The browser's fetch does not say why it failed.
    #[cfg(target_arch = "wasm32")]
    let connect = false;
    let what = if connect {
        "could not connect to the auth server"
    } else if e.is_timeout() {
        "the auth server did not answer in time"
    } else {
        "the request to the auth server failed"
    };
    AuthError::network(format!("{what}: {e}"))
}
