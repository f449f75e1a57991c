-- Submissions of cc-submission. A row is pinned to one problem version: the
-- packed JudgeJob (sources and the version's package files) is kept, so a
-- rejudge sends the same job again with the next attempt number.

CREATE TABLE submissions (
    id               uuid PRIMARY KEY,
    user_id          text NOT NULL,
    problem          text NOT NULL,             -- slug
    problem_id       text NOT NULL,
    problem_owner    text NOT NULL,             -- may read the problem's submissions
    problem_version  text NOT NULL,             -- version hash
    language         text NOT NULL,
    idempotency_key  text,
    body_hash        text NOT NULL,             -- SHA-256 of the request, for the key
    job              bytea NOT NULL,            -- packed JudgeJob (attempt 1)
    attempt          integer NOT NULL DEFAULT 1,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'compiling', 'running', 'judged')),
    verdict          text NOT NULL DEFAULT '',
    prev_verdict     text NOT NULL DEFAULT '',  -- the verdict a rejudge replaces
    score            double precision NOT NULL DEFAULT 0,
    max_score        double precision NOT NULL DEFAULT 0,
    test_index       integer NOT NULL DEFAULT 0,
    test_count       integer NOT NULL DEFAULT 0,
    result           bytea,                     -- packed JudgeResult of this attempt
    sandbox_ms       bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    judged_at        timestamptz
);
-- The same key from the same user names one submission.
CREATE UNIQUE INDEX submissions_idem ON submissions (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX submissions_user ON submissions (user_id, created_at DESC, id DESC);
CREATE INDEX submissions_problem ON submissions (problem, created_at DESC, id DESC);
CREATE INDEX submissions_pending ON submissions (user_id) WHERE status <> 'judged';

-- Per-test progress of the attempt being judged; the natural key makes a
-- redelivered progress event change nothing.
CREATE TABLE submission_tests (
    submission_id  uuid NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    idx            integer NOT NULL,
    result         bytea NOT NULL,              -- packed TestResult
    PRIMARY KEY (submission_id, attempt, idx)
);
