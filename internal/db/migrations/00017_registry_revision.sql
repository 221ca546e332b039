-- +goose Up
-- Every page reads the authorities it shows (the user's own, the two
-- parties of a request, an inbox's counterparts), each a read of its row
-- and of its lists: with 100,000 authorities a seventh of a request
-- page's processor time on SQLite, and round trips on PostgreSQL. A
-- server keeps the authorities it has read, and its users' roles (read
-- for every page too), under the registry revision below, which the
-- triggers add one to in the same transaction as any change to an
-- authority or to a user's roles, whoever makes it (a form, an import,
-- SQL by hand): what is kept under another revision is not used, on any
-- server (internal/authorities/memo.go). A change to an authority's lists
-- (names, areas, competences, scope) raises the authority's own revision
-- (migration 14), an update of its row: the triggers on authorities see
-- those too.
CREATE TABLE registry_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO registry_revision (id, revision) VALUES (1, 0);
-- sqlite:begin
-- +goose StatementBegin
CREATE TRIGGER authorities_inserted_registry AFTER INSERT ON authorities BEGIN
    UPDATE registry_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authorities_updated_registry AFTER UPDATE ON authorities BEGIN
    UPDATE registry_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authorities_deleted_registry AFTER DELETE ON authorities BEGIN
    UPDATE registry_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_roles_inserted_registry AFTER INSERT ON user_roles BEGIN
    UPDATE registry_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_roles_updated_registry AFTER UPDATE ON user_roles BEGIN
    UPDATE registry_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER user_roles_deleted_registry AFTER DELETE ON user_roles BEGIN
    UPDATE registry_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- sqlite:end
-- postgres:begin
-- As the search revision (migration 16): the row is updated at the
-- commit, once a transaction, so that its lock is the last a transaction
-- takes and a bulk change updates it once.
-- +goose StatementBegin
CREATE FUNCTION registry_revised() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('openimi.registry_revised', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE registry_revision SET revision = revision + 1;
        PERFORM set_config('openimi.registry_revised', txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER authorities_registry_revised AFTER INSERT OR UPDATE OR DELETE ON authorities
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION registry_revised();
CREATE CONSTRAINT TRIGGER user_roles_registry_revised AFTER INSERT OR UPDATE OR DELETE ON user_roles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION registry_revised();
-- Even for a bulk load that skips the other triggers
-- (session_replication_role = replica, as imi generate does).
ALTER TABLE authorities ENABLE ALWAYS TRIGGER authorities_registry_revised;
ALTER TABLE user_roles ENABLE ALWAYS TRIGGER user_roles_registry_revised;
-- postgres:end

-- +goose Down
-- sqlite:begin
DROP TRIGGER authorities_inserted_registry;
DROP TRIGGER authorities_updated_registry;
DROP TRIGGER authorities_deleted_registry;
DROP TRIGGER user_roles_inserted_registry;
DROP TRIGGER user_roles_updated_registry;
DROP TRIGGER user_roles_deleted_registry;
-- sqlite:end
-- postgres:begin
DROP TRIGGER authorities_registry_revised ON authorities;
DROP TRIGGER user_roles_registry_revised ON user_roles;
DROP FUNCTION registry_revised();
-- postgres:end
DROP TABLE registry_revision;
