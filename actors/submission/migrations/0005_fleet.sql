-- The judge fleet in view: which judge judged (or is judging) the current
-- attempt and with which toolchain, the toolchain of the judging a
-- rejudge replaced, and when the current attempt was queued (its place in
-- the queue). Expand only: new columns with defaults, read by this release
-- alone; rows from before have no queued_at and are placed by created_at.

ALTER TABLE submissions ADD COLUMN judge text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN toolchain text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN prev_toolchain text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN queued_at timestamptz;
ALTER TABLE submissions ALTER COLUMN queued_at SET DEFAULT now();

-- A queued submission's place: those queued before it.
CREATE INDEX submissions_queue ON submissions ((coalesce(queued_at, created_at)))
    WHERE status = 'queued';
-- The judging rate of the last minutes (the estimated wait), and the
-- submissions of a judge that went away.
CREATE INDEX submissions_judged_at ON submissions (judged_at);
CREATE INDEX submissions_judging ON submissions (judge) WHERE status IN ('compiling', 'running');
