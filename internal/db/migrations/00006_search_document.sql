-- +goose Up
-- The normalized search document also on the authority itself, so that
-- ranking reads it with the candidates (FTS5 cannot look a document up by
-- an unindexed column quickly). Filled by the next start (EnsureIndex).
ALTER TABLE authorities ADD COLUMN search_document TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE authorities DROP COLUMN search_document;
