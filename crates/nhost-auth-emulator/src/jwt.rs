//! Access tokens: Hasura-style JWTs signed with the `HASURA_GRAPHQL_JWT_SECRET` key.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use uuid::Uuid;

use crate::config::DEV_JWT_KEY;

/// The default claims namespace, as Hasura expects it.
pub const DEFAULT_CLAIMS_NAMESPACE: &str = "https://hasura.io/jwt/claims";

/// The signing configuration, parsed from `HASURA_GRAPHQL_JWT_SECRET`.
///
/// `Debug` never prints key material.
#[derive(Clone)]
pub struct JwtSecret {
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The JWKS entry for asymmetric keys; `None` for HS* secrets (their JWKS is empty).
    jwk: Option<serde_json::Value>,
    issuer: String,
    namespace: String,
    kid: Option<String>,
    /// Signs with [`DEV_JWT_KEY`], which is public.
    development_key: bool,
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSecret")
            .field("alg", &self.alg)
            .field("key", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("namespace", &self.namespace)
            .field("kid", &self.kid)
            .finish()
    }
}

/// Why a `HASURA_GRAPHQL_JWT_SECRET` value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwtSecretError {
    /// Not the documented JSON object.
    #[error("not a JSON object like {{\"type\":\"HS256\",\"key\":\"…\"}}: {0}")]
    Json(#[from] serde_json::Error),
    /// An algorithm this server does not sign with.
    #[error("unsupported type `{0}` (use HS256, HS384, HS512, RS256, RS384 or RS512)")]
    Algorithm(String),
    /// HS* keys shorter than 32 bytes are refused: Hasura refuses them too.
    #[error("an HS* key must be at least 32 characters long")]
    ShortKey,
    /// An RS* secret needs `signing_key` (private PEM) besides `key` (public PEM).
    #[error(
        "RS* secrets need `signing_key` (the private key, PEM) besides `key` (the public key, PEM)"
    )]
    MissingSigningKey,
    /// A PEM that could not be read.
    #[error("bad key: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
}

#[derive(Deserialize)]
struct SecretJson {
    #[serde(rename = "type")]
    alg: String,
    key: String,
    signing_key: Option<String>,
    issuer: Option<String>,
    kid: Option<String>,
    claims_namespace: Option<String>,
}

impl JwtSecret {
    /// An HS256 secret with the default issuer and namespace.
    pub fn hs256(key: &str) -> Self {
        JwtSecret {
            alg: Algorithm::HS256,
            encoding: EncodingKey::from_secret(key.as_bytes()),
            decoding: DecodingKey::from_secret(key.as_bytes()),
            jwk: None,
            issuer: "hasura-auth".into(),
            namespace: DEFAULT_CLAIMS_NAMESPACE.into(),
            kid: None,
            development_key: key == DEV_JWT_KEY,
        }
    }

    /// Parses the JSON form Hasura and hasura-auth share:
    /// `{"type": "HS256", "key": "…", "issuer"?, "kid"?, "claims_namespace"?}`; RS* secrets also
    /// need `"signing_key"` (the private PEM) — `key` is the public PEM that Hasura verifies with.
    pub fn from_json(json: &str) -> Result<Self, JwtSecretError> {
        let s: SecretJson = serde_json::from_str(json)?;
        let alg = match s.alg.as_str() {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            other => return Err(JwtSecretError::Algorithm(other.to_owned())),
        };
        let development_key = s.alg.starts_with("HS") && s.key == DEV_JWT_KEY;
        let (encoding, decoding, jwk) = if s.alg.starts_with("HS") {
            if s.key.len() < 32 {
                return Err(JwtSecretError::ShortKey);
            }
            (
                EncodingKey::from_secret(s.key.as_bytes()),
                DecodingKey::from_secret(s.key.as_bytes()),
                None,
            )
        } else {
            let private = s
                .signing_key
                .as_deref()
                .ok_or(JwtSecretError::MissingSigningKey)?;
            let encoding = EncodingKey::from_rsa_pem(private.as_bytes())?;
            let decoding = DecodingKey::from_rsa_pem(s.key.as_bytes())?;
            let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, alg)?;
            jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
            jwk.common.key_id = Some(
                s.kid
                    .clone()
                    .unwrap_or_else(|| "nhost-auth-emulator".into()),
            );
            (encoding, decoding, Some(serde_json::to_value(jwk)?))
        };
        Ok(JwtSecret {
            alg,
            encoding,
            decoding,
            jwk,
            issuer: s.issuer.unwrap_or_else(|| "hasura-auth".into()),
            namespace: s
                .claims_namespace
                .unwrap_or_else(|| DEFAULT_CLAIMS_NAMESPACE.into()),
            kid: s.kid,
            development_key,
        })
    }

    /// Whether tokens are signed with the public [`DEV_JWT_KEY`] (the default, or given
    /// explicitly): anyone can forge them, which is fine on loopback only.
    pub fn is_development_key(&self) -> bool {
        self.development_key
    }

    /// The JWKS document served at `/.well-known/jwks.json`.
    pub(crate) fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.jwk.iter().collect::<Vec<_>>() })
    }

    /// The `iss` claim of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an access token for `subject`.
    pub(crate) fn sign(
        &self,
        subject: &TokenSubject<'_>,
        iat: i64,
        exp: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        let claims = Claims {
            namespace: &self.namespace,
            issuer: &self.issuer,
            subject,
            iat,
            exp,
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }

    /// Verifies signature, algorithm and `exp`, and returns the Hasura claims.
    pub(crate) fn verify(&self, token: &str) -> Option<VerifiedClaims> {
        let mut validation = Validation::new(self.alg);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &validation).ok()?;
        let ns = data.claims.get(&self.namespace)?;
        let user_id = ns.get("x-hasura-user-id")?.as_str()?.parse::<Uuid>().ok()?;
        let is_anonymous = ns.get("x-hasura-user-is-anonymous")?.as_str()? == "true";
        Some(VerifiedClaims {
            user_id,
            is_anonymous,
        })
    }
}

/// What goes into an access token.
pub(crate) struct TokenSubject<'a> {
    pub(crate) user_id: Uuid,
    pub(crate) default_role: &'a str,
    pub(crate) roles: &'a [String],
    pub(crate) is_anonymous: bool,
}

/// The claims of an access token, serialised straight from borrowed data: the same JSON, byte
/// for byte, as `serde_json::json!` gives (keys in sorted order, as its map keeps them), without
/// building a map of owned values for every token signed.
struct Claims<'a> {
    namespace: &'a str,
    issuer: &'a str,
    subject: &'a TokenSubject<'a>,
    iat: i64,
    exp: i64,
}

/// One top-level claim's value.
enum Claim<'a> {
    Hasura(&'a TokenSubject<'a>),
    Str(&'a str),
    Uuid(Uuid),
    Int(i64),
}

impl serde::Serialize for Claim<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match self {
            Claim::Hasura(subject) => {
                let mut map = s.serialize_map(Some(4))?;
                map.serialize_entry("x-hasura-allowed-roles", subject.roles)?;
                map.serialize_entry("x-hasura-default-role", subject.default_role)?;
                map.serialize_entry(
                    "x-hasura-user-id",
                    subject
                        .user_id
                        .hyphenated()
                        .encode_lower(&mut Uuid::encode_buffer()),
                )?;
                map.serialize_entry(
                    "x-hasura-user-is-anonymous",
                    if subject.is_anonymous {
                        "true"
                    } else {
                        "false"
                    },
                )?;
                map.end()
            }
            Claim::Str(v) => s.serialize_str(v),
            Claim::Uuid(v) => {
                s.serialize_str(v.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
            }
            Claim::Int(v) => s.serialize_i64(*v),
        }
    }
}

impl serde::Serialize for Claims<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut claims = [
            (self.namespace, Claim::Hasura(self.subject)),
            ("sub", Claim::Uuid(self.subject.user_id)),
            ("iss", Claim::Str(self.issuer)),
            ("iat", Claim::Int(self.iat)),
            ("exp", Claim::Int(self.exp)),
        ];
        claims.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // A namespace named like a registered claim is overwritten by it, as in a map.
        let shadowed = ["sub", "iss", "iat", "exp"].contains(&self.namespace);
        let mut map = s.serialize_map(Some(claims.len() - usize::from(shadowed)))?;
        for (key, value) in &claims {
            if !(shadowed && matches!(value, Claim::Hasura(_))) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// The parts of a verified access token that handlers use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifiedClaims {
    pub(crate) user_id: Uuid,
    pub(crate) is_anonymous: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    /// Issue 16, item 1: the public-key warning keyed on the issuer, so it fired for every
    /// custom key with the default issuer and not for the public key with another issuer.
    #[test]
    fn the_development_key_is_recognised_by_the_key_itself() {
        assert!(JwtSecret::hs256(DEV_JWT_KEY).is_development_key());
        assert!(!JwtSecret::hs256(KEY).is_development_key());
        let explicit = format!(r#"{{"type":"HS256","key":"{DEV_JWT_KEY}","issuer":"me"}}"#);
        assert!(
            JwtSecret::from_json(&explicit)
                .expect("valid")
                .is_development_key()
        );
        let custom = format!(r#"{{"type":"HS256","key":"{KEY}"}}"#);
        let custom = JwtSecret::from_json(&custom).expect("valid");
        assert!(!custom.is_development_key());
        assert_eq!(
            custom.issuer(),
            "hasura-auth",
            "same issuer as the default key"
        );
    }

    #[test]
    fn claims_have_the_hasura_shape() {
        let secret = JwtSecret::hs256(KEY);
        let id = Uuid::new_v4();
        let roles = vec!["anonymous".to_owned()];
        let subject = TokenSubject {
            user_id: id,
            default_role: "anonymous",
            roles: &roles,
            is_anonymous: true,
        };
        let token = secret.sign(&subject, 1_000, 4_000_000_000).expect("sign");
        let verified = secret.verify(&token).expect("valid");
        assert_eq!(verified.user_id, id);
        assert!(verified.is_anonymous);
        // The anonymous flag is a string, not a JSON boolean: Hasura session variables are strings.
        let payload = token.split('.').nth(1).expect("payload");
        use base64::Engine as _;
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(
            json[DEFAULT_CLAIMS_NAMESPACE]["x-hasura-user-is-anonymous"],
            "true"
        );
    }

    /// The claims are serialised by hand (no map of owned values per token): the payload must
    /// stay what `serde_json::json!` made of them, byte for byte, whatever the namespace.
    #[test]
    fn claims_serialise_as_the_json_map_did() {
        let roles = vec!["me".to_owned(), "user".to_owned()];
        let subject = TokenSubject {
            user_id: Uuid::new_v4(),
            default_role: "user",
            roles: &roles,
            is_anonymous: false,
        };
        for namespace in [DEFAULT_CLAIMS_NAMESPACE, "claims", "zzz", "a", "iss", "sub"] {
            let claims = Claims {
                namespace,
                issuer: "hasura-auth",
                subject: &subject,
                iat: 1_700_000_000,
                exp: 1_700_000_900,
            };
            let expected = serde_json::json!({
                namespace: {
                    "x-hasura-allowed-roles": subject.roles,
                    "x-hasura-default-role": subject.default_role,
                    "x-hasura-user-id": subject.user_id.to_string(),
                    "x-hasura-user-is-anonymous": "false",
                },
                "sub": subject.user_id.to_string(),
                "iss": "hasura-auth",
                "iat": 1_700_000_000,
                "exp": 1_700_000_900,
            });
            assert_eq!(
                serde_json::to_string(&claims).expect("serialises"),
                serde_json::to_string(&expected).expect("serialises"),
                "namespace {namespace}"
            );
        }
    }

    #[test]
    fn rejects_expired_wrong_key_and_alg_none() {
        let secret = JwtSecret::hs256(KEY);
        let roles = vec!["user".to_owned()];
        let subject = TokenSubject {
            user_id: Uuid::new_v4(),
            default_role: "user",
            roles: &roles,
            is_anonymous: false,
        };
        let expired = secret.sign(&subject, 1, 2).expect("sign");
        assert!(secret.verify(&expired).is_none());
        let other = JwtSecret::hs256("another-key-another-key-another-key!");
        let forged = other.sign(&subject, 1, 4_000_000_000).expect("sign");
        assert!(secret.verify(&forged).is_none());
        let good = secret.sign(&subject, 1, 4_000_000_000).expect("sign");
        let mut parts = good.split('.');
        let _ = parts.next();
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            parts.next().expect("payload")
        );
        assert!(secret.verify(&none).is_none());
    }

    #[test]
    fn rs256_signs_verifies_and_publishes_its_public_key() {
        let secret_json = serde_json::json!({
            "type": "RS256",
            "key": include_str!("../tests/fixtures/rs256-public.pem"),
            "signing_key": include_str!("../tests/fixtures/rs256-private.pem"),
            "kid": "test-key",
        })
        .to_string();
        let secret = JwtSecret::from_json(&secret_json).expect("valid RS256 secret");
        let roles = vec!["user".to_owned()];
        let id = Uuid::new_v4();
        let subject = TokenSubject {
            user_id: id,
            default_role: "user",
            roles: &roles,
            is_anonymous: false,
        };
        let token = secret.sign(&subject, 1, 4_000_000_000).expect("sign");
        assert_eq!(secret.verify(&token).map(|c| c.user_id), Some(id));
        assert_eq!(
            jsonwebtoken::decode_header(&token)
                .expect("header")
                .kid
                .as_deref(),
            Some("test-key")
        );
        let jwks = secret.jwks();
        let key = &jwks["keys"][0];
        for field in ["alg", "e", "kid", "kty", "n", "use"] {
            assert!(key[field].is_string(), "JWK lacks {field}: {key}");
        }
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert!(!format!("{secret:?}").contains("PRIVATE"));
        let no_private = serde_json::json!({"type": "RS256", "key": include_str!("../tests/fixtures/rs256-public.pem")});
        assert!(matches!(
            JwtSecret::from_json(&no_private.to_string()),
            Err(JwtSecretError::MissingSigningKey)
        ));
    }

    #[test]
    fn secret_json_is_checked() {
        assert!(matches!(
            JwtSecret::from_json("nope"),
            Err(JwtSecretError::Json(_))
        ));
        assert!(matches!(
            JwtSecret::from_json(r#"{"type":"HS256","key":"short"}"#),
            Err(JwtSecretError::ShortKey)
        ));
        assert!(matches!(
            JwtSecret::from_json(r#"{"type":"ES999","key":"0123456789abcdef0123456789abcdef"}"#),
            Err(JwtSecretError::Algorithm(_))
        ));
        let s = JwtSecret::from_json(&format!(
            r#"{{"type":"HS512","key":"{KEY}","issuer":"me"}}"#
        ))
        .expect("ok");
        assert_eq!(s.issuer(), "me");
        assert!(!format!("{s:?}").contains(KEY));
        assert_eq!(s.jwks(), serde_json::json!({"keys": []}));
    }
}
