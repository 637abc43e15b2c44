//! Group commit for SQLite's two hot writes: anonymous sign-ins and refresh-token rotations.
//!
//! SQLite has one writer, and every statement through `sqlx` costs a round trip to the
//! connection's thread. Under load, requests queue here; one task takes everything queued, writes
//! it in **one transaction** (new users as multi-row inserts), commits, and only then answers each
//! request. A 200 is therefore still only sent for data that is committed, and every rotation of
//! the batch is one `UPDATE … WHERE refresh_token_hash = old`, so two rotations of one token in
//! the same batch still give one winner.
//!
//! A batch of rotations only (the steady state of a busy server: clients refreshing) is one
//! statement and one round trip: an `UPDATE … RETURNING` that also returns each rotated token's
//! user (as a JSON array, decoded by the request's own task, off the writer), committed on its
//! own as SQLite commits every statement outside `BEGIN`. Nothing is answered before that
//! statement has finished, so a 200 still means committed.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{NewRefreshToken, NewUser, Rotation, UserRow, now};
use crate::tokens::new_row_id;

/// The most operations written in one transaction (bounded so one batch stays well under
/// SQLite's limit on bound parameters).
const MAX_BATCH: usize = 256;

enum Op {
    Create {
        user: Box<NewUser>,
        refresh: Option<NewRefreshToken>,
    },
    Rotate {
        old_hash: String,
        new_hash: String,
        expires_at: DateTime<Utc>,
    },
}

enum Outcome {
    Created(Box<UserRow>),
    Rotated(Rotated),
}

/// A rotation as the writer answers it: the user still to be decoded (by the request's task).
enum Rotated {
    Done {
        refresh_token_id: Uuid,
        user_id: Uuid,
        /// The user's columns as [`USER_JSON`] reads them.
        user: String,
    },
    Not(Rotation),
}

type Reply = oneshot::Sender<Result<Outcome, sqlx::Error>>;

/// The handle requests go through; the writer task ends when the last handle is dropped.
pub(super) struct Batcher {
    tx: mpsc::UnboundedSender<(Op, Reply)>,
}

fn writer_gone() -> sqlx::Error {
    sqlx::Error::PoolClosed
}

impl Batcher {
    /// Starts the writer task on `pool` (which should hold the one writer connection). The task
    /// holds `pause` while it writes a batch: whoever takes it (the WAL checkpointer) waits for
    /// the batch in flight and holds the next one back.
    pub(super) fn spawn(pool: SqlitePool, pause: Arc<tokio::sync::Mutex<()>>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, pause, rx));
        Batcher { tx }
    }

    async fn submit(&self, op: Op) -> Result<Outcome, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((op, reply)).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Writes a new user (with roles and its first refresh token) and returns its row.
    pub(super) async fn create_user(
        &self,
        user: NewUser,
        refresh: Option<NewRefreshToken>,
    ) -> Result<UserRow, sqlx::Error> {
        let user = Box::new(user);
        match self.submit(Op::Create { user, refresh }).await? {
            Outcome::Created(row) => Ok(*row),
            Outcome::Rotated(_) => unreachable!("a create is answered with a row"),
        }
    }

    /// Rotates a refresh token (see `Store::rotate_refresh_token`).
    pub(super) async fn rotate(
        &self,
        old_hash: String,
        new_hash: String,
        expires_at: DateTime<Utc>,
    ) -> Result<Rotation, sqlx::Error> {
        match self
            .submit(Op::Rotate {
                old_hash,
                new_hash,
                expires_at,
            })
            .await?
        {
            Outcome::Rotated(Rotated::Not(r)) => Ok(r),
            Outcome::Rotated(Rotated::Done {
                refresh_token_id,
                user_id,
                user,
            }) => Ok(Rotation::Rotated {
                refresh_token_id,
                user: Box::new(decode_user(user_id, &user)?),
            }),
            Outcome::Created(_) => unreachable!("a rotation is answered with a rotation"),
        }
    }
}

async fn writer(
    pool: SqlitePool,
    pause: Arc<tokio::sync::Mutex<()>>,
    mut rx: mpsc::UnboundedReceiver<(Op, Reply)>,
) {
    let mut batch: Vec<(Op, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        // Taken before the batch is gathered, so a pause also gathers what queued meanwhile.
        let _not_paused = pause.lock().await;
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.drain(..).unzip();
        match write(&pool, &ops).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            // A failed batch is rolled back whole; write each operation alone so every request
            // gets its own answer (and one bad operation cannot fail the others).
            Err(e) if ops.len() == 1 => {
                let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
            }
            Err(_) => {
                for (op, reply) in ops.into_iter().zip(replies) {
                    let result = write(&pool, std::slice::from_ref(&op))
                        .await
                        .map(|mut o| o.remove(0));
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// Writes `ops` in one transaction (or, for rotations only, one statement); the outcomes are in
/// the same order.
async fn write(pool: &SqlitePool, ops: &[Op]) -> Result<Vec<Outcome>, sqlx::Error> {
    let now = now();
    let creates: Vec<(&NewUser, Option<&NewRefreshToken>)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Create { user, refresh } => Some((&**user, refresh.as_ref())),
            Op::Rotate { .. } => None,
        })
        .collect();
    let rotations = if creates.is_empty() {
        // One statement, committed by itself: no BEGIN / COMMIT round trips.
        let mut conn = pool.acquire().await?;
        rotate_all(&mut conn, ops, now).await?
    } else {
        let mut tx = pool.begin().await?;
        insert_users(&mut tx, &creates, now).await?;
        let rotations = rotate_all(&mut tx, ops, now).await?;
        tx.commit().await?;
        rotations
    };
    let outcomes = ops
        .iter()
        .zip(rotations)
        .map(|(op, rotation)| match (op, rotation) {
            (Op::Create { user, .. }, _) => Outcome::Created(Box::new(user.to_row(now))),
            (_, Some(rotated)) => Outcome::Rotated(rotated),
            (Op::Rotate { .. }, None) => Outcome::Rotated(Rotated::Not(Rotation::Invalid)),
        })
        .collect();
    Ok(outcomes)
}

async fn insert_users(
    tx: &mut SqliteConnection,
    creates: &[(&NewUser, Option<&NewRefreshToken>)],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if creates.is_empty() {
        return Ok(());
    }
    let mut users = QueryBuilder::<Sqlite>::new(
        "INSERT INTO users (id, created_at, updated_at, display_name, locale, email, password_hash, \
         default_role, is_anonymous, metadata, ticket, ticket_expires_at) ",
    );
    users.push_values(creates, |mut row, (u, _)| {
        let (ticket, ticket_expires_at) = u.ticket_columns();
        row.push_bind(u.id)
            .push_bind(now)
            .push_bind(now)
            .push_bind(u.display_name.clone())
            .push_bind(u.locale.clone())
            .push_bind(u.email.clone())
            .push_bind(u.password_hash.clone())
            .push_bind(u.default_role.clone())
            .push_bind(u.is_anonymous)
            .push_bind(u.metadata.clone().map(sqlx::types::Json))
            .push_bind(ticket)
            .push_bind(ticket_expires_at);
    });
    users.build().execute(&mut *tx).await?;

    let roles: Vec<(Uuid, &String)> = creates
        .iter()
        .flat_map(|(u, _)| u.roles.iter().map(|r| (u.id, r)))
        .collect();
    if !roles.is_empty() {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO user_roles (id, created_at, user_id, role) ");
        q.push_values(roles, |mut row, (user_id, role)| {
            row.push_bind(new_row_id())
                .push_bind(now)
                .push_bind(user_id)
                .push_bind(role.clone());
        });
        q.build().execute(&mut *tx).await?;
    }

    let tokens: Vec<(Uuid, &NewRefreshToken)> = creates
        .iter()
        .filter_map(|(u, r)| r.map(|r| (u.id, r)))
        .collect();
    if !tokens.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO refresh_tokens (id, created_at, expires_at, user_id, refresh_token_hash) ",
        );
        q.push_values(tokens, |mut row, (user_id, r)| {
            row.push_bind(r.id)
                .push_bind(now)
                .push_bind(r.expires_at)
                .push_bind(user_id)
                .push_bind(r.hash.clone());
        });
        q.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Every rotation of the batch in one `UPDATE`; per operation (`None` for creates): the rotated
/// token's row id and user, or why not.
///
/// Strictness is kept: the `UPDATE` matches a row only while it still holds the old hash, and
/// when one old token appears twice in a batch only its first occurrence takes part — the later
/// ones fail like the loser of a race.
async fn rotate_all(
    tx: &mut SqliteConnection,
    ops: &[Op],
    now: DateTime<Utc>,
) -> Result<Vec<Option<Rotated>>, sqlx::Error> {
    let mut seen = std::collections::HashSet::new();
    // (index in ops, old, new, expiry) of the rotations that take part.
    let mut taking_part = Vec::new();
    let mut results: Vec<Option<Rotated>> = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Create { .. } => results.push(None),
            Op::Rotate {
                old_hash,
                new_hash,
                expires_at,
            } => {
                results.push(Some(Rotated::Not(Rotation::Invalid)));
                if seen.insert(old_hash.as_str()) {
                    taking_part.push((i, old_hash, new_hash, *expires_at));
                }
            }
        }
    }
    if taking_part.is_empty() {
        return Ok(results);
    }
    // `OR IGNORE`: a new hash colliding with a stored one (122 random bits: never in practice)
    // skips that row, so the rotation fails (401) rather than the whole statement. With no way
    // to fail half-way, SQLite keeps no statement journal for it, which it otherwise writes to a
    // temporary file for every batch: the page images the statement could have to undo.
    let mut q = QueryBuilder::<Sqlite>::new(
        "UPDATE OR IGNORE refresh_tokens SET refresh_token_hash = CASE refresh_token_hash",
    );
    for (_, old, new, _) in &taking_part {
        q.push(" WHEN ")
            .push_bind(old.as_str())
            .push(" THEN ")
            .push_bind(new.as_str());
    }
    q.push(" END, expires_at = CASE refresh_token_hash");
    for (_, old, _, expires_at) in &taking_part {
        q.push(" WHEN ")
            .push_bind(old.as_str())
            .push(" THEN ")
            .push_bind(*expires_at);
    }
    q.push(" END WHERE refresh_token_hash IN (");
    let mut list = q.separated(", ");
    for (_, old, _, _) in &taking_part {
        list.push_bind(old.as_str());
    }
    q.push(") AND expires_at > ")
        .push_bind(now)
        .push(" AND type = 'regular' AND EXISTS (SELECT 1 FROM users u WHERE u.id = refresh_tokens.user_id AND u.disabled = ")
        .push_bind(false)
        .push(") RETURNING id, user_id, refresh_token_hash, ")
        .push(USER_JSON);
    let rotated: Vec<(Uuid, Uuid, String, Option<String>)> =
        q.build_query_as().fetch_all(&mut *tx).await?;
    let mut by_new_hash: HashMap<String, (Uuid, Uuid, Option<String>)> = rotated
        .into_iter()
        .map(|(id, user_id, hash, user)| (hash, (id, user_id, user)))
        .collect();
    for (i, old, new, _) in taking_part {
        results[i] = Some(match by_new_hash.remove(new.as_str()) {
            Some((refresh_token_id, user_id, Some(user))) => Rotated::Done {
                refresh_token_id,
                user_id,
                user,
            },
            Some((_, _, None)) => Rotated::Not(Rotation::Invalid),
            None => Rotated::Not(why_not(tx, old, now).await?),
        });
    }
    Ok(results)
}

/// Only on the failure path: tells a disabled user from an invalid token.
async fn why_not(
    tx: &mut SqliteConnection,
    old_hash: &str,
    now: DateTime<Utc>,
) -> Result<Rotation, sqlx::Error> {
    let disabled: Option<(bool,)> = sqlx::query_as(
        "SELECT u.disabled FROM refresh_tokens r JOIN users u ON u.id = r.user_id \
         WHERE r.refresh_token_hash = $1 AND r.expires_at > $2",
    )
    .bind(old_hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match disabled {
        Some((true,)) => Rotation::Disabled,
        _ => Rotation::Invalid,
    })
}

/// The user of a `refresh_tokens` row as one JSON array, for a `RETURNING` clause: the columns of
/// [`UserRow`] but its id, in order, then the user's roles. Booleans come as 0 or 1; `metadata`
/// as the text it is stored as, decoded as sqlx decodes the column.
const USER_JSON: &str = "(SELECT json_array(u.created_at, u.display_name, u.avatar_url, u.locale, \
     u.email, u.phone_number, u.password_hash, u.email_verified, u.phone_number_verified, \
     u.default_role, u.is_anonymous, u.disabled, u.metadata, u.active_mfa_type, \
     (SELECT json_group_array(r.role) FROM user_roles r WHERE r.user_id = u.id)) \
     FROM users u WHERE u.id = refresh_tokens.user_id)";

/// What [`USER_JSON`] holds.
type UserColumns = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    u8,
    u8,
    String,
    u8,
    u8,
    Option<String>,
    Option<String>,
    Vec<String>,
);

/// Decodes [`USER_JSON`] into the row it describes. Every row was written by this emulator through
/// sqlx, so this fails only on a database edited by hand; the rotation is committed by then, and
/// the request answers 500 (as when any answer is lost after the commit).
fn decode_user(id: Uuid, json: &str) -> Result<UserRow, sqlx::Error> {
    let bad = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(e);
    let (
        created_at,
        display_name,
        avatar_url,
        locale,
        email,
        phone_number,
        password_hash,
        email_verified,
        phone_number_verified,
        default_role,
        is_anonymous,
        disabled,
        metadata,
        active_mfa_type,
        mut roles,
    ): UserColumns = serde_json::from_str(json).map_err(|e| bad(e.into()))?;
    // As the other queries read roles: `ORDER BY role` (SQLite's BINARY collation: bytes).
    roles.sort_unstable();
    Ok(UserRow {
        id,
        // Written by sqlx's encoder, which writes RFC 3339.
        created_at: DateTime::parse_from_rfc3339(&created_at)
            .map_err(|e| bad(e.into()))?
            .with_timezone(&Utc),
        display_name,
        avatar_url,
        locale,
        email,
        phone_number,
        password_hash,
        email_verified: email_verified != 0,
        phone_number_verified: phone_number_verified != 0,
        default_role,
        is_anonymous: is_anonymous != 0,
        disabled: disabled != 0,
        metadata: metadata
            .map(|m| serde_json::from_str(&m).map(sqlx::types::Json))
            .transpose()
            .map_err(|e| bad(e.into()))?,
        active_mfa_type,
        roles,
    })
}
