//! PKCE email links (issue 11): `codeChallenge` on the requests that send a link, the one-time
//! `code` in `/verify`'s redirect, and `POST /token/exchange`, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use nhost_auth_emulator::{Config, Database, Emulator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Another well-formed verifier (a link opened in another browser).
const OTHER_VERIFIER: &str = "another-verifier-another-verifier-another-verifier";

fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Follows an email link and returns the redirect's query parameters, asserting a `302` to the
/// client URL that carries a one-time `code` and no refresh token.
async fn follow_pkce_link(s: &Server, link: &str, link_type: &str) -> String {
    let r = s.send(s.http.get(link)).await;
    assert_eq!(r.status, 302, "following {link}: {}", r.describe());
    let location = r.header("location").expect("a Location header").to_owned();
    let (base, query) = location.split_once('?').unwrap_or((&location, ""));
    assert_eq!(base.trim_end_matches('/'), CLIENT_URL, "{location}");
    let params = parse_query(query);
    assert!(param(&params, "error").is_none(), "{location}");
    assert!(
        param(&params, "refreshToken").is_none(),
        "with a challenge, no refresh token travels in the URL: {location}"
    );
    assert_eq!(param(&params, "type"), Some(link_type), "{location}");
    let code = param(&params, "code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .to_owned();
    assert!(
        code.len() >= 43,
        "a code long enough not to be guessed: {code}"
    );
    code
}

async fn exchange(s: &Server, code: &str, verifier: &str) -> Reply {
    s.post(
        "/token/exchange",
        &json!({ "code": code, "codeVerifier": verifier }),
    )
    .await
}

/// `POST /token/exchange` answered 200 with `{"session": Session}`; returns the session.
async fn exchange_ok(s: &Server, code: &str, verifier: &str) -> Value {
    let r = exchange(s, code, verifier).await;
    assert_eq!(r.status, 200, "exchange: {}", r.describe());
    let body = r.json();
    assert_eq!(
        keys(&body),
        set(&["session"]),
        "a SessionPayload, not a bare Session: {body}"
    );
    let session = body["session"].clone();
    assert_session_shape(&session, 900);
    // The session works: its refresh token rotates.
    s.refresh_ok(&refresh_token(&session)).await;
    session
}

fn assert_invalid_code(r: &Reply) {
    assert_handler_error(r, 400, "invalid-request");
}

/// Shape 2 (request validation): HTTP 400 `{"error": "invalid-request", "reason"}`.
fn assert_validation_error(r: &Reply, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.describe());
    let body = r.json();
    assert_eq!(body["error"], "invalid-request", "{what}: {body}");
}

async fn sign_up_with_verification(backend: Backend) {
    let s = start_default(backend).await;
    let email = "pkce-signup@example.com";
    let r = s
        .post(
            "/signup/email-password",
            &json!({ "email": email, "password": PASSWORD, "codeChallenge": CHALLENGE }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!({}), "no session before verification");
    let mail = s.last_email(email);
    assert!(
        mail.link.contains(&format!("codeChallenge={CHALLENGE}")),
        "the link carries the challenge: {}",
        mail.link
    );
    let code = follow_pkce_link(&s, &mail.link, "emailVerify").await;

    // Pending codes are stored hashed only.
    let user = s.sign_in(email, PASSWORD).await;
    assert_eq!(user.status, 200, "verified now: {}", user.describe());
    let id: Uuid = user_id(&user.json()["session"]).parse().expect("uuid");
    let hashes = s
        .stored_authorization_code_hashes(id)
        .await
        .expect("hashes");
    assert_eq!(hashes.len(), 1, "one pending code");
    assert!(hashes[0].starts_with("\\x") && !hashes[0].contains(&code));

    // A wrong verifier is refused and does not burn the code.
    assert_invalid_code(&exchange(&s, &code, OTHER_VERIFIER).await);
    let session = exchange_ok(&s, &code, VERIFIER).await;
    assert_eq!(user_id(&session), id.to_string(), "the same user");
    assert_registered_user(&session["user"], email);
    assert_eq!(session["user"]["emailVerified"], true);
    // Single use.
    assert_invalid_code(&exchange(&s, &code, VERIFIER).await);
    assert!(
        s.stored_authorization_code_hashes(id)
            .await
            .expect("hashes")
            .is_empty()
    );
}
both!(sign_up_with_verification);

async fn magic_link(backend: Backend) {
    let s = start_default(backend).await;
    let email = "pkce-magic@example.com";
    let verifier = "v".repeat(128);
    let r = s
        .post(
            "/signin/passwordless/email",
            &json!({ "email": email, "codeChallenge": challenge_of(&verifier) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json(), json!("OK"));
    let mail = s.last_email(email);
    let code = follow_pkce_link(&s, &mail.link, "signinPasswordless").await;
    let session = exchange_ok(&s, &code, &verifier).await;
    assert_registered_user(&session["user"], email);
    assert_invalid_code(&exchange(&s, &code, &verifier).await);
}
both!(magic_link);

async fn deanonymize_with_verification(backend: Backend) {
    let s = start_default(backend).await;
    let anonymous = s.sign_in_anonymous().await;
    let email = "pkce-keep@example.com";
    let r = s
        .post_auth(
            "/user/deanonymize",
            &access_token(&anonymous),
            &json!({
                "signInMethod": "email-password",
                "email": email,
                "password": PASSWORD,
                "codeChallenge": CHALLENGE,
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let code = follow_pkce_link(&s, &s.last_email(email).link, "emailVerify").await;
    let session = exchange_ok(&s, &code, VERIFIER).await;
    assert_eq!(
        user_id(&session),
        user_id(&anonymous),
        "the anonymous user kept their account"
    );
    assert_registered_user(&session["user"], email);
    assert_eq!(session["user"]["isAnonymous"], false);
    // The anonymous session was revoked by the deanonymization.
    assert_handler_error(
        &s.refresh(&refresh_token(&anonymous)).await,
        401,
        "invalid-refresh-token",
    );

    // Passwordless deanonymization sends a magic link: PKCE works there too.
    let other = s.sign_in_anonymous().await;
    let email = "pkce-keep-magic@example.com";
    let r = s
        .post_auth(
            "/user/deanonymize",
            &access_token(&other),
            &json!({ "signInMethod": "passwordless", "email": email, "codeChallenge": CHALLENGE }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let code = follow_pkce_link(&s, &s.last_email(email).link, "signinPasswordless").await;
    let session = exchange_ok(&s, &code, VERIFIER).await;
    assert_eq!(user_id(&session), user_id(&other));
}
both!(deanonymize_with_verification);

/// nhost-js's `verifyTicketURL({ticket, redirectTo, codeChallenge})`: the challenge given to
/// `/verify` itself has the same effect.
async fn challenge_in_the_verify_query(backend: Backend) {
    let s = start_default(backend).await;
    let email = "pkce-query@example.com";
    assert_eq!(s.sign_up(email, PASSWORD).await.status, 200);
    let mail = s.last_email(email);
    assert!(!mail.link.contains("codeChallenge"), "{}", mail.link);
    let link = format!("{}&codeChallenge={CHALLENGE}", mail.link);
    let code = follow_pkce_link(&s, &link, "emailVerify").await;
    exchange_ok(&s, &code, VERIFIER).await;

    // A malformed challenge there is a validation error, and the ticket is not used up.
    let email = "pkce-query-bad@example.com";
    assert_eq!(s.sign_up(email, PASSWORD).await.status, 200);
    let mail = s.last_email(email);
    let r = s
        .send(s.http.get(format!("{}&codeChallenge=short", mail.link)))
        .await;
    assert_validation_error(&r, "a malformed codeChallenge on /verify");
    s.follow_link(&mail.link).await;
}
both!(challenge_in_the_verify_query);

async fn expired_code(backend: Backend) {
    let s = start(backend, |c| c.pkce_code_expires_in = Duration::from_secs(1)).await;
    let email = "pkce-expired@example.com";
    let r = s
        .post(
            "/signin/passwordless/email",
            &json!({ "email": email, "codeChallenge": CHALLENGE }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let code = follow_pkce_link(&s, &s.last_email(email).link, "signinPasswordless").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_invalid_code(&exchange(&s, &code, VERIFIER).await);
}
both!(expired_code);

async fn malformed_challenges(backend: Backend) {
    let s = start_default(backend).await;
    let anonymous = s.sign_in_anonymous().await;
    let too_long = format!("{CHALLENGE}A");
    let bad_char = format!("{}+", &CHALLENGE[..42]);
    for bad in [
        json!(""),
        json!(&CHALLENGE[..42]),
        json!(too_long),
        json!(bad_char),
        json!(42),
    ] {
        let r = s
            .post(
                "/signup/email-password",
                &json!({ "email": "bad-challenge@example.com", "password": PASSWORD, "codeChallenge": bad }),
            )
            .await;
        assert_validation_error(&r, &format!("sign-up with codeChallenge {bad}"));
        let r = s
            .post(
                "/signin/passwordless/email",
                &json!({ "email": "bad-challenge@example.com", "codeChallenge": bad }),
            )
            .await;
        assert_validation_error(&r, &format!("magic link with codeChallenge {bad}"));
        let r = s
            .post_auth(
                "/user/deanonymize",
                &access_token(&anonymous),
                &json!({ "signInMethod": "passwordless", "email": "bad-challenge@example.com", "codeChallenge": bad }),
            )
            .await;
        assert_validation_error(&r, &format!("deanonymize with codeChallenge {bad}"));
    }
    assert!(
        s.mailbox().to("bad-challenge@example.com").is_empty(),
        "nothing was sent"
    );
    s.refresh_ok(&refresh_token(&anonymous)).await;
}
both!(malformed_challenges);

async fn malformed_exchanges(backend: Backend) {
    let s = start_default(backend).await;
    let email = "pkce-malformed@example.com";
    s.post(
        "/signin/passwordless/email",
        &json!({ "email": email, "codeChallenge": CHALLENGE }),
    )
    .await;
    let code = follow_pkce_link(&s, &s.last_email(email).link, "signinPasswordless").await;
    let cases = [
        json!({ "code": code, "codeVerifier": &VERIFIER[..42] }),
        json!({ "code": code, "codeVerifier": "a".repeat(129) }),
        json!({ "code": code, "codeVerifier": format!("{}+", &VERIFIER[..43]) }),
        json!({ "code": code }),
        json!({ "codeVerifier": VERIFIER }),
        json!({ "code": code, "codeVerifier": VERIFIER, "extra": 1 }),
        json!({ "code": 42, "codeVerifier": VERIFIER }),
        json!({ "code": "", "codeVerifier": VERIFIER }),
        json!([code, VERIFIER]),
    ];
    for body in cases {
        let r = s.post("/token/exchange", &body).await;
        assert_validation_error(&r, &format!("exchange with {body}"));
    }
    let r = s.post_raw("/token/exchange", "not json", None).await;
    assert_validation_error(&r, "exchange with a non-JSON body");
    // An unknown code is the handler's error.
    assert_invalid_code(&exchange(&s, &"x".repeat(43), VERIFIER).await);
    // None of that used the code up.
    exchange_ok(&s, &code, VERIFIER).await;
}
both!(malformed_exchanges);

async fn without_a_challenge_links_still_carry_a_refresh_token(backend: Backend) {
    let s = start_default(backend).await;
    let email = "pkce-none@example.com";
    assert_eq!(s.sign_up(email, PASSWORD).await.status, 200);
    let params = s.follow_link(&s.last_email(email).link).await;
    assert!(param(&params, "code").is_none(), "{params:?}");
}
both!(without_a_challenge_links_still_carry_a_refresh_token);

async fn a_disabled_user_cannot_exchange(backend: Backend) {
    let s = start_default(backend).await;
    let email = "pkce-disabled@example.com";
    s.post(
        "/signin/passwordless/email",
        &json!({ "email": email, "codeChallenge": CHALLENGE }),
    )
    .await;
    let code = follow_pkce_link(&s, &s.last_email(email).link, "signinPasswordless").await;
    // The user exists now (created by the magic-link request); find it through a second link.
    s.post("/signin/passwordless/email", &json!({ "email": email }))
        .await;
    let params = s.follow_link(&s.last_email(email).link).await;
    let token = param(&params, "refreshToken").expect("a refresh token");
    let id = user_id(&s.refresh_ok(token).await);
    s.disable_user(&id).await;
    assert_handler_error(&exchange(&s, &code, VERIFIER).await, 401, "disabled-user");
}
both!(a_disabled_user_cannot_exchange);

/// Pending codes live in the database: a restart within their lifetime keeps them.
async fn codes_survive_a_restart(backend: Backend) {
    let mut pg = None;
    let dir = std::env::temp_dir().join(format!("nhost-pkce-{}", Uuid::new_v4().simple()));
    let database = match backend {
        Backend::Sqlite => {
            std::fs::create_dir_all(&dir).expect("temp dir");
            Database::SqliteFile(dir.join("auth.sqlite"))
        }
        Backend::Postgres => {
            let db = fresh_postgres_database().await;
            let url = db.url.clone();
            pg = Some(db);
            Database::Postgres(url)
        }
    };
    let config = || {
        let mut c = Config::default();
        c.bcrypt_cost = 4;
        c.database = database.clone();
        c
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let email = "pkce-restart@example.com";
    let emu = Emulator::start(config()).await.expect("starts");
    let r = http
        .post(format!("{}/signin/passwordless/email", emu.url()))
        .json(&json!({ "email": email, "codeChallenge": CHALLENGE }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let link = emu.mailbox().to(email).pop().expect("an email").link;
    let r = http.get(&link).send().await.expect("sent");
    let location = r.headers()["location"].to_str().expect("text").to_owned();
    let params = parse_query(location.split_once('?').expect("a query").1);
    let code = param(&params, "code").expect("a code").to_owned();
    emu.shutdown().await;

    let emu = Emulator::start(config()).await.expect("restarts");
    let r = http
        .post(format!("{}/token/exchange", emu.url()))
        .json(&json!({ "code": code, "codeVerifier": VERIFIER }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200, "the code survived the restart");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["session"]["user"]["email"], email);
    emu.shutdown().await;
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
both!(codes_survive_a_restart);
