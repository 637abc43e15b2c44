//! The HTTP surface: one module per group of endpoints, plus what they share.

mod email;
mod emulator;
mod session;
mod system;
mod user;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Deserialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::error::ApiError;
use crate::guards;
use crate::jwt::TokenSubject;
use crate::mailbox::Email;
use crate::state::AppState;
use crate::store::{NewRefreshToken, UserRow, now};
use crate::tokens::{new_refresh_token, new_row_id};
use crate::wire::SessionJson;

/// Builds the whole application: protocol routes under the prefix, emulator routes under `/_emulator`.
pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/signin/anonymous", post(session::sign_in_anonymous))
        .route("/token", post(session::refresh_token))
        .route("/token/verify", post(session::verify_token))
        .route("/signout", post(session::sign_out))
        .route("/user", get(user::get_user))
        .route("/user/deanonymize", post(user::deanonymize))
        .route(
            "/signup/email-password",
            post(email::sign_up_email_password),
        )
        .route(
            "/signin/email-password",
            post(email::sign_in_email_password),
        )
        .route(
            "/signin/passwordless/email",
            post(email::sign_in_passwordless_email),
        )
        .route("/verify", get(email::verify))
        .route("/token/exchange", post(email::token_exchange))
        .route("/healthz", get(system::healthz).head(system::healthz_head))
        .route("/version", get(system::version))
        .route("/.well-known/jwks.json", get(system::jwks))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });

    let mut app = if state.prefix.is_empty() {
        api
    } else {
        Router::new().nest(&state.prefix, api)
    };
    if state.serve_emulator_routes {
        app = app.nest(
            "/_emulator",
            emulator::router().layer(middleware::from_fn(guards::guard_emulator_routes)),
        );
    }
    app.fallback(|| async { ApiError::route_not_found() })
        .layer(middleware::from_fn_with_state(state.clone(), crate::rate_limit::limit))
        .layer(middleware::from_fn(cors))
        // Outside CORS: a request for a foreign Host gets no CORS grant either.
        .layer(middleware::from_fn_with_state(
            state.allowed_hosts.clone(),
            guards::check_host,
        ))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal().into_response()))
        // Spans name the path only: query strings (`/verify?ticket=…`) are secrets.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// CORS the way hasura-auth does it: echo the `Origin`, allow credentials, answer preflights with
/// 204 — on the protocol routes only. The emulator-only routes get none: no other origin may
/// read them (see `guards`).
async fn cors(req: Request, next: Next) -> Response {
    if guards::is_emulator_path(req.uri().path()) {
        return next.run(req).await;
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let requested_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut res = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            requested_headers
                .unwrap_or_else(|| HeaderValue::from_static("Authorization, Content-Type")),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    res
}

/// Creates a refresh token for `user` and signs an access token: a new session.
pub(crate) async fn new_session(state: &AppState, user: UserRow) -> Result<SessionJson, ApiError> {
    let (token, hash) = new_refresh_token();
    let refresh = NewRefreshToken {
        id: new_row_id(),
        hash,
        expires_at: refresh_expiry(state),
    };
    state.store.insert_refresh_token(user.id, &refresh).await?;
    session_json(state, user, token, refresh.id)
}

/// When a refresh token issued or rotated now expires.
pub(crate) fn refresh_expiry(state: &AppState) -> DateTime<Utc> {
    let ttl = chrono::Duration::from_std(state.config.refresh_token_expires_in)
        .unwrap_or(chrono::Duration::MAX);
    now()
        .checked_add_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Signs the access token and assembles the `Session` JSON.
pub(crate) fn session_json(
    state: &AppState,
    user: UserRow,
    refresh_token: Uuid,
    refresh_token_id: Uuid,
) -> Result<SessionJson, ApiError> {
    let ttl = state.config.access_token_expires_in.as_secs();
    let iat = Utc::now().timestamp();
    let subject = TokenSubject {
        user_id: user.id,
        default_role: &user.default_role,
        roles: &user.roles,
        is_anonymous: user.is_anonymous,
    };
    let access_token = state
        .config
        .jwt_secret
        .sign(&subject, iat, iat.saturating_add(ttl as i64))
        .map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            ApiError::internal()
        })?;
    Ok(SessionJson {
        access_token,
        access_token_expires_in: ttl,
        refresh_token: refresh_token.to_string(),
        refresh_token_id: refresh_token_id.to_string(),
        user: user.into(),
    })
}

/// `SignUpOptions` of the spec.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SignUpOptions {
    allowed_roles: Option<Vec<String>>,
    default_role: Option<String>,
    display_name: Option<String>,
    locale: Option<String>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    redirect_to: Option<String>,
}

/// Options after validation, with the server's defaults filled in.
pub(crate) struct ResolvedOptions {
    pub(crate) allowed_roles: Vec<String>,
    pub(crate) default_role: String,
    pub(crate) display_name: String,
    pub(crate) locale: String,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) redirect_to: String,
}

impl SignUpOptions {
    /// Validates against the spec and the server's settings; `email` is the display name default.
    pub(crate) fn resolve(
        self,
        state: &AppState,
        email: &str,
    ) -> Result<ResolvedOptions, ApiError> {
        let c = &state.config;
        if let Some(name) = &self.display_name {
            check_display_name(name)?;
        }
        if let Some(locale) = &self.locale {
            check_locale_shape(locale)?;
            if !c.locale_allowed.iter().any(|l| l == locale) {
                return Err(ApiError::locale_not_allowed());
            }
        }
        let allowed_roles = self
            .allowed_roles
            .unwrap_or_else(|| c.user_default_allowed_roles.clone());
        if allowed_roles
            .iter()
            .any(|r| !c.user_default_allowed_roles.contains(r))
        {
            return Err(ApiError::role_not_allowed());
        }
        let default_role = self
            .default_role
            .unwrap_or_else(|| c.user_default_role.clone());
        if !allowed_roles.contains(&default_role) {
            return Err(ApiError::default_role_not_allowed());
        }
        let redirect_to = match self.redirect_to {
            Some(r) => {
                state.redirects.check(&r)?;
                r
            }
            None => c.client_url.clone(),
        };
        Ok(ResolvedOptions {
            allowed_roles,
            default_role,
            display_name: self.display_name.unwrap_or_else(|| email.to_owned()),
            locale: self.locale.unwrap_or_else(|| c.locale_default.clone()),
            metadata: self.metadata.map(serde_json::Value::Object),
            redirect_to,
        })
    }
}

/// The spec's display name rule (`SignUpOptions.displayName`): `^[\p{L}\p{N}\p{S} ,.'-]+$` and at
/// most 32 characters — letters, numbers, symbols, spaces and `,.'-`, which keeps out `&`, `/`,
/// `:`, `(` and other characters useful for injection.
pub(crate) fn check_display_name(name: &str) -> Result<(), ApiError> {
    static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[\p{L}\p{N}\p{S} ,.'-]+$").expect("the spec's pattern compiles")
    });
    if name.chars().count() > 32 || !PATTERN.is_match(name) {
        return Err(ApiError::bad_request(
            "displayName must be 1 to 32 letters, numbers, symbols, spaces or ,.'-",
        ));
    }
    Ok(())
}

/// The spec's locale rule: exactly two characters.
pub(crate) fn check_locale_shape(locale: &str) -> Result<(), ApiError> {
    if locale.chars().count() != 2 {
        return Err(ApiError::bad_request("locale must be exactly 2 characters"));
    }
    Ok(())
}

/// bcrypt reads at most 72 bytes of a password; the rest would be silently ignored.
pub(crate) const MAX_PASSWORD_BYTES: usize = 72;

/// The bounds every password must meet, at sign-in too: at most 50 characters (the spec's
/// schema) and at most 72 bytes (bcrypt's input: a password of 50 multi-byte characters would
/// otherwise be truncated, and any password sharing its first 72 bytes would match it).
pub(crate) fn check_password_length(password: &str) -> Result<(), ApiError> {
    if password.chars().count() > 50 {
        return Err(ApiError::bad_request(
            "password must be at most 50 characters",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt reads no more)"
        )));
    }
    Ok(())
}

/// A new password: [`check_password_length`], and the configured minimum (`password-too-short`).
pub(crate) fn check_password(state: &AppState, password: &str) -> Result<(), ApiError> {
    check_password_length(password)?;
    if password.chars().count() < state.config.password_min_length {
        return Err(ApiError::password_too_short());
    }
    Ok(())
}

/// bcrypt is slow on purpose; keep it off the async threads. The caller has checked the length
/// ([`check_password_length`]): bcrypt then reads every byte of the password.
pub(crate) async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    let cost = state.config.bcrypt_cost;
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(ApiError::internal)
}

/// Checks a sign-in password against the user's bcrypt hash — or, when there is no such user
/// (or it has no password), against a dummy hash of the same cost, whose answer is ignored: the
/// sign-in then takes as long as a wrong password for a real account, instead of telling which
/// emails exist by answering ~50 times sooner. Off the async threads.
pub(crate) async fn verify_password(
    state: &AppState,
    password: String,
    hash: Option<String>,
) -> bool {
    let (hash, real) = match hash {
        Some(hash) => (hash, true),
        None => match dummy_password_hash(state).await {
            Some(dummy) => (dummy, false),
            None => return false,
        },
    };
    state.stats.count_password_check();
    let matches =
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
    real && matches
}

/// The dummy hash: a random password, hashed at the configured cost on first use.
async fn dummy_password_hash(state: &AppState) -> Option<String> {
    state
        .dummy_password_hash
        .get_or_try_init(|| hash_password(state, Uuid::new_v4().to_string()))
        .await
        .ok()
        .cloned()
}

/// What kind of one-time ticket, with its stored prefix and the `/verify` link type.
#[derive(Clone, Copy)]
pub(crate) enum TicketKind {
    VerifyEmail,
    Passwordless,
}

impl TicketKind {
    fn prefix(self) -> &'static str {
        match self {
            TicketKind::VerifyEmail => "verifyEmail",
            TicketKind::Passwordless => "passwordlessEmail",
        }
    }
    pub(crate) fn link_type(self) -> &'static str {
        match self {
            TicketKind::VerifyEmail => "emailVerify",
            TicketKind::Passwordless => "signinPasswordless",
        }
    }
    pub(crate) fn from_ticket(ticket: &str) -> Option<Self> {
        match ticket.split_once(':')?.0 {
            "verifyEmail" => Some(TicketKind::VerifyEmail),
            "passwordlessEmail" => Some(TicketKind::Passwordless),
            _ => None,
        }
    }
    /// A new ticket and its expiry: an hour for magic links, 30 days for email verification.
    pub(crate) fn new_ticket(self) -> (String, DateTime<Utc>) {
        let ttl = match self {
            TicketKind::VerifyEmail => chrono::Duration::days(30),
            TicketKind::Passwordless => chrono::Duration::hours(1),
        };
        (format!("{}:{}", self.prefix(), Uuid::new_v4()), now() + ttl)
    }
}

/// The optional `codeChallenge` of a request that sends an email: well-formed or refused.
pub(crate) fn check_code_challenge(challenge: Option<&str>) -> Result<(), ApiError> {
    challenge.map_or(Ok(()), crate::pkce::check_challenge)
}

/// "Sends" an email: puts it in the development mailbox. With a PKCE `code_challenge`, the link
/// carries it (`&codeChallenge=…`, as nhost-js's `verifyTicketURL` builds it), so that `/verify`
/// answers with a one-time code instead of a refresh token.
pub(crate) fn send_email(
    state: &AppState,
    to: &str,
    kind: TicketKind,
    ticket: &str,
    redirect_to: &str,
    code_challenge: Option<&str>,
) {
    let mut link = format!(
        "{}/verify?ticket={}&type={}&redirectTo={}",
        state.server_url,
        percent_encode(ticket),
        kind.link_type(),
        percent_encode(redirect_to)
    );
    if let Some(challenge) = code_challenge {
        link.push_str("&codeChallenge=");
        link.push_str(&percent_encode(challenge));
    }
    let (subject, body) = match kind {
        TicketKind::VerifyEmail => (
            "Verify your email",
            format!("Use this link to verify your email:\n\n{link}\n"),
        ),
        TicketKind::Passwordless => (
            "Your magic link",
            format!("Use this link to sign in:\n\n{link}\n"),
        ),
    };
    tracing::info!(
        kind = kind.link_type(),
        "email put in the development mailbox"
    );
    state.mailbox.push(Email {
        to: to.to_owned(),
        kind: kind.link_type().to_owned(),
        subject: subject.to_owned(),
        body,
        link,
        ticket: ticket.to_owned(),
        redirect_to: redirect_to.to_owned(),
        created_at: Utc::now(),
    });
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        for ok in [
            "John Smith",
            "Ana-María O'Neil",
            "李小龙",
            "A+B",
            "x",
            "a<b>c",
            "١٢٣",
            "€5",
        ] {
            assert!(check_display_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a&b",
            "http://x",
            "a/b",
            "<script>alert(1)</script>",
            &"x".repeat(33),
            "tab\there",
            "a／b",
            "«quoted»",
            "a:b",
            "a(b)",
        ] {
            assert!(check_display_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(percent_encode("verifyEmail:1-2"), "verifyEmail%3A1-2");
    }
}
