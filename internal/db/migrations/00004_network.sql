-- +goose Up
-- The network: authorities, the coordinators they report to, their users and
-- roles, and invitations to join.

CREATE TABLE authorities (
    id                TEXT PRIMARY KEY,
    external_id       TEXT UNIQUE,
    country           TEXT NOT NULL,
    name              TEXT NOT NULL,      -- in the original language
    language          TEXT NOT NULL,      -- of name
    acronym           TEXT NOT NULL DEFAULT '',
    region            TEXT NOT NULL DEFAULT '',
    street            TEXT NOT NULL DEFAULT '',
    postcode          TEXT NOT NULL DEFAULT '',
    city              TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    phone             TEXT NOT NULL DEFAULT '',
    website           TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL,      -- commission, national_coordinator, delegated_coordinator, competent_authority
    alert_coordinator BOOLEAN NOT NULL DEFAULT FALSE,
    status            TEXT NOT NULL,      -- registered, validated, active, deactivated
    parent_id         TEXT REFERENCES authorities(id),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX authorities_country ON authorities(country, status);
CREATE INDEX authorities_parent ON authorities(parent_id);
-- Exactly one national coordinator per country.
CREATE UNIQUE INDEX authorities_one_national_coordinator ON authorities(country)
    WHERE role = 'national_coordinator' AND status <> 'deactivated';

-- Names in other languages and descriptions of competences, per language.
CREATE TABLE authority_texts (
    authority_id TEXT NOT NULL REFERENCES authorities(id) ON DELETE CASCADE,
    language     TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (authority_id, language)
);

-- Legislative areas of an authority, and per area the coordinator that
-- supervises its exchanges (NULL: the one it reports to).
CREATE TABLE authority_areas (
    authority_id  TEXT NOT NULL REFERENCES authorities(id) ON DELETE CASCADE,
    area          TEXT NOT NULL,
    supervisor_id TEXT REFERENCES authorities(id),
    PRIMARY KEY (authority_id, area)
);
CREATE INDEX authority_areas_area ON authority_areas(area);

-- Competences: terms of the areas' vocabularies.
CREATE TABLE authority_competences (
    authority_id TEXT NOT NULL REFERENCES authorities(id) ON DELETE CASCADE,
    area         TEXT NOT NULL,
    vocabulary   TEXT NOT NULL,
    term         TEXT NOT NULL,
    PRIMARY KEY (authority_id, area, vocabulary, term)
);
CREATE INDEX authority_competences_term ON authority_competences(area, vocabulary, term);

-- What a delegated coordinator covers: areas and/or regions of its country
-- (none of a kind: all of that kind).
CREATE TABLE coordinator_scopes (
    authority_id TEXT NOT NULL REFERENCES authorities(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,  -- area, region
    value        TEXT NOT NULL,
    PRIMARY KEY (authority_id, kind, value)
);

-- Who changed what in an authority, and when.
CREATE TABLE authority_history (
    id           TEXT PRIMARY KEY,
    authority_id TEXT NOT NULL REFERENCES authorities(id) ON DELETE CASCADE,
    at           TIMESTAMPTZ NOT NULL,
    user_id      TEXT NOT NULL DEFAULT '',
    actor        TEXT NOT NULL DEFAULT '',
    field        TEXT NOT NULL,
    old_value    TEXT NOT NULL DEFAULT '',
    new_value    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX authority_history_authority ON authority_history(authority_id, at);

ALTER TABLE users ADD COLUMN authority_id TEXT REFERENCES authorities(id);
ALTER TABLE users ADD COLUMN last_sign_in_at TIMESTAMPTZ;
CREATE INDEX users_authority ON users(authority_id);

-- Roles of users, per legislative area ('' for every area of the authority).
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    area    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, role, area)
);

-- Invitations by e-mail: to register an authority, or to become its user.
CREATE TABLE invitations (
    token_hash   BYTEA PRIMARY KEY,
    kind         TEXT NOT NULL,  -- authority, user
    authority_id TEXT REFERENCES authorities(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL DEFAULT '',
    roles        TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ
);

-- +goose Down
DROP TABLE invitations;
DROP TABLE user_roles;
DROP INDEX users_authority;
ALTER TABLE users DROP COLUMN last_sign_in_at;
ALTER TABLE users DROP COLUMN authority_id;
DROP TABLE authority_history;
DROP TABLE coordinator_scopes;
DROP TABLE authority_competences;
DROP TABLE authority_areas;
DROP TABLE authority_texts;
DROP TABLE authorities;
