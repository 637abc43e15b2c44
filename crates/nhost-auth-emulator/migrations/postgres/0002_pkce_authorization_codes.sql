-- One-time authorization codes of PKCE email links (hasura-auth's `auth.pkce_authorization_codes`):
-- the code itself is never stored, only "\x" || hex(sha256(code)), as for refresh tokens.
CREATE TABLE auth.pkce_authorization_codes (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    code_challenge text NOT NULL,
    redirect_to text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX pkce_authorization_codes_code_hash_key ON auth.pkce_authorization_codes (code_hash);
