-- Encryption at rest (runtime/include/cc/seal.h): an address is stored
-- sealed with AES-256-GCM under a data key (email_sealed, email_key), and
-- found by its keyed hash (email_hmac: HMAC-SHA-256 of its lowercase under
-- a key derived from the master key), never by its text. The data keys are
-- stored wrapped by the master key, which never reaches the database.
--
-- Expand only: email stays as the plaintext column of rows written before
-- this migration; cc-user seals those rows at start (filling email_hmac
-- and emptying email) before it serves, and never reads email again. A
-- later migration may drop it.

CREATE TABLE IF NOT EXISTS cc_data_keys (
    id          text PRIMARY KEY,
    wrapped     bytea NOT NULL,        -- the data key, sealed under the master key
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()  -- the newest is current
);

ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ADD COLUMN email_sealed bytea;
ALTER TABLE users ADD COLUMN email_key text;
ALTER TABLE users ADD COLUMN email_hmac bytea;
-- Addresses stay unique regardless of case, as users_email_key made them.
CREATE UNIQUE INDEX users_email_hmac_key ON users (email_hmac);
CREATE INDEX users_email_key_id ON users (email_key);
