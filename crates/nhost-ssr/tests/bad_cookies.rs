//! The bad-cookie corpus: whatever a client puts in the cookie, it is "no session" — never a
//! panic, never a 500, never someone else's session, never a call to the auth server.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower_cookies::cookie::{Cookie, CookieJar};

/// Seals `plain` as the private jar would, under `name` and `key`.
fn seal_raw(key: &nhost_ssr::Key, name: &str, plain: &str) -> String {
    let mut jar = CookieJar::new();
    jar.private_mut(key)
        .add(Cookie::new(name.to_owned(), plain.to_owned()));
    jar.get(name)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A JWT with the victim's claims edited to `admin` and another user id, in several forgeries.
fn forged_tokens(real: &str) -> Vec<(&'static str, String)> {
    let mut parts = real.split('.');
    let (header, payload, signature) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("payload")).expect("json");
    let ns = "https://hasura.io/jwt/claims";
    claims[ns]["x-hasura-user-id"] = json!("00000000-0000-0000-0000-000000000001");
    claims[ns]["x-hasura-default-role"] = json!("admin");
    claims[ns]["x-hasura-allowed-roles"] = json!(["admin", "user"]);
    claims["exp"] = json!(4_000_000_000u64);
    let edited = b64(&claims);
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), edited);
    let other_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"not-the-auth-server-key-not-the-auth-server-key"),
    )
    .expect("sign");
    vec![
        (
            "edited claims, original signature",
            format!("{header}.{edited}.{signature}"),
        ),
        ("alg none", none),
        ("signed with another key", other_key),
    ]
}

#[tokio::test]
async fn every_bad_cookie_means_signed_out() {
    let emulator = emulator().await;
    let layer = layer(emulator.url());
    let victim = sign_in(emulator.url()).await;
    let victim_id = victim.user_id().unwrap_or_default().to_owned();
    let name = layer.cookie_name().to_owned();
    let session_json = serde_json::to_value(&victim).expect("session json");

    let mut corpus: Vec<(String, String)> = vec![
        ("empty".into(), String::new()),
        ("garbage".into(), "garbage".into()),
        ("not base64".into(), "%%%***!!!".into()),
        (
            "base64 of junk".into(),
            STANDARD.encode([0u8, 159, 146, 150, 255]),
        ),
        ("base64 of {}".into(), STANDARD.encode("{}")),
        ("oversized".into(), "A".repeat(5000)),
        (
            "the real session, unsealed".into(),
            session_json.to_string().replace(';', ""),
        ),
        (
            "the real session, base64".into(),
            STANDARD.encode(session_json.to_string()),
        ),
        (
            "the access token alone".into(),
            victim.access_token.expose().to_owned(),
        ),
        (
            "the refresh token alone".into(),
            victim.refresh_token.expose().to_owned(),
        ),
    ];
    // Sealed, but not by us or not for this cookie.
    let other_key = nhost_ssr::key_from_bytes(&[9u8; 64]).expect("key");
    corpus.push((
        "sealed with another key".into(),
        seal_raw(&other_key, &name, &session_json.to_string()),
    ));
    corpus.push((
        "sealed by us for another cookie name".into(),
        seal_raw(&key(), "otherCookie", &session_json.to_string()),
    ));
    let genuine = layer.seal(&victim).expect("seal");
    corpus.push((
        "genuine, truncated".into(),
        genuine[..genuine.len() - 4].to_owned(),
    ));
    let mut flipped = genuine.clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    corpus.push((
        "genuine, one byte changed".into(),
        String::from_utf8(flipped).expect("ascii"),
    ));
    // Sealed by us (as if the key leaked or a bug sealed junk) but not a session: wrong types.
    for (what, plain) in [
        ("sealed non-JSON", "hello".to_owned()),
        ("sealed JSON null", "null".to_owned()),
        (
            "sealed wrong types",
            json!({"accessToken": 5, "refreshToken": [], "accessTokenExpiresAt": "soon"})
                .to_string(),
        ),
    ] {
        corpus.push((what.into(), seal_raw(&key(), &name, &plain)));
    }
    // Forged access tokens, alone and inside an unsealed session with an edited expiry.
    for (what, token) in forged_tokens(victim.access_token.expose()) {
        corpus.push((format!("forged token ({what})"), token.clone()));
        let mut edited = session_json.clone();
        edited["accessToken"] = json!(token);
        edited["accessTokenExpiresAt"] = json!(4_000_000_000u64);
        corpus.push((
            format!("unsealed session, forged token ({what}), edited exp"),
            edited.to_string(),
        ));
        corpus.push((
            format!("base64 session, forged token ({what})"),
            STANDARD.encode(edited.to_string()),
        ));
    }
    let mut expired_edit = session_json.clone();
    expired_edit["accessTokenExpiresAt"] = json!(4_000_000_000u64);
    corpus.push((
        "expired-but-edited exp, unsealed".into(),
        expired_edit.to_string(),
    ));

    let app = app(layer);
    for (what, value) in &corpus {
        // Values a browser could not send as one cookie (`;`, control characters) are cut by it.
        let value: String = value
            .chars()
            .filter(|c| *c != ';' && !c.is_control())
            .collect();
        let cookie = format!("{name}={value}");
        let page = send(&app, "GET", "/", Some(&cookie)).await;
        assert_eq!(page.status, 200, "{what}");
        assert_eq!(page.body, "signed out", "{what}");
        assert!(!page.body.contains(&victim_id), "{what}");
        let me = send(&app, "GET", "/me", Some(&cookie)).await;
        assert_eq!(me.status, 401, "{what}");
    }
    assert_eq!(
        emulator.stats().token_requests,
        0,
        "no bad cookie reached the auth server"
    );

    // The genuine cookie still works, so the corpus failed for the right reason.
    let page = send(&app, "GET", "/", Some(&format!("{name}={genuine}"))).await;
    assert!(page.body.contains(&victim_id), "{}", page.body);
}

#[tokio::test]
async fn malformed_cookie_headers_do_not_break_the_request() {
    let emulator = emulator().await;
    let app = app(layer(emulator.url()));
    for header in [
        "",
        ";;;",
        "=",
        "nhostSession",
        "nhostSession=",
        "a=b; nhostSession=; c",
        "nhostSession=\"quoted\"",
        "nhostSession=x; nhostSession=y",
    ] {
        let page = send(&app, "GET", "/", Some(header)).await;
        assert_eq!(page.status, 200, "{header:?}");
        assert_eq!(page.body, "signed out", "{header:?}");
    }
}
