-- cc-stats: a read model of CC_EVENTS (cc/projection.h), stored with its
-- position (cc_projections, made by the runtime) in the same transaction,
-- emptied and replayed by `cc-stats rebuild`. What users did with
-- problems, problem counts and first solvers are derived from these rows
-- at load, as apply derives them from the events.

CREATE TABLE stats_users (
    id             text PRIMARY KEY,
    registered_ms  bigint NOT NULL,             -- 0: only their submissions are known
    seq            bigint NOT NULL
);

CREATE TABLE stats_problems (
    slug           text PRIMARY KEY,
    title          text NOT NULL,
    tags           jsonb NOT NULL,
    difficulty     integer NOT NULL,            -- codecourt.v1.Difficulty
    public         boolean NOT NULL,
    deleted        boolean NOT NULL,
    owner_id       text NOT NULL,
    published_seq  bigint NOT NULL,             -- the event that first showed it public
    seq            bigint NOT NULL
);

-- One row per judged submission: the result of its newest attempt.
CREATE TABLE stats_subs (
    id             text PRIMARY KEY,
    user_id        text NOT NULL,
    problem        text NOT NULL,
    attempt        integer NOT NULL,
    verdict        text NOT NULL,
    judged_ms      bigint NOT NULL,
    seq            bigint NOT NULL
);
