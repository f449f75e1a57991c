-- Accounts and refresh tokens of cc-user (gen_random_uuid is built into PostgreSQL 13+).

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username       text NOT NULL,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'setter', 'admin')),
    disabled       boolean NOT NULL DEFAULT false,
    display_name   text NOT NULL DEFAULT '',
    bio            text NOT NULL DEFAULT '',
    preferences    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- Names and addresses are unique regardless of case, so "Alice" cannot
-- impersonate "alice".
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens are stored only as SHA-256 hashes. A family is one login:
-- each refresh marks the presented token used and adds its successor to the
-- same family; presenting a used token again revokes the family (RFC 9700).
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
