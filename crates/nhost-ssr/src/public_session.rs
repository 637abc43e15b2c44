//! [`PublicSession`]: the part of a session the browser may hold, [`session_script`], the
//! page's copy of it for hydration, and [`json_script`] for the page's other props.

use nhost_core::{AccessToken, Session, User};
use serde::{Deserialize, Serialize};

/// The part of a session that may leave the server: the access token, the seconds it has left,
/// and the user — `{"accessToken", "accessTokenExpiresIn", "user"}`, the names of Nhost Auth's
/// `Session`. The type has no place for the refresh token or its id: they stay in the sealed
/// `HttpOnly` cookie, and nothing built from this type can carry them.
///
/// `access_token_expires_in` is the time left *when the value was made*, so that a browser
/// counts the expiry from its own clock, whatever the server's says.
///
/// ```
/// # fn demo(session: &nhost_ssr::nhost_core::Session) -> serde_json::Result<()> {
/// let public = nhost_ssr::PublicSession::new(session);
/// let json = serde_json::to_string(&public)?;
/// assert!(!json.contains(session.refresh_token.expose()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PublicSession {
    /// The access token (a JWT), for `Authorization: Bearer …` to Hasura.
    pub access_token: AccessToken,
    /// Seconds the access token had left when this value was made.
    pub access_token_expires_in: u64,
    /// The user; `null` when the session cookie had to drop it to fit in 4 KB (the access
    /// token's claims still carry the id, roles and anonymity).
    pub user: Option<User>,
}

impl PublicSession {
    /// The public part of `session`, its expiry counted from now.
    pub fn new(session: &Session) -> Self {
        PublicSession {
            access_token: session.access_token.clone(),
            access_token_expires_in: session.expires_in().as_secs(),
            user: session.user.clone(),
        }
    }
}

impl From<&Session> for PublicSession {
    fn from(session: &Session) -> Self {
        PublicSession::new(session)
    }
}

/// The `id` of the element [`session_script`] writes.
pub const SESSION_SCRIPT_ID: &str = "nhost-session";

/// The hydration data of a server-rendered page: the session the page was rendered with, as
/// `<script type="application/json" id="nhost-session">{"session": PublicSession | null}</script>`
/// — put it in the page (in `<head>` or before the app's bundle) so that the browser's client
/// starts where the server rendered (nhost-yew's `hydration::server_session` reads it; nhost-core's
/// `Session::from_public_json` parses it). `None` writes `{"session":null}`: the page was rendered
/// signed out, and the browser starts signed out without asking.
///
/// Only the [`PublicSession`] is written — never the refresh token or its id — and every `<`,
/// `>` and `&` (and U+2028, U+2029) is escaped as `\uXXXX`, so no string in the session (a
/// display name, metadata chosen by the user) can close the script element or open markup; the
/// JSON reads back the same.
///
/// ```
/// # fn page(session: Option<&nhost_ssr::nhost_core::Session>, app_html: &str) -> String {
/// format!(
///     "<!doctype html><html><head>{}<script type=\"module\">import init from '/app.js'; init();</script></head>\
///      <body><div id=\"app\">{app_html}</div></body></html>",
///     nhost_ssr::session_script(session),
/// )
/// # }
/// assert_eq!(
///     nhost_ssr::session_script(None),
///     r#"<script type="application/json" id="nhost-session">{"session":null}</script>"#
/// );
/// ```
pub fn session_script(session: Option<&Session>) -> String {
    #[derive(Serialize)]
    struct Page {
        session: Option<PublicSession>,
    }
    json_script(
        SESSION_SCRIPT_ID,
        &Page {
            session: session.map(PublicSession::new),
        },
    )
    // A `PublicSession` is strings, numbers and JSON values: it always serialises.
    .unwrap_or_else(|_| {
        format!(r#"<script type="application/json" id="{SESSION_SCRIPT_ID}">{{"session":null}}</script>"#)
    })
}

/// Any value as `<script type="application/json" id="{id}">…</script>`, escaped as
/// [`session_script`] escapes the session: how a page hands the browser the other props it was
/// rendered with, so that hydration starts from the same values (an app's `main` reads the
/// element's text and parses it with `serde_json`). Every `<`, `>` and `&` (and U+2028, U+2029)
/// in the JSON becomes `\uXXXX`, so no string can close the element; `id` is written with
/// `"`, `<`, `>` and `&` escaped as HTML character references.
///
/// ```
/// let script = nhost_ssr::json_script("page-props", &serde_json::json!({"title": "</script>"}))?;
/// assert_eq!(
///     script,
///     r#"<script type="application/json" id="page-props">{"title":"\u003c/script\u003e"}</script>"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// When `value` cannot be serialised as JSON (a map with non-string keys, a failing `Serialize`).
pub fn json_script<T: Serialize + ?Sized>(id: &str, value: &T) -> serde_json::Result<String> {
    let json = serde_json::to_string(value)?;
    let mut script = String::with_capacity(json.len() + id.len() + 48);
    script.push_str(r#"<script type="application/json" id=""#);
    for c in id.chars() {
        match c {
            '"' => script.push_str("&quot;"),
            '<' => script.push_str("&lt;"),
            '>' => script.push_str("&gt;"),
            '&' => script.push_str("&amp;"),
            c => script.push(c),
        }
    }
    script.push_str(r#"">"#);
    for c in json.chars() {
        match c {
            // Outside strings JSON never has these characters, so escaping them inside strings
            // changes no value: `\u003c` reads back as `<`.
            '<' => script.push_str("\\u003c"),
            '>' => script.push_str("\\u003e"),
            '&' => script.push_str("\\u0026"),
            '\u{2028}' => script.push_str("\\u2028"),
            '\u{2029}' => script.push_str("\\u2029"),
            c => script.push(c),
        }
    }
    script.push_str("</script>");
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session whose user chose hostile strings, with a refresh token and id that must not
    /// reach the page.
    fn hostile_session() -> Session {
        let hostile = "</script><script>alert(1)</script><!-- & \u{2028}\u{2029} </SCRIPT >";
        let json = serde_json::json!({
            "accessToken": "header.payload.signature",
            "accessTokenExpiresIn": 900,
            "accessTokenExpiresAt": u64::MAX / 2,
            "refreshToken": "9b2f6d1e-refresh-token-secret",
            "refreshTokenId": "4c1d2e3f-refresh-token-id",
            "user": {
                "id": "u1",
                "displayName": hostile,
                "isAnonymous": true,
                "defaultRole": "public",
                "roles": ["public"],
                "metadata": {"bio": hostile, hostile: 1},
            },
        });
        serde_json::from_value(json).expect("a session")
    }

    /// The text between the script's opening and closing tags: the page's only script element.
    fn script_body(page: &str) -> &str {
        let open = r#"<script type="application/json" id="nhost-session">"#;
        let body = page.strip_prefix(open).expect("the opening tag");
        body.strip_suffix("</script>").expect("the closing tag")
    }

    #[test]
    fn hostile_strings_cannot_close_the_script_or_open_markup() {
        let session = hostile_session();
        let page = session_script(Some(&session));
        let body = script_body(&page);
        for forbidden in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!body.contains(forbidden), "{forbidden:?} in {page}");
        }
        // The JSON reads back exactly: the escapes change no value.
        let read: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let user = &read["session"]["user"];
        let hostile = session.user.as_ref().expect("user").display_name.clone();
        assert_eq!(user["displayName"], hostile.as_str());
        assert_eq!(user["metadata"]["bio"], hostile.as_str());
        assert_eq!(user["metadata"][hostile.as_str()], 1);
        // And nhost-core reads it as the browser's client will.
        let back = nhost_core::Session::from_public_json(body)
            .expect("readable")
            .expect("signed in");
        assert_eq!(back.user, session.user);
        assert_eq!(back.access_token, session.access_token);
    }

    #[test]
    fn the_page_never_carries_the_refresh_token_or_its_id() {
        let session = hostile_session();
        let page = session_script(Some(&session));
        assert!(!page.contains("9b2f6d1e-refresh-token-secret"), "{page}");
        assert!(!page.contains("4c1d2e3f-refresh-token-id"), "{page}");
        assert!(!page.contains("refreshToken"), "{page}");
        let read: serde_json::Value = serde_json::from_str(script_body(&page)).expect("JSON");
        let keys: Vec<&String> = read["session"]
            .as_object()
            .expect("a session")
            .keys()
            .collect();
        assert_eq!(keys, ["accessToken", "accessTokenExpiresIn", "user"]);
        // Expiry as seconds left now, not the absolute time on the server's clock.
        assert!(
            read["session"]["accessTokenExpiresIn"]
                .as_u64()
                .expect("seconds")
                > 900
        );
    }

    #[test]
    fn json_script_escapes_the_id_and_any_value() {
        let value = serde_json::json!({"a": "</script><!--", "b": [1.5, null, "\u{2028}&"]});
        let script = json_script("x\"><script>", &value).expect("serialisable");
        let open = r#"<script type="application/json" id="x&quot;&gt;&lt;script&gt;">"#;
        let body = script
            .strip_prefix(open)
            .and_then(|s| s.strip_suffix("</script>"))
            .expect("one element");
        assert!(!body.contains(['<', '>', '&', '\u{2028}']), "{script}");
        let back: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(back, value);
        // Maps with non-string keys are an error, not a panic.
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(json_script("x", &bad).is_err());
    }

    #[test]
    fn a_page_rendered_signed_out_says_so() {
        let page = session_script(None);
        assert_eq!(
            page,
            r#"<script type="application/json" id="nhost-session">{"session":null}</script>"#
        );
        assert_eq!(
            nhost_core::Session::from_public_json(script_body(&page)).expect("readable"),
            None
        );
    }
}
