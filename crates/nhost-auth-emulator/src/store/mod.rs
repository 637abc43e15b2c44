//! Users and refresh tokens in SQLite or PostgreSQL, through `sqlx`.
//!
//! Both databases run the same SQL text: placeholders are `$N` (SQLite understands them too),
//! timestamps are bound from Rust (no `now()`), and PostgreSQL connections put `auth` first on
//! the `search_path`, so unqualified table names find hasura-auth's schema.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use uuid::Uuid;

use crate::config::Database;
use crate::tokens::new_row_id;

mod batch;

/// Runs `$body` with `$p` bound to whichever pool the store holds; the body is compiled once per
/// database, so the same query text is type-checked against both drivers.
macro_rules! with_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database behind the emulator.
pub(crate) struct Store {
    /// Writes (and, except for a SQLite file, reads).
    pool: Pool,
    /// Reads. For a SQLite file: read-only connections beside the one writer, which WAL lets
    /// run while the writer writes.
    reads: Pool,
    /// SQLite only: the group-commit writer for the two hot writes (anonymous sign-in, refresh).
    batcher: Option<batch::Batcher>,
    /// SQLite file only: the background WAL checkpointer, and its connection.
    checkpoints: Option<(tokio::task::JoinHandle<()>, SqlitePool)>,
    /// SQLite file only: the database file, opened once more for the checkpointer's own fsync.
    /// [`Store::close`] closes it after every connection: closing any descriptor of a file drops
    /// every POSIX lock the process holds on it, SQLite's included (its shared lock on the
    /// database, which keeps another process from deleting the WAL under it). A store dropped
    /// without `close` leaves it to the checkpointer task, which keeps it, with its own
    /// connection, until the runtime drops the task.
    database_file: std::sync::Mutex<Option<Arc<std::fs::File>>>,
}

/// Past this many frames in the WAL (~64 MiB at 4 KiB pages: a few seconds of refreshes at full
/// speed), the checkpointer makes the WAL start over. Kept under the writer's
/// `journal_size_limit` ([`WAL_SIZE_LIMIT`]), so under load the WAL file never grows past it and
/// the writer never has to truncate it (an `ftruncate` of 128 to 64 MiB took the writer
/// 27–35 ms). Each start-over pauses the writer for a few milliseconds, whatever the WAL's
/// length: fewer of them, fewer pauses.
const RESTART_AT_FRAMES: i64 = 16_384;

/// The writer's `journal_size_limit`: a WAL file longer than this is cut back to it when the WAL
/// starts over (after a burst that [`RESTART_AT_FRAMES`] could not contain).
const WAL_SIZE_LIMIT: &str = "134217728";

/// Past this many frames (~256 MiB), when the short catch-up keeps failing (a reader holding an
/// old snapshot, a long transaction on the writer outside the batches), a `RESTART` checkpoint
/// waits for them: the WAL stays bounded whatever the load.
const FORCE_RESTART_AT_FRAMES: i64 = 65_536;

/// Copies the WAL into the database file every half second without blocking the writer
/// (`PASSIVE`), and makes the WAL start over once it is past [`RESTART_AT_FRAMES`] frames.
///
/// Under sustained writes a passive checkpoint never quite catches up (the writer appends while
/// it copies), and the WAL only starts over after one that did: SQLite's writer begins at frame
/// 1 again when it starts a transaction and finds every frame copied. So past the threshold:
///
/// 1. the checkpointer fsyncs the database file itself (`database_file`): a passive checkpoint
///    that did not catch up does not, so the pages of every checkpoint since the last start-over
///    are still to be written out, and the one fsync that SQLite does below would write them
///    all while the writer waits (the pause was 15–38 ms with them, 12–14 ms without, timed
///    once at ~14,000 refreshes/s);
/// 2. one more passive checkpoint copies what the last one left;
/// 3. it takes `pause` — the writer holds it for each batch, so this waits for the batch in
///    flight and holds the next one back — and runs a last passive checkpoint, which now catches
///    up: it copies the frames written during step 2, fsyncs the WAL and the database file
///    (little to write in either), and the writer's next batch starts the WAL over. The writer
///    waits for exactly this step and resumes the moment `pause` is released.
///
/// It used to be a `RESTART` checkpoint. That takes SQLite's write lock itself; the writer,
/// finding it busy, slept through SQLite's busy-handler back-off (1, 2, 5, 10, 15, 20, 25, 25
/// ms …) while the checkpoint copied and fsynced 5 s worth of pages, and woke up to 25 ms after
/// it had finished: stalls of 80–120 ms (strace of `benches/wrk.sh`, 2026-12-04).
///
/// Every fsync SQLite did before is still done (WAL before copying, database file before the
/// WAL starts over); the one in step 1 is extra.
async fn checkpoint_now_and_then(
    pool: SqlitePool,
    pause: Arc<tokio::sync::Mutex<()>>,
    database_file: Arc<std::fs::File>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let result = async {
            let (_, frames, _) = checkpoint(&pool, "PASSIVE").await?;
            if frames < RESTART_AT_FRAMES {
                return Ok(());
            }
            sync_data(&database_file).await?;
            checkpoint(&pool, "PASSIVE").await?;
            let _writer_paused = pause.lock().await;
            let (_, log, copied) = checkpoint(&pool, "PASSIVE").await?;
            if log > copied && log >= FORCE_RESTART_AT_FRAMES {
                checkpoint(&pool, "RESTART").await?;
            }
            Ok(())
        }
        .await;
        match result {
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            Ok(()) => {}
        }
    }
}

/// `fdatasync` of the database file, on a blocking thread.
async fn sync_data(file: &Arc<std::fs::File>) -> Result<(), sqlx::Error> {
    let file = Arc::clone(file);
    tokio::task::spawn_blocking(move || file.sync_data())
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
        .map_err(sqlx::Error::Io)
}

/// `PRAGMA wal_checkpoint(mode)`: (busy, frames in the WAL, frames copied to the database).
async fn checkpoint(pool: &SqlitePool, mode: &str) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(pool)
        .await
}

/// A user, as the handlers need it.
#[derive(Clone, sqlx::FromRow)] // no Debug: it holds the password hash
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) display_name: String,
    pub(crate) avatar_url: String,
    pub(crate) locale: String,
    pub(crate) email: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) password_hash: Option<String>,
    pub(crate) email_verified: bool,
    pub(crate) phone_number_verified: bool,
    pub(crate) default_role: String,
    pub(crate) is_anonymous: bool,
    pub(crate) disabled: bool,
    pub(crate) metadata: Option<Json<serde_json::Value>>,
    pub(crate) active_mfa_type: Option<String>,
    #[sqlx(skip)]
    pub(crate) roles: Vec<String>,
}

pub(super) const USER_COLUMNS: &str = "id, created_at, display_name, avatar_url, locale, email, phone_number, password_hash, \
     email_verified, phone_number_verified, default_role, is_anonymous, disabled, metadata, active_mfa_type";

#[derive(sqlx::FromRow)]
pub(super) struct UserWithRole {
    #[sqlx(flatten)]
    pub(super) user: UserRow,
    pub(super) role: Option<String>,
}

/// A user to create.
#[derive(Clone)]
pub(crate) struct NewUser {
    pub(crate) id: Uuid,
    pub(crate) display_name: String,
    pub(crate) locale: String,
    pub(crate) email: Option<String>,
    pub(crate) password_hash: Option<String>,
    pub(crate) default_role: String,
    pub(crate) roles: Vec<String>,
    pub(crate) is_anonymous: bool,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) ticket: Option<(String, DateTime<Utc>)>,
}

impl NewUser {
    /// The row this user becomes when written at `now`.
    pub(crate) fn to_row(&self, now: DateTime<Utc>) -> UserRow {
        UserRow {
            id: self.id,
            created_at: now,
            display_name: self.display_name.clone(),
            avatar_url: String::new(),
            locale: self.locale.clone(),
            email: self.email.clone(),
            phone_number: None,
            password_hash: self.password_hash.clone(),
            email_verified: false,
            phone_number_verified: false,
            default_role: self.default_role.clone(),
            is_anonymous: self.is_anonymous,
            disabled: false,
            metadata: self.metadata.clone().map(Json),
            active_mfa_type: None,
            roles: self.roles.clone(),
        }
    }

    /// `ticket` and `ticket_expires_at` as stored (the column is NOT NULL, as upstream).
    fn ticket_columns(&self) -> (Option<String>, DateTime<Utc>) {
        match &self.ticket {
            Some((t, e)) => (Some(t.clone()), *e),
            None => (None, epoch()),
        }
    }
}

/// A refresh token to store: only its hash.
#[derive(Clone)]
pub(crate) struct NewRefreshToken {
    pub(crate) id: Uuid,
    pub(crate) hash: String,
    pub(crate) expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
pub(crate) enum Rotation {
    /// The token was valid and now has `new_hash`; the row (and its id) stays the same.
    Rotated {
        refresh_token_id: Uuid,
        user: Box<UserRow>,
    },
    /// Unknown, already rotated, expired, or lost a race.
    Invalid,
    /// The token is valid but its user is disabled; nothing was rotated.
    Disabled,
}

/// The changes `POST /user/deanonymize` makes.
pub(crate) struct Deanonymize {
    pub(crate) user_id: Uuid,
    pub(crate) email: String,
    pub(crate) password_hash: Option<String>,
    pub(crate) display_name: String,
    pub(crate) locale: String,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) default_role: String,
    pub(crate) roles: Vec<String>,
    /// Set when the user must confirm by email: the ticket, and every refresh token is revoked.
    pub(crate) ticket: Option<(String, DateTime<Utc>)>,
}

/// A unique constraint said no: the email belongs to someone else.
#[derive(Debug)]
pub(crate) struct EmailTaken;

/// The current time at the precision both databases keep (microseconds), so values read back compare equal.
pub(crate) fn now() -> DateTime<Utc> {
    let n = Utc::now();
    DateTime::from_timestamp_micros(n.timestamp_micros()).unwrap_or(n)
}

/// A date far in the past, for "no ticket" (the column is NOT NULL, as upstream).
fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A pool of exactly one long-lived connection.
async fn single_connection(options: SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
}

impl Store {
    /// Opens (creating if needed) the database and applies the embedded migrations.
    pub(crate) async fn connect(database: &Database) -> Result<Self, sqlx::Error> {
        match database {
            Database::Postgres(url) => {
                // No space after the comma: sqlx passes this as `-c search_path=…` unquoted.
                let options =
                    PgConnectOptions::from_str(url)?.options([("search_path", "auth,public")]);
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                // sqlx keeps its `_sqlx_migrations` table in the first schema of the search
                // path that exists. Without this, a fresh database has no `auth` yet, the table
                // lands in `public`, and on the next start (`auth` now exists) sqlx looks in
                // `auth`, finds no history and runs the first migration again, which fails: the
                // emulator could not restart on its own PostgreSQL database.
                sqlx::query("CREATE SCHEMA IF NOT EXISTS auth")
                    .execute(&pool)
                    .await?;
                sqlx::migrate!("migrations/postgres").run(&pool).await?;
                let pool = Pool::Postgres(pool);
                Ok(Store {
                    reads: pool.clone(),
                    pool,
                    batcher: None,
                    checkpoints: None,
                    database_file: std::sync::Mutex::new(None),
                })
            }
            Database::SqliteMemory => {
                // An in-memory database exists only inside its connection: one connection for
                // everything.
                let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
                let pool = single_connection(options).await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                let batcher = batch::Batcher::spawn(pool.clone(), Arc::default());
                let pool = Pool::Sqlite(pool);
                Ok(Store {
                    reads: pool.clone(),
                    pool,
                    batcher: Some(batcher),
                    checkpoints: None,
                    database_file: std::sync::Mutex::new(None),
                })
            }
            Database::SqliteFile(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // With WAL, NORMAL syncs at checkpoints: a commit survives a killed process
                    // (it is in the WAL file), which is the durability a dev server needs.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                // One writer connection (SQLite has one writer anyway: writes queue on the pool
                // instead of spinning on SQLITE_BUSY), and read-only connections beside it.
                // The writer never checkpoints (a checkpoint fsyncs the database file, stalling
                // every request queued behind it); a separate connection does, in the background.
                // Temporary files in memory: a statement journal (the page images a statement
                // that fails half-way must undo; a multi-row INSERT of a batch of sign-ins keeps
                // one) would otherwise be written to a new file in /var/tmp for every batch.
                let writer = single_connection(
                    options
                        .clone()
                        .pragma("wal_autocheckpoint", "0")
                        .pragma("journal_size_limit", WAL_SIZE_LIMIT)
                        .pragma("temp_store", "memory"),
                )
                .await?;
                sqlx::migrate!("migrations/sqlite").run(&writer).await?;
                let checkpointer = single_connection(options.clone()).await?;
                // The writer holds it for each batch; the checkpointer, to pause the writer while
                // the WAL starts over (see `checkpoint_now_and_then`).
                let pause = Arc::new(tokio::sync::Mutex::new(()));
                let database_file = Arc::new(std::fs::File::open(path).map_err(sqlx::Error::Io)?);
                let checkpoints = tokio::spawn(checkpoint_now_and_then(
                    checkpointer.clone(),
                    Arc::clone(&pause),
                    Arc::clone(&database_file),
                ));
                let reads = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.read_only(true))
                    .await?;
                let batcher = batch::Batcher::spawn(writer.clone(), pause);
                Ok(Store {
                    pool: Pool::Sqlite(writer),
                    reads: Pool::Sqlite(reads),
                    batcher: Some(batcher),
                    checkpoints: Some((checkpoints, checkpointer)),
                    database_file: std::sync::Mutex::new(Some(database_file)),
                })
            }
        }
    }

    /// Closes every connection (flushing SQLite's WAL).
    pub(crate) async fn close(&self) {
        if let Some((task, _)) = &self.checkpoints {
            task.abort();
        }
        with_pool!(&self.reads, p => p.close().await);
        with_pool!(&self.pool, p => p.close().await);
        if let Some((_, checkpointer)) = &self.checkpoints {
            checkpointer.close().await;
        }
        // Every connection is closed: SQLite holds no lock on the file any more.
        drop(
            self.database_file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
    }

    /// Creates a user with its roles and, if given, its first refresh token, in one transaction,
    /// and returns the stored row (built from what was written: no second round trip).
    pub(crate) async fn create_user(
        &self,
        user: &NewUser,
        refresh: Option<&NewRefreshToken>,
    ) -> Result<Result<UserRow, EmailTaken>, sqlx::Error> {
        // Users without an email cannot collide on anything: the hot path, group-committed.
        if let (Some(batcher), None) = (&self.batcher, &user.email) {
            return batcher
                .create_user(user.clone(), refresh.cloned())
                .await
                .map(Ok);
        }
        let now = now();
        let (ticket, ticket_expires_at) = match &user.ticket {
            Some((t, e)) => (Some(t.as_str()), *e),
            None => (None, epoch()),
        };
        let result: Result<(), sqlx::Error> = with_pool!(&self.pool, p => async {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO users (id, created_at, updated_at, display_name, locale, email, password_hash, \
                 default_role, is_anonymous, metadata, ticket, ticket_expires_at) \
                 VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(user.id)
            .bind(now)
            .bind(&user.display_name)
            .bind(&user.locale)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(&user.default_role)
            .bind(user.is_anonymous)
            .bind(user.metadata.as_ref().map(Json))
            .bind(ticket)
            .bind(ticket_expires_at)
            .execute(&mut *tx)
            .await?;
            for role in &user.roles {
                sqlx::query("INSERT INTO user_roles (id, created_at, user_id, role) VALUES ($1, $2, $3, $4)")
                    .bind(new_row_id())
                    .bind(now)
                    .bind(user.id)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(r) = refresh {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, created_at, expires_at, user_id, refresh_token_hash) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(r.id)
                .bind(now)
                .bind(r.expires_at)
                .bind(user.id)
                .bind(&r.hash)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        .await);
        let row = user.to_row(now);
        match result {
            Ok(()) => Ok(Ok(row)),
            Err(e) if is_unique_violation(&e) => Ok(Err(EmailTaken)),
            Err(e) => Err(e),
        }
    }

    /// Stores a new refresh token for an existing user.
    pub(crate) async fn insert_refresh_token(
        &self,
        user_id: Uuid,
        r: &NewRefreshToken,
    ) -> Result<(), sqlx::Error> {
        with_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO refresh_tokens (id, created_at, expires_at, user_id, refresh_token_hash) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(r.id)
            .bind(now())
            .bind(r.expires_at)
            .bind(user_id)
            .bind(&r.hash)
            .execute(p)
            .await
            .map(drop)
        })
    }

    /// Strict rotation: replaces `old_hash` by `new_hash` in the same row, sliding the expiry.
    ///
    /// The single `UPDATE … WHERE refresh_token_hash = old` is what makes two concurrent
    /// refreshes with one token produce exactly one winner: the database serialises the two
    /// updates, and the second one no longer matches any row.
    pub(crate) async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: DateTime<Utc>,
    ) -> Result<Rotation, sqlx::Error> {
        if let Some(batcher) = &self.batcher {
            return batcher
                .rotate(old_hash.to_owned(), new_hash.to_owned(), new_expires_at)
                .await;
        }
        let now = now();
        let rotated: Option<(Uuid, Uuid)> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "UPDATE refresh_tokens SET refresh_token_hash = $1, expires_at = $2 \
                 WHERE refresh_token_hash = $3 AND expires_at > $4 AND type = 'regular' \
                 AND EXISTS (SELECT 1 FROM users u WHERE u.id = refresh_tokens.user_id AND u.disabled = $5) \
                 RETURNING id, user_id",
            )
            .bind(new_hash)
            .bind(new_expires_at)
            .bind(old_hash)
            .bind(now)
            .bind(false)
            .fetch_optional(p)
            .await?
        });
        let Some((refresh_token_id, user_id)) = rotated else {
            // Only on the failure path: tell a disabled user from an invalid token.
            let disabled: Option<(bool,)> = with_pool!(&self.reads, p => {
                sqlx::query_as(
                    "SELECT u.disabled FROM refresh_tokens r JOIN users u ON u.id = r.user_id \
                     WHERE r.refresh_token_hash = $1 AND r.expires_at > $2",
                )
                .bind(old_hash)
                .bind(now)
                .fetch_optional(p)
                .await?
            });
            return Ok(match disabled {
                Some((true,)) => Rotation::Disabled,
                _ => Rotation::Invalid,
            });
        };
        match self.user_by_id(user_id).await? {
            Some(user) => Ok(Rotation::Rotated {
                refresh_token_id,
                user: Box::new(user),
            }),
            None => Ok(Rotation::Invalid),
        }
    }

    /// The user matching `condition` (on alias `u`, bound to `$1`), with roles, in one round trip:
    /// a join gives one row per role.
    async fn user_where<T>(&self, condition: &str, value: T) -> Result<Option<UserRow>, sqlx::Error>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Clone,
    {
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, r.role FROM users u LEFT JOIN user_roles r ON r.user_id = u.id \
             WHERE {condition} ORDER BY r.role"
        );
        let rows: Vec<UserWithRole> = with_pool!(&self.reads, p => sqlx::query_as(&sql).bind(value.clone()).fetch_all(p).await?);
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let mut user = first.user;
        user.roles = first
            .role
            .into_iter()
            .chain(rows.filter_map(|r| r.role))
            .collect();
        Ok(Some(user))
    }

    /// The user with this id, with roles.
    pub(crate) async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
        self.user_where("u.id = $1", id).await
    }

    /// The user with this email (case-insensitive), with roles.
    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
        self.user_where("lower(u.email) = lower($1)", email.to_owned())
            .await
    }

    /// Deletes one refresh token by hash; `true` if it existed.
    pub(crate) async fn delete_refresh_token(&self, hash: &str) -> Result<bool, sqlx::Error> {
        with_pool!(&self.pool, p => {
            sqlx::query("DELETE FROM refresh_tokens WHERE refresh_token_hash = $1")
                .bind(hash)
                .execute(p)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    /// Deletes every regular refresh token of a user.
    pub(crate) async fn delete_user_refresh_tokens(
        &self,
        user_id: Uuid,
    ) -> Result<u64, sqlx::Error> {
        with_pool!(&self.pool, p => {
            sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND type = 'regular'")
                .bind(user_id)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
    }

    /// Turns an anonymous user into a registered one, in one transaction. Returns `Ok(Ok(false))`
    /// when the user is no longer anonymous (checked inside the transaction).
    pub(crate) async fn deanonymize(
        &self,
        d: &Deanonymize,
    ) -> Result<Result<bool, EmailTaken>, sqlx::Error> {
        let now = now();
        let (ticket, ticket_expires_at) = match &d.ticket {
            Some((t, e)) => (Some(t.as_str()), *e),
            None => (None, epoch()),
        };
        let result: Result<bool, sqlx::Error> = with_pool!(&self.pool, p => async {
            let mut tx = p.begin().await?;
            let updated = sqlx::query(
                "UPDATE users SET is_anonymous = $1, email = $2, password_hash = $3, display_name = $4, \
                 locale = $5, metadata = COALESCE($6, metadata), default_role = $7, email_verified = $1, \
                 ticket = $8, ticket_expires_at = $9, updated_at = $10 \
                 WHERE id = $11 AND is_anonymous = $12",
            )
            .bind(false)
            .bind(&d.email)
            .bind(&d.password_hash)
            .bind(&d.display_name)
            .bind(&d.locale)
            .bind(d.metadata.as_ref().map(Json))
            .bind(&d.default_role)
            .bind(ticket)
            .bind(ticket_expires_at)
            .bind(now)
            .bind(d.user_id)
            .bind(true)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(d.user_id).execute(&mut *tx).await?;
            for role in &d.roles {
                sqlx::query("INSERT INTO user_roles (id, created_at, user_id, role) VALUES ($1, $2, $3, $4)")
                    .bind(new_row_id())
                    .bind(now)
                    .bind(d.user_id)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
            }
            if d.ticket.is_some() {
                sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND type = 'regular'")
                    .bind(d.user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        }
        .await);
        match result {
            Ok(done) => Ok(Ok(done)),
            Err(e) if is_unique_violation(&e) => Ok(Err(EmailTaken)),
            Err(e) => Err(e),
        }
    }

    /// Gives a user a new one-time ticket (magic link, email verification).
    pub(crate) async fn set_ticket(
        &self,
        user_id: Uuid,
        ticket: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        with_pool!(&self.pool, p => {
            sqlx::query("UPDATE users SET ticket = $1, ticket_expires_at = $2, updated_at = $3 WHERE id = $4")
                .bind(ticket)
                .bind(expires_at)
                .bind(now())
                .bind(user_id)
                .execute(p)
                .await
                .map(drop)
        })
    }

    /// Uses up a ticket: if it exists and has not expired, clears it, marks the email verified and
    /// returns the user. One-time: a second call with the same ticket finds nothing.
    pub(crate) async fn consume_ticket(
        &self,
        ticket: &str,
    ) -> Result<Option<UserRow>, sqlx::Error> {
        let now = now();
        let id: Option<(Uuid,)> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "UPDATE users SET ticket = NULL, ticket_expires_at = $1, email_verified = $2, updated_at = $1 \
                 WHERE ticket = $3 AND ticket_expires_at > $1 RETURNING id",
            )
            .bind(now)
            .bind(true)
            .bind(ticket)
            .fetch_optional(p)
            .await?
        });
        match id {
            Some((id,)) => self.user_by_id(id).await,
            None => Ok(None),
        }
    }

    /// Stores a PKCE authorization code (its hash only) for `user_id`, bound to `code_challenge`.
    /// Expired codes are swept in the same transaction, so the table does not grow without end.
    pub(crate) async fn insert_authorization_code(
        &self,
        user_id: Uuid,
        code_hash: &str,
        code_challenge: &str,
        redirect_to: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let now = now();
        with_pool!(&self.pool, p => async {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM pkce_authorization_codes WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO pkce_authorization_codes \
                 (id, created_at, user_id, code_hash, code_challenge, redirect_to, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new_row_id())
            .bind(now)
            .bind(user_id)
            .bind(code_hash)
            .bind(code_challenge)
            .bind(redirect_to)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await)
    }

    /// Uses up an authorization code: one `DELETE … WHERE code_hash = $1 AND code_challenge = $2
    /// AND expires_at > now RETURNING user_id`, as hasura-auth does. A wrong verifier (whose
    /// challenge differs) matches no row and so leaves the code for the right one; of two
    /// concurrent exchanges with the right verifier, the database lets one delete the row.
    pub(crate) async fn consume_authorization_code(
        &self,
        code_hash: &str,
        code_challenge: &str,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        let row: Option<(Uuid,)> = with_pool!(&self.pool, p => {
            sqlx::query_as(
                "DELETE FROM pkce_authorization_codes \
                 WHERE code_hash = $1 AND code_challenge = $2 AND expires_at > $3 RETURNING user_id",
            )
            .bind(code_hash)
            .bind(code_challenge)
            .bind(now())
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(id,)| id))
    }

    /// The stored hash of every pending authorization code of a user (for tests: codes are
    /// never stored raw).
    pub(crate) async fn authorization_code_hashes(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = with_pool!(&self.reads, p => {
            sqlx::query_as("SELECT code_hash FROM pkce_authorization_codes WHERE user_id = $1 ORDER BY created_at")
                .bind(user_id)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    /// Deletes every user (and, by cascade, their roles and refresh tokens).
    pub(crate) async fn reset(&self) -> Result<(), sqlx::Error> {
        with_pool!(&self.pool, p => sqlx::query("DELETE FROM users").execute(p).await.map(drop))
    }

    /// Sets `disabled` on a user (an emulator-only admin action).
    pub(crate) async fn set_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
    ) -> Result<bool, sqlx::Error> {
        with_pool!(&self.pool, p => {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(user_id)
                .execute(p)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    /// The stored hash of every refresh token of a user (for tests: tokens are never stored raw).
    pub(crate) async fn refresh_token_hashes(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = with_pool!(&self.reads, p => {
            sqlx::query_as("SELECT refresh_token_hash FROM refresh_tokens WHERE user_id = $1 ORDER BY created_at")
                .bind(user_id)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }
}
