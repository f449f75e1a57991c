-- Encryption at rest (runtime/include/cc/seal.h): a submission's packed
-- JudgeJob (its sources) and packed JudgeResult (its compile output) are
-- stored sealed with AES-256-GCM under a data key, beside the id of that
-- key. The data keys are stored wrapped by the master key, which never
-- reaches the database.
--
-- Expand only: job and result stay as the plaintext columns of rows
-- written before this migration; cc-submission seals those rows at start
-- (and empties job and result) before it serves, and reads only the sealed
-- columns. A later migration may drop job and result.

CREATE TABLE IF NOT EXISTS cc_data_keys (
    id          text PRIMARY KEY,
    wrapped     bytea NOT NULL,        -- the data key, sealed under the master key
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()  -- the newest is current
);

ALTER TABLE submissions ALTER COLUMN job DROP NOT NULL;
ALTER TABLE submissions ADD COLUMN job_sealed bytea;
ALTER TABLE submissions ADD COLUMN job_key text;
ALTER TABLE submissions ADD COLUMN result_sealed bytea;
ALTER TABLE submissions ADD COLUMN result_key text;
-- rotate-keys finds what is left by key, so a stopped rotation resumes.
CREATE INDEX submissions_job_key ON submissions (job_key);
CREATE INDEX submissions_result_key ON submissions (result_key);
