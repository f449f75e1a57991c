-- Every change to a user row is announced on the channel cc_user_changed
-- (the payload is the user id), after commit, so each cc-user replica can
-- drop what it keeps in memory of that user.

CREATE FUNCTION users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cc_user_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_changed();
