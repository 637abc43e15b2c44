//! The JSON the server sends: camelCase, with `email`/`phoneNumber` omitted when null.

use chrono::SecondsFormat;
use serde::Serialize;

use crate::store::UserRow;

/// `Session`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionJson {
    pub(crate) access_token: String,
    pub(crate) access_token_expires_in: u64,
    pub(crate) refresh_token: String,
    pub(crate) refresh_token_id: String,
    pub(crate) user: UserJson,
}

/// `User`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserJson {
    id: String,
    created_at: String,
    display_name: String,
    avatar_url: String,
    locale: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    is_anonymous: bool,
    default_role: String,
    roles: Vec<String>,
    metadata: serde_json::Value,
    email_verified: bool,
    phone_number_verified: bool,
    active_mfa_type: Option<String>,
}

impl From<UserRow> for UserJson {
    fn from(u: UserRow) -> Self {
        UserJson {
            id: u.id.to_string(),
            created_at: u.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            display_name: u.display_name,
            avatar_url: u.avatar_url,
            locale: u.locale,
            email: u.email,
            phone_number: u.phone_number,
            is_anonymous: u.is_anonymous,
            default_role: u.default_role,
            roles: u.roles,
            metadata: u.metadata.map(|j| j.0).unwrap_or(serde_json::Value::Null),
            email_verified: u.email_verified,
            phone_number_verified: u.phone_number_verified,
            active_mfa_type: u.active_mfa_type,
        }
    }
}
