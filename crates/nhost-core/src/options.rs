//! Options of the sign-in and sign-up calls, serialised exactly as the server expects them.

use serde::Serialize;

/// Optional profile of a new anonymous user.
///
/// ```
/// let options = nhost_core::SignInAnonymousOptions::default().display_name("Guest").locale("en");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SignInAnonymousOptions {
    /// Display name (the server's default: `Anonymous User`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Two-letter locale; a locale the server does not allow is replaced by its default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Free-form metadata (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SignInAnonymousOptions {
    /// Sets the display name.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
    /// Sets the locale.
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, metadata: serde_json::Map<String, serde_json::Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// Options of sign-up, deanonymization and magic links (the server's `SignUpOptions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SignUpOptions {
    /// Roles the user may use (a subset of the server's allowed roles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_roles: Option<Vec<String>>,
    /// The default role (one of `allowed_roles`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    /// Display name (the server's default: the email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Two-letter locale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Free-form metadata (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where the email's link leads after verification (must be allowed by the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
}

impl SignUpOptions {
    /// Sets the display name.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
    /// Sets the locale.
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }
    /// Sets the redirect target of the email's link.
    pub fn redirect_to(mut self, url: impl Into<String>) -> Self {
        self.redirect_to = Some(url.into());
        self
    }
    /// Sets the roles.
    pub fn roles(mut self, default_role: impl Into<String>, allowed_roles: Vec<String>) -> Self {
        self.default_role = Some(default_role.into());
        self.allowed_roles = Some(allowed_roles);
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, metadata: serde_json::Map<String, serde_json::Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// How an anonymous user becomes a registered one.
#[derive(Clone, PartialEq)]
pub enum DeanonymizeMethod {
    /// With an email and a password.
    EmailPassword {
        /// The email.
        email: String,
        /// The password.
        password: String,
    },
    /// With an email only: the user signs in again through a magic link.
    Passwordless {
        /// The email.
        email: String,
    },
}

impl std::fmt::Debug for DeanonymizeMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeanonymizeMethod::EmailPassword { email, .. } => f
                .debug_struct("EmailPassword")
                .field("email", email)
                .field("password", &"[redacted]")
                .finish(),
            DeanonymizeMethod::Passwordless { email } => f
                .debug_struct("Passwordless")
                .field("email", email)
                .finish(),
        }
    }
}
