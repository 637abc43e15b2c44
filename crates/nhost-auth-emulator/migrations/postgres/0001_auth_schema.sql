-- The subset of hasura-auth's `auth` schema that the emulator uses, with the same table and
-- column names, so that a Hasura instance pointed at this database sees familiar tables.
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.users (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_seen timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    display_name text NOT NULL DEFAULT '',
    avatar_url text NOT NULL DEFAULT '',
    locale varchar(2) NOT NULL,
    email text,
    phone_number text,
    password_hash text,
    email_verified boolean NOT NULL DEFAULT false,
    phone_number_verified boolean NOT NULL DEFAULT false,
    new_email text,
    default_role text NOT NULL,
    is_anonymous boolean NOT NULL DEFAULT false,
    ticket text,
    ticket_expires_at timestamptz NOT NULL,
    metadata jsonb,
    active_mfa_type text
);
CREATE UNIQUE INDEX users_email_key ON auth.users (lower(email));
CREATE UNIQUE INDEX users_ticket_key ON auth.users (ticket);

CREATE TABLE auth.user_roles (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role text NOT NULL,
    UNIQUE (user_id, role)
);

CREATE TABLE auth.refresh_tokens (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    metadata jsonb,
    type text NOT NULL DEFAULT 'regular',
    -- "\x" || hex(sha256(token)): the token itself is never stored.
    refresh_token_hash varchar(255) NOT NULL
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON auth.refresh_tokens (refresh_token_hash);
CREATE INDEX refresh_tokens_user_id_idx ON auth.refresh_tokens (user_id);
