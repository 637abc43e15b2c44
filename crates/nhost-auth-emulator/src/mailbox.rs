//! The development mailbox: where verification and magic-link emails go instead of SMTP.

use std::collections::VecDeque;
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
    /// The link to follow: `<server>/verify?ticket=…&type=…&redirectTo=…`, plus
    /// `&codeChallenge=…` when the request carried a PKCE challenge.
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

/// The most emails the mailbox keeps; older ones are dropped first.
pub const MAILBOX_MAX_EMAILS: usize = 1_000;

/// The most bytes of email the mailbox keeps (8 MiB); older emails are dropped first.
pub const MAILBOX_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The emails sent so far, newest last: at most [`MAILBOX_MAX_EMAILS`] and
/// [`MAILBOX_MAX_BYTES`], dropping the oldest first — a test that reads its email right after
/// sending it always finds it, and a loop of sign-ins cannot exhaust memory. Cheap to clone; all
/// clones share one mailbox.
#[derive(Debug, Clone, Default)]
pub struct Mailbox {
    inner: Arc<Mutex<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    emails: VecDeque<Email>,
    /// The sum of [`footprint`] over `emails`.
    bytes: usize,
}

/// What an email costs in memory, near enough: its strings and the struct itself.
fn footprint(e: &Email) -> usize {
    std::mem::size_of::<Email>()
        + e.to.len()
        + e.kind.len()
        + e.subject.len()
        + e.body.len()
        + e.link.len()
        + e.ticket.len()
        + e.redirect_to.len()
}

impl Mailbox {
    // A poisoned lock only means another thread panicked mid-operation; the queue is still valid.
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, email: Email) {
        let mut kept = self.lock();
        kept.bytes += footprint(&email);
        kept.emails.push_back(email);
        // The newest email always stays, even alone over the byte bound.
        while kept.emails.len() > 1
            && (kept.emails.len() > MAILBOX_MAX_EMAILS || kept.bytes > MAILBOX_MAX_BYTES)
        {
            if let Some(old) = kept.emails.pop_front() {
                kept.bytes -= footprint(&old);
            }
        }
    }

    /// Every email, oldest first.
    pub fn all(&self) -> Vec<Email> {
        self.lock().emails.iter().cloned().collect()
    }

    /// The emails sent to `to` (case-insensitive), oldest first.
    pub fn to(&self, to: &str) -> Vec<Email> {
        self.lock()
            .emails
            .iter()
            .filter(|e| e.to.eq_ignore_ascii_case(to))
            .cloned()
            .collect()
    }

    /// Empties the mailbox.
    pub fn clear(&self) {
        let mut kept = self.lock();
        kept.emails.clear();
        kept.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(n: usize, body_len: usize) -> Email {
        Email {
            to: format!("user{n}@example.com"),
            kind: "signinPasswordless".into(),
            subject: "Your magic link".into(),
            body: "b".repeat(body_len),
            link: format!("http://127.0.0.1:4000/verify?ticket=t{n}"),
            ticket: format!("passwordlessEmail:{n}"),
            redirect_to: "http://localhost:3000".into(),
            created_at: Utc::now(),
        }
    }

    /// Issue 16, item 5: the mailbox grew without bound.
    #[test]
    fn the_number_of_emails_is_bounded_oldest_dropped_first() {
        let m = Mailbox::default();
        for n in 0..1_500 {
            m.push(email(n, 10));
        }
        let all = m.all();
        assert!(all.len() <= MAILBOX_MAX_EMAILS, "{} emails kept", all.len());
        assert_eq!(
            all.last().map(|e| e.to.as_str()),
            Some("user1499@example.com")
        );
        assert!(
            m.to("user0@example.com").is_empty(),
            "the oldest went first"
        );
    }

    /// Issue 16, item 5: and in bytes.
    #[test]
    fn the_bytes_kept_are_bounded() {
        let m = Mailbox::default();
        for n in 0..600 {
            m.push(email(n, 64 * 1024));
        }
        let bytes: usize = m.all().iter().map(|e| e.body.len() + e.link.len()).sum();
        assert!(bytes <= MAILBOX_MAX_BYTES, "{bytes} bytes kept");
        assert_eq!(
            m.all().last().map(|e| e.to.as_str()),
            Some("user599@example.com")
        );
    }
}
