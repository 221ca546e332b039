-- +goose Up
-- Every page reads authorities: the two parties of a request, the actor's
-- own, twenty search results. Each was five queries (the row, its texts,
-- areas, competences and scope). A server now keeps the four lists of an
-- authority it has read, under the authority's revision, and reads only
-- the row: the triggers below add one to the revision in the same
-- transaction as any change to those lists, whoever makes it, so a list
-- kept under an older revision is never used again, on any server.
ALTER TABLE authorities ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
-- sqlite:begin
-- +goose StatementBegin
CREATE TRIGGER authority_texts_inserted AFTER INSERT ON authority_texts BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = NEW.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_texts_updated AFTER UPDATE ON authority_texts BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id IN (OLD.authority_id, NEW.authority_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_texts_deleted AFTER DELETE ON authority_texts BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = OLD.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_areas_inserted AFTER INSERT ON authority_areas BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = NEW.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_areas_updated AFTER UPDATE ON authority_areas BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id IN (OLD.authority_id, NEW.authority_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_areas_deleted AFTER DELETE ON authority_areas BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = OLD.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_competences_inserted AFTER INSERT ON authority_competences BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = NEW.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_competences_updated AFTER UPDATE ON authority_competences BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id IN (OLD.authority_id, NEW.authority_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authority_competences_deleted AFTER DELETE ON authority_competences BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = OLD.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER coordinator_scopes_inserted AFTER INSERT ON coordinator_scopes BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = NEW.authority_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER coordinator_scopes_updated AFTER UPDATE ON coordinator_scopes BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id IN (OLD.authority_id, NEW.authority_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER coordinator_scopes_deleted AFTER DELETE ON coordinator_scopes BEGIN
    UPDATE authorities SET revision = revision + 1 WHERE id = OLD.authority_id;
END;
-- +goose StatementEnd
-- sqlite:end
-- postgres:begin
-- +goose StatementBegin
CREATE FUNCTION authority_revised() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        UPDATE authorities SET revision = revision + 1 WHERE id = NEW.authority_id;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.authority_id <> NEW.authority_id) THEN
        UPDATE authorities SET revision = revision + 1 WHERE id = OLD.authority_id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER authority_texts_revised AFTER INSERT OR UPDATE OR DELETE ON authority_texts FOR EACH ROW EXECUTE FUNCTION authority_revised();
CREATE TRIGGER authority_areas_revised AFTER INSERT OR UPDATE OR DELETE ON authority_areas FOR EACH ROW EXECUTE FUNCTION authority_revised();
CREATE TRIGGER authority_competences_revised AFTER INSERT OR UPDATE OR DELETE ON authority_competences FOR EACH ROW EXECUTE FUNCTION authority_revised();
CREATE TRIGGER coordinator_scopes_revised AFTER INSERT OR UPDATE OR DELETE ON coordinator_scopes FOR EACH ROW EXECUTE FUNCTION authority_revised();
-- postgres:end

-- +goose Down
-- sqlite:begin
DROP TRIGGER authority_texts_inserted;
DROP TRIGGER authority_texts_updated;
DROP TRIGGER authority_texts_deleted;
DROP TRIGGER authority_areas_inserted;
DROP TRIGGER authority_areas_updated;
DROP TRIGGER authority_areas_deleted;
DROP TRIGGER authority_competences_inserted;
DROP TRIGGER authority_competences_updated;
DROP TRIGGER authority_competences_deleted;
DROP TRIGGER coordinator_scopes_inserted;
DROP TRIGGER coordinator_scopes_updated;
DROP TRIGGER coordinator_scopes_deleted;
-- sqlite:end
-- postgres:begin
DROP TRIGGER authority_texts_revised ON authority_texts;
DROP TRIGGER authority_areas_revised ON authority_areas;
DROP TRIGGER authority_competences_revised ON authority_competences;
DROP TRIGGER coordinator_scopes_revised ON coordinator_scopes;
DROP FUNCTION authority_revised();
-- postgres:end
ALTER TABLE authorities DROP COLUMN revision;
