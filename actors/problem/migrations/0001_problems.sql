-- cc-problem's schema: problems, their immutable versions, and
-- content-addressed blobs stored in chunks.

CREATE TABLE problems (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL,
    title text NOT NULL,
    owner_id text NOT NULL,
    visibility text NOT NULL DEFAULT 'draft' CHECK (visibility IN ('draft', 'public')),
    tags text[] NOT NULL DEFAULT '{}',
    difficulty text NOT NULL DEFAULT '' CHECK (difficulty IN ('', 'easy', 'medium', 'hard')),
    rating integer NOT NULL DEFAULT 0,
    current_version integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
-- A deleted problem frees its slug.
CREATE UNIQUE INDEX problems_slug ON problems (slug) WHERE deleted_at IS NULL;
CREATE INDEX problems_tags ON problems USING gin (tags);
CREATE INDEX problems_list ON problems (created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- A version never changes once written. files is the manifest:
-- [{"path", "sha256", "size"}] sorted by path; hash is the SHA-256 of its
-- canonical text (see actors/problem/README.md).
CREATE TABLE versions (
    problem_id uuid NOT NULL REFERENCES problems (id),
    number integer NOT NULL,
    hash text NOT NULL,
    files jsonb NOT NULL,
    type text NOT NULL,
    time_limit_ms integer NOT NULL DEFAULT 0,
    memory_mib integer NOT NULL DEFAULT 0,
    output_mib integer NOT NULL DEFAULT 0,
    checker text NOT NULL DEFAULT 'default',
    validator_flags text NOT NULL DEFAULT '',
    statement_md text NOT NULL DEFAULT '',
    statement_html text NOT NULL DEFAULT '',
    sample_count integer NOT NULL DEFAULT 0,
    test_count integer NOT NULL DEFAULT 0,
    file_count integer NOT NULL DEFAULT 0,
    total_size bigint NOT NULL DEFAULT 0,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (problem_id, number)
);
CREATE INDEX versions_hash ON versions (hash);

CREATE TABLE blobs (
    sha256 text PRIMARY KEY,
    size bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- owner is a blob's sha256, or 'upload:<id>' while an upload is open.
-- Chunks are stored uncompressed: test data rarely compresses and GetBlob
-- reads slices with substring(), which is cheap only on EXTERNAL storage.
CREATE TABLE blob_chunks (
    owner text NOT NULL,
    off bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (owner, off)
);
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- An open chunked upload. hash_state is the SHA-256 context after
-- `received` bytes, so any replica can take the next chunk.
CREATE TABLE uploads (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id text NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    received bigint NOT NULL DEFAULT 0,
    hash_state bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
