-- +goose Up
-- The directory of registers (internal/registers): which registers of
-- service providers, professionals or qualifications exist in each
-- country, what they hold, and who may consult them how (Directive
-- 2006/123/EC, article 28(7)).

CREATE TABLE registers (
    id           TEXT PRIMARY KEY,
    external_id  TEXT UNIQUE,                  -- the importer's identifier
    country      TEXT NOT NULL,
    authority_id TEXT NOT NULL REFERENCES authorities(id), -- holds the register
    name         TEXT NOT NULL,                -- in the original language
    language     TEXT NOT NULL,                -- of name and description
    description  TEXT NOT NULL DEFAULT '',     -- what it holds, in the original language
    type         TEXT NOT NULL,                -- a code of registers.Types
    access       TEXT NOT NULL,                -- public_online, on_request, authorities_only
    fees         BOOLEAN NOT NULL DEFAULT FALSE,
    url          TEXT NOT NULL DEFAULT '',
    legal_basis  TEXT NOT NULL DEFAULT '',
    languages    TEXT NOT NULL DEFAULT '',     -- consultation languages, space-separated
    areas        TEXT NOT NULL DEFAULT '',     -- legislative areas, space-separated
    status       TEXT NOT NULL,                -- submitted, validated
    validated_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX registers_country ON registers(country, status);
CREATE INDEX registers_name ON registers(name, id);
CREATE INDEX registers_authority ON registers(authority_id);

-- Names in other languages.
CREATE TABLE register_names (
    register_id TEXT NOT NULL REFERENCES registers(id) ON DELETE CASCADE,
    language    TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (register_id, language)
);

-- Who changed what in an entry, and when.
CREATE TABLE register_history (
    id          TEXT PRIMARY KEY,
    register_id TEXT NOT NULL REFERENCES registers(id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    field       TEXT NOT NULL,
    old_value   TEXT NOT NULL DEFAULT '',
    new_value   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX register_history_register ON register_history(register_id, at);

-- The text index of entries (internal/search), like the authorities'.
-- sqlite:begin
CREATE VIRTUAL TABLE register_fts USING fts5(id UNINDEXED, document, tags, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
-- sqlite:end
-- postgres:begin
CREATE TABLE register_fts (
    id       TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    tags     TEXT NOT NULL DEFAULT '',
    tsv      tsvector GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED,
    tagv     tsvector GENERATED ALWAYS AS (to_tsvector('simple', tags)) STORED
);
CREATE INDEX register_fts_tsv ON register_fts USING GIN (tsv) WITH (gin_pending_list_limit = 256);
CREATE INDEX register_fts_tagv ON register_fts USING GIN (tagv) WITH (gin_pending_list_limit = 256);
-- postgres:end

-- +goose Down
DROP TABLE register_fts;
DROP TABLE register_history;
DROP TABLE register_names;
DROP TABLE registers;
