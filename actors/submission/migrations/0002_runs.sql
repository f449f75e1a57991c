-- Custom invocations (the app's Run). Neither the code nor the input is
-- stored: they travel only in the judge's job, which the CC_JUDGE work
-- queue drops once a judge acks it. The answer (a packed RunResult: the
-- program's output) stays until expires_at, when the sweep deletes it.

CREATE TABLE runs (
    id          uuid PRIMARY KEY,
    user_id     text NOT NULL,
    language    text NOT NULL,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done')),
    verdict     text NOT NULL DEFAULT '',
    result      bytea,                      -- packed RunResult, once done
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX runs_user ON runs (user_id, created_at DESC);
CREATE INDEX runs_expiry ON runs (expires_at);
