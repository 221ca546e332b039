-- +goose Up
-- Accounts, sessions, second factor, throttling, API tokens, password resets,
-- the audit log and the e-mail outbox. Types are PostgreSQL's; internal/db
-- rewrites the few that SQLite spells differently.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    language            TEXT NOT NULL DEFAULT '',
    password_hash       TEXT NOT NULL,
    password_changed_at TIMESTAMPTZ NOT NULL,
    totp_secret         TEXT NOT NULL DEFAULT '',
    totp_enabled        BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step      BIGINT NOT NULL DEFAULT 0,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- Only a hash of the session token is stored; the cookie carries the token.
CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    stage        TEXT NOT NULL, -- 'second_factor', 'enrol' or 'full'
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Failed sign-in attempts per account ('account:<email>') and per client
-- address ('address:<ip>').
CREATE TABLE sign_in_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE password_resets (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_resets_user ON password_resets(user_id);

-- Append-only; each row's hash covers its content and the previous row's hash.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    event     TEXT NOT NULL,
    user_id   TEXT NOT NULL DEFAULT '',
    subject   TEXT NOT NULL DEFAULT '',
    address   TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- Messages to send, written in the same transaction as the change that
-- caused them; a worker delivers them.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    language        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox(sent_at, next_attempt_at);

-- +goose Down
DROP TABLE outbox;
DROP TABLE audit_log;
DROP TABLE password_resets;
DROP TABLE api_tokens;
DROP TABLE sign_in_throttle;
DROP TABLE sessions;
DROP TABLE recovery_codes;
DROP TABLE users;
