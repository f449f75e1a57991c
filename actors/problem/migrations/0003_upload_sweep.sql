-- The upload sweep (actors/problem/blobs.c) looks for chunks whose upload
-- is gone. Only chunks still owned by 'upload:<id>' are indexed here, so
-- the index stays as small as the open uploads, and the sweep does not
-- read the chunk rows of every finished blob.
CREATE INDEX blob_chunks_open ON blob_chunks (owner) WHERE owner LIKE 'upload:%';
