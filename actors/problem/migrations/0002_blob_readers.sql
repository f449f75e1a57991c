-- Who may read a blob through the gateway. Judges call GetBlob without a
-- principal and read anything; a caller with a principal (only the
-- gateway sets one) reads a blob only when it is an admin or appears
-- here: it uploaded the bytes (CommitUpload) or exported the package
-- (ExportPackage). Knowing a hash is not enough.
CREATE TABLE blob_readers (
    sha256 text NOT NULL,
    user_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sha256, user_id)
);
