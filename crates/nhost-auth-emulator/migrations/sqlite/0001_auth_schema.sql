-- The same tables as the PostgreSQL schema (hasura-auth's names), in SQLite types.
-- UUIDs are 16-byte blobs, timestamps RFC 3339 text, booleans integers, JSON text.
CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_seen TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url TEXT NOT NULL DEFAULT '',
    locale TEXT NOT NULL,
    email TEXT,
    phone_number TEXT,
    password_hash TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    phone_number_verified INTEGER NOT NULL DEFAULT 0,
    new_email TEXT,
    default_role TEXT NOT NULL,
    is_anonymous INTEGER NOT NULL DEFAULT 0,
    ticket TEXT,
    ticket_expires_at TEXT NOT NULL,
    metadata TEXT,
    active_mfa_type TEXT
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_ticket_key ON users (ticket);

CREATE TABLE user_roles (
    id BLOB PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    UNIQUE (user_id, role)
);

CREATE TABLE refresh_tokens (
    id BLOB PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    metadata TEXT,
    type TEXT NOT NULL DEFAULT 'regular',
    refresh_token_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (refresh_token_hash);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
