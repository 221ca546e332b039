-- +goose Up
-- The text index of authorities (internal/search): a normalized document
-- per authority. The engines differ, so each has its block (see migrate.go).
-- sqlite:begin
CREATE VIRTUAL TABLE authority_fts USING fts5(id UNINDEXED, document, tokenize = 'unicode61 remove_diacritics 2');
-- sqlite:end
-- postgres:begin
CREATE TABLE authority_fts (
    id       TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    tsv      tsvector GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED
);
CREATE INDEX authority_fts_tsv ON authority_fts USING GIN (tsv);
-- postgres:end

-- +goose Down
DROP TABLE authority_fts;
