-- +goose Up
-- A search that matches many documents counts them (up to 1,001, "more
-- than 1,000"), which reads a row per match, and reads and ranks its first
-- block of candidates at every page: at 100,000 authorities a town's name
-- matches hundreds, and that was most of the page's database time. A
-- server keeps each search's count and ranking under the search revision
-- below, which the triggers add one to in the same transaction as any
-- change to a search index, whoever makes it (a form, an import, a
-- rebuild): an answer kept under another revision is not used, on any
-- server (internal/search/kept.go).
CREATE TABLE search_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO search_revision (id, revision) VALUES (1, 0);
-- sqlite:begin
-- SQLite has no triggers on virtual tables. Each full-text table keeps
-- its rows in an ordinary table of its own, %_content (documented by
-- FTS5), written in the statement that writes the index: the triggers
-- are on those. A migration that makes an index again makes them again.
-- +goose StatementBegin
CREATE TRIGGER authority_fts_inserted AFTER INSERT ON authority_fts_content BEGIN
    UPDATE search_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_fts_updated AFTER UPDATE ON authority_fts_content BEGIN
    UPDATE search_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_fts_deleted AFTER DELETE ON authority_fts_content BEGIN
    UPDATE search_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER register_fts_inserted AFTER INSERT ON register_fts_content BEGIN
    UPDATE search_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER register_fts_updated AFTER UPDATE ON register_fts_content BEGIN
    UPDATE search_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER register_fts_deleted AFTER DELETE ON register_fts_content BEGIN
    UPDATE search_revision SET revision = revision + 1;
END;
-- +goose StatementEnd
-- sqlite:end
-- postgres:begin
-- The revision's row is updated at the commit (deferred triggers), once a
-- transaction: its lock is the last a transaction takes, so two
-- transactions changing authorities never wait for each other in a
-- cycle, and a bulk change updates the row once, not once a document.
-- Transactions that change an index commit one after another (they are
-- rare: authorities and registers change by hand or by import). Under
-- READ COMMITTED, PostgreSQL's default and what OpenIMI expects
-- (docs/OPERATIONS.md), the second waits for the first; under stricter
-- isolation it would fail.
-- +goose StatementBegin
CREATE FUNCTION search_revised() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('openimi.search_revised', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE search_revision SET revision = revision + 1;
        PERFORM set_config('openimi.search_revised', txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER authority_fts_revised AFTER INSERT OR UPDATE OR DELETE ON authority_fts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_revised();
CREATE CONSTRAINT TRIGGER register_fts_revised AFTER INSERT OR UPDATE OR DELETE ON register_fts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION search_revised();
-- Even for a bulk load that skips the other triggers
-- (session_replication_role = replica, as imi generate does).
ALTER TABLE authority_fts ENABLE ALWAYS TRIGGER authority_fts_revised;
ALTER TABLE register_fts ENABLE ALWAYS TRIGGER register_fts_revised;
-- postgres:end

-- +goose Down
-- sqlite:begin
DROP TRIGGER authority_fts_inserted;
DROP TRIGGER authority_fts_updated;
DROP TRIGGER authority_fts_deleted;
DROP TRIGGER register_fts_inserted;
DROP TRIGGER register_fts_updated;
DROP TRIGGER register_fts_deleted;
-- sqlite:end
-- postgres:begin
DROP TRIGGER authority_fts_revised ON authority_fts;
DROP TRIGGER register_fts_revised ON register_fts;
DROP FUNCTION search_revised();
-- postgres:end
DROP TABLE search_revision;
