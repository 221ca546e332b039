-- +goose Up
-- Filter values (country, areas, competences, region, role, status) as
-- tags in the text index, so that a search with text and filters is one
-- lookup in the engine's inverted index. The search document moves back
-- into the index, which now returns it with each hit. The index is emptied
-- here and refilled by the next start (EnsureIndex).
-- sqlite:begin
DROP TABLE authority_fts;
CREATE VIRTUAL TABLE authority_fts USING fts5(id UNINDEXED, document, tags, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
-- sqlite:end
-- postgres:begin
DELETE FROM authority_fts;
ALTER TABLE authority_fts ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE authority_fts ADD COLUMN tagv tsvector GENERATED ALWAYS AS (to_tsvector('simple', tags)) STORED;
-- New entries wait in a short pending list (256 kB, not the default 4 MB)
-- that every search reads through: bulk writes stay fast, searches too.
-- Large imports flush it at once (VACUUM, see db.AfterBulkChange).
CREATE INDEX authority_fts_tagv ON authority_fts USING GIN (tagv) WITH (gin_pending_list_limit = 256);
ALTER INDEX authority_fts_tsv SET (gin_pending_list_limit = 256);
-- postgres:end
ALTER TABLE authorities DROP COLUMN search_document;
-- Filter-only searches list authorities by name.
CREATE INDEX authorities_name ON authorities(name, id);

-- +goose Down
DROP INDEX authorities_name;
ALTER TABLE authorities ADD COLUMN search_document TEXT NOT NULL DEFAULT '';
-- sqlite:begin
DROP TABLE authority_fts;
CREATE VIRTUAL TABLE authority_fts USING fts5(id UNINDEXED, document, tokenize = 'unicode61 remove_diacritics 2');
-- sqlite:end
-- postgres:begin
ALTER INDEX authority_fts_tsv RESET (gin_pending_list_limit);
DROP INDEX authority_fts_tagv;
ALTER TABLE authority_fts DROP COLUMN tagv;
ALTER TABLE authority_fts DROP COLUMN tags;
-- postgres:end
