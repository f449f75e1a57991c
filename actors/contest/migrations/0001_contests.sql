-- cc-contest. Two kinds of tables:
--  * the write side (contests, teams, team_members, clarifications): what
--    organisers and participants asked for, each change written with its
--    cc.evt.contest.* event in one transaction (outbox);
--  * the read model (proj_*): a function of CC_EVENTS alone, stored with
--    its position (cc_projections, made by the runtime) in the same
--    transaction, emptied and replayed by `cc-contest rebuild`.

CREATE TABLE contests (
    id           text PRIMARY KEY,
    def          bytea NOT NULL,                -- packed Contest (no viewer fields)
    owner_id     text NOT NULL,
    jury         text[] NOT NULL DEFAULT '{}',  -- as in def, for lists
    public       boolean NOT NULL,
    start_time   bigint NOT NULL,               -- Unix seconds
    duration_s   bigint NOT NULL,
    freeze_s     bigint NOT NULL,
    next_team    integer NOT NULL DEFAULT 1,    -- "t<n>" for teams made by registration
    -- What the clock has written as cc.evt.contest.state (clock.c).
    started_sent boolean NOT NULL DEFAULT false,
    frozen_sent  boolean NOT NULL DEFAULT false,
    ended_sent   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contests_start ON contests (start_time DESC, id);
CREATE INDEX contests_due ON contests (start_time)
    WHERE NOT (started_sent AND frozen_sent AND ended_sent);

CREATE TABLE teams (
    contest      text NOT NULL REFERENCES contests (id) ON DELETE CASCADE,
    id           text NOT NULL,
    name         text NOT NULL,
    organization text NOT NULL DEFAULT '',
    hidden       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (contest, id)
);

-- A user takes part in a contest in one team at most.
CREATE TABLE team_members (
    contest      text NOT NULL,
    user_id      text NOT NULL,
    team         text NOT NULL,
    PRIMARY KEY (contest, user_id),
    FOREIGN KEY (contest, team) REFERENCES teams (contest, id) ON DELETE CASCADE
);
CREATE INDEX team_members_team ON team_members (contest, team);

CREATE TABLE clarifications (
    id           bigserial PRIMARY KEY,
    contest      text NOT NULL REFERENCES contests (id) ON DELETE CASCADE,
    from_team    text NOT NULL DEFAULT '',     -- '' from the jury
    to_team      text NOT NULL DEFAULT '',     -- '' everyone (a question: the jury)
    reply_to     bigint,
    problem      text NOT NULL DEFAULT '',
    text         text NOT NULL,
    author       text NOT NULL,
    time_ms      bigint NOT NULL
);
CREATE INDEX clarifications_contest ON clarifications (contest, id);

-- ---- the read model ---------------------------------------------------------

CREATE TABLE proj_contests (
    id           text PRIMARY KEY,
    def          bytea NOT NULL,                -- the last ContestChanged's Contest
    seq          bigint NOT NULL,
    first_seq    bigint NOT NULL,
    problem_seq  bigint[] NOT NULL,
    started_ms   bigint NOT NULL,
    frozen_ms    bigint NOT NULL,
    ended_ms     bigint NOT NULL,
    state_seq    bigint NOT NULL,
    unfrozen_seq bigint NOT NULL
);

CREATE TABLE proj_teams (
    contest      text NOT NULL,
    id           text NOT NULL,
    def          bytea NOT NULL,                -- the last TeamChanged's Team
    seq          bigint NOT NULL,
    deleted      boolean NOT NULL,
    org_id       text NOT NULL,
    PRIMARY KEY (contest, id)
);

CREATE TABLE proj_orgs (
    contest      text NOT NULL,
    id           text NOT NULL,
    name         text NOT NULL,
    seq          bigint NOT NULL,
    PRIMARY KEY (contest, id)
);

CREATE TABLE proj_subs (
    id           text PRIMARY KEY,
    contest      text NOT NULL,
    team         text NOT NULL,
    user_id      text NOT NULL,
    problem      text NOT NULL,
    language     text NOT NULL,
    created_ms   bigint NOT NULL,
    created_seq  bigint NOT NULL,                -- 0: only its result is known yet
    attempt      integer NOT NULL,               -- of the result kept, 0: not judged
    verdict      text NOT NULL,
    score        double precision NOT NULL,
    max_score    double precision NOT NULL,
    groups       jsonb NOT NULL,                 -- [{"name","score","maxScore"}]
    judged_seq   bigint NOT NULL,
    judged_ms    bigint NOT NULL
);
CREATE INDEX proj_subs_contest ON proj_subs (contest);

CREATE TABLE proj_clars (
    contest      text NOT NULL,
    id           text NOT NULL,
    def          bytea NOT NULL,
    seq          bigint NOT NULL,
    PRIMARY KEY (contest, id)
);
