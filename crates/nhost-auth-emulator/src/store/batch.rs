//! Group commit for SQLite's two hot writes: anonymous sign-ins and refresh-token rotations.
//!
//! SQLite has one writer, and every statement through `sqlx` costs a round trip to the
//! connection's thread. Under load, requests queue here; one task takes everything queued, writes
//! it in **one transaction** (new users as multi-row inserts), commits, and only then answers each
//! request. A 200 is therefore still only sent for data that is committed, and rotations still run
//! one `UPDATE … WHERE refresh_token_hash = old` each, in arrival order, so two rotations of one
//! token in the same batch still give one winner.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{NewRefreshToken, NewUser, Rotation, USER_COLUMNS, UserRow, UserWithRole, now};
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
    Rotated(Rotation),
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
    /// Starts the writer task on `pool` (which should hold the one writer connection).
    pub(super) fn spawn(pool: SqlitePool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, rx));
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
            Outcome::Rotated(r) => Ok(r),
            Outcome::Created(_) => unreachable!("a rotation is answered with a rotation"),
        }
    }
}

async fn writer(pool: SqlitePool, mut rx: mpsc::UnboundedReceiver<(Op, Reply)>) {
    let mut batch: Vec<(Op, Reply)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
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

/// Writes `ops` in one transaction; the outcomes are in the same order.
async fn write(pool: &SqlitePool, ops: &[Op]) -> Result<Vec<Outcome>, sqlx::Error> {
    let now = now();
    let mut tx = pool.begin().await?;
    let creates: Vec<(&NewUser, Option<&NewRefreshToken>)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Create { user, refresh } => Some((&**user, refresh.as_ref())),
            Op::Rotate { .. } => None,
        })
        .collect();
    insert_users(&mut tx, &creates, now).await?;

    let rotations = rotate_all(&mut tx, ops, now).await?;
    let mut rotated_users: Vec<Uuid> = rotations
        .iter()
        .filter_map(|r| match r {
            Some(Ok((_, user_id))) => Some(*user_id),
            _ => None,
        })
        .collect();
    rotated_users.sort_unstable();
    rotated_users.dedup();
    let users = users_by_id(&mut tx, &rotated_users).await?;
    tx.commit().await?;

    let outcomes = ops
        .iter()
        .zip(rotations)
        .map(|(op, rotation)| match (op, rotation) {
            (Op::Create { user, .. }, _) => Outcome::Created(Box::new(user.to_row(now))),
            // One user may have several rotations in a batch (one per session): each gets its
            // own copy of the row. (Taking the row out of the map answered only the first one;
            // the others got 401 for tokens that had been rotated and committed — issue 16.)
            (_, Some(Ok((refresh_token_id, user_id)))) => match users.get(&user_id) {
                Some(user) => Outcome::Rotated(Rotation::Rotated {
                    refresh_token_id,
                    user: Box::new(user.clone()),
                }),
                None => Outcome::Rotated(Rotation::Invalid),
            },
            (_, Some(Err(rotation))) => Outcome::Rotated(rotation),
            (Op::Rotate { .. }, None) => Outcome::Rotated(Rotation::Invalid),
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

/// Every rotation of the batch in one `UPDATE`; per operation (`None` for creates):
/// `Ok((refresh_token_id, user_id))`, or why not.
///
/// Strictness is kept: the `UPDATE` matches a row only while it still holds the old hash, and
/// when one old token appears twice in a batch only its first occurrence takes part — the later
/// ones fail like the loser of a race.
async fn rotate_all(
    tx: &mut SqliteConnection,
    ops: &[Op],
    now: DateTime<Utc>,
) -> Result<Vec<Option<Result<(Uuid, Uuid), Rotation>>>, sqlx::Error> {
    let mut seen = std::collections::HashSet::new();
    // (index in ops, old, new, expiry) of the rotations that take part.
    let mut taking_part = Vec::new();
    let mut results: Vec<Option<Result<(Uuid, Uuid), Rotation>>> = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Create { .. } => results.push(None),
            Op::Rotate {
                old_hash,
                new_hash,
                expires_at,
            } => {
                results.push(Some(Err(Rotation::Invalid)));
                if seen.insert(old_hash.as_str()) {
                    taking_part.push((i, old_hash, new_hash, *expires_at));
                }
            }
        }
    }
    if taking_part.is_empty() {
        return Ok(results);
    }
    let mut q = QueryBuilder::<Sqlite>::new(
        "UPDATE refresh_tokens SET refresh_token_hash = CASE refresh_token_hash",
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
        .push(") RETURNING id, user_id, refresh_token_hash");
    let rotated: Vec<(Uuid, Uuid, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
    let by_new_hash: HashMap<String, (Uuid, Uuid)> = rotated
        .into_iter()
        .map(|(id, user_id, hash)| (hash, (id, user_id)))
        .collect();
    for (i, old, new, _) in taking_part {
        results[i] = Some(match by_new_hash.get(new.as_str()) {
            Some(ids) => Ok(*ids),
            None => Err(why_not(tx, old, now).await?),
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

/// The users with these ids, with roles, in one query.
async fn users_by_id(
    tx: &mut SqliteConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, UserRow>, sqlx::Error> {
    let mut users: HashMap<Uuid, UserRow> = HashMap::new();
    if ids.is_empty() {
        return Ok(users);
    }
    let columns = USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {columns}, r.role FROM users u LEFT JOIN user_roles r ON r.user_id = u.id WHERE u.id IN ("
    ));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(") ORDER BY r.role");
    let rows: Vec<UserWithRole> = q.build_query_as().fetch_all(&mut *tx).await?;
    for row in rows {
        let role = row.role;
        let user = users.entry(row.user.id).or_insert(row.user);
        if let Some(role) = role {
            user.roles.push(role);
        }
    }
    Ok(users)
}
