//! The development mailbox: where verification and magic-link emails go instead of SMTP.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One email the emulator "sent". Its `Debug` hides the ticket (a one-time secret).
#[derive(Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Email {
    /// Recipient.
    pub to: String,
    /// `emailVerify` or `signinPasswordless` (the `/verify` link's `type`).
    pub kind: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The link to follow: `<server>/verify?ticket=…&type=…&redirectTo=…`.
    pub link: String,
    /// The one-time ticket inside the link.
    pub ticket: String,
    /// Where `/verify` will redirect.
    pub redirect_to: String,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .field("ticket", &"[redacted]")
            .field("redirect_to", &self.redirect_to)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The emails sent so far, newest last. Cheap to clone; all clones share one mailbox.
#[derive(Debug, Clone, Default)]
pub struct Mailbox {
    inner: Arc<Mutex<Vec<Email>>>,
}

impl Mailbox {
    pub(crate) fn push(&self, email: Email) {
        // A poisoned lock only means another thread panicked mid-push; the Vec is still valid.
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(email);
    }

    /// Every email, oldest first.
    pub fn all(&self) -> Vec<Email> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The emails sent to `to` (case-insensitive), oldest first.
    pub fn to(&self, to: &str) -> Vec<Email> {
        self.all()
            .into_iter()
            .filter(|e| e.to.eq_ignore_ascii_case(to))
            .collect()
    }

    /// Empties the mailbox.
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
