-- The same table as the PostgreSQL schema, in SQLite types.
CREATE TABLE pkce_authorization_codes (
    id BLOB PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    redirect_to TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE UNIQUE INDEX pkce_authorization_codes_code_hash_key ON pkce_authorization_codes (code_hash);
