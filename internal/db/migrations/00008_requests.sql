-- +goose Up
-- Cases and their history (internal/workflow), and information requests
-- (internal/requests).

-- Every step of every case, in order. State, timeline, notifications and
-- statistics derive from these rows. data may hold personal data.
CREATE TABLE case_events (
    id           TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    action       TEXT NOT NULL,
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    user_id      TEXT REFERENCES users(id),
    authority_id TEXT REFERENCES authorities(id),
    party        TEXT NOT NULL DEFAULT '', -- the part the user acted in
    comment      TEXT NOT NULL DEFAULT '',
    data         TEXT NOT NULL DEFAULT '',
    UNIQUE (case_id, seq)
);

-- Numbers for human-readable references ("PQ-2026-000042"), per name.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE requests (
    id              TEXT PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,
    area            TEXT NOT NULL,
    question_set    TEXT NOT NULL,
    state           TEXT NOT NULL,
    requester_id    TEXT NOT NULL REFERENCES authorities(id),
    responder_id    TEXT REFERENCES authorities(id),
    created_by      TEXT NOT NULL REFERENCES users(id),
    handler_id      TEXT REFERENCES users(id),     -- the responder's handler
    parent_id       TEXT REFERENCES requests(id),  -- the request this one was split from
    reply_by        TIMESTAMPTZ NOT NULL,
    proposed_reply_by TIMESTAMPTZ,            -- a new date the responder asks for
    sent_at         TIMESTAMPTZ,
    accepted_at     TIMESTAMPTZ,
    answered_at     TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ,
    stopped_at      TIMESTAMPTZ,              -- the clock stands while the responder waits
    stopped_seconds BIGINT NOT NULL DEFAULT 0,
    -- Personal data: shown only to the parties, blocked and deleted on schedule.
    subject_name    TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '{}', -- JSON: field code → value
    message         TEXT NOT NULL DEFAULT '',
    blocked_at      TIMESTAMPTZ,              -- personal data blocked (months after closure)
    erased_at       TIMESTAMPTZ,              -- personal data deleted (three years after closure)
    rating_time     INTEGER,
    rating_effort   INTEGER,
    last_activity_at TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX requests_requester ON requests(requester_id, state, last_activity_at);
CREATE INDEX requests_responder ON requests(responder_id, state, last_activity_at);
CREATE INDEX requests_closed ON requests(closed_at);

-- The questions a request asks, in order, and their answers.
CREATE TABLE request_questions (
    request_id  TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    code        TEXT NOT NULL,
    answer      TEXT NOT NULL DEFAULT '',   -- an option code, "yes", "no"…
    answer_text TEXT NOT NULL DEFAULT '',   -- free text; may be personal
    PRIMARY KEY (request_id, code)
);

-- Files attached to a request by either party. The content lives in the
-- attachment store (a folder by default) under its SHA-256.
CREATE TABLE request_attachments (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,     -- neutralised file name
    content_type TEXT NOT NULL,     -- from the content, not the name
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    user_id      TEXT REFERENCES users(id),
    authority_id TEXT REFERENCES authorities(id),
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX request_attachments_request ON request_attachments(request_id);
CREATE INDEX request_attachments_sha ON request_attachments(sha256);

-- Reminders and follow-up notices sent, so that each goes once.
CREATE TABLE request_reminders (
    request_id TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,  -- due_soon, overdue, not_accepted, inactive
    sent_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, kind)
);

-- In-app notifications: what each user is told, read or not. An e-mail
-- goes at once, or in a daily digest for users who chose one.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,   -- as the e-mail kinds: request_update, request_overdue…
    reference  TEXT NOT NULL,   -- what it is about, e.g. a request's reference (never personal data)
    link       TEXT NOT NULL,   -- a local path
    created_at TIMESTAMPTZ NOT NULL,
    read_at    TIMESTAMPTZ,
    digested_at TIMESTAMPTZ     -- sent in a digest e-mail
);
CREATE INDEX notifications_user ON notifications(user_id, read_at, created_at);
ALTER TABLE users ADD COLUMN email_digest BOOLEAN NOT NULL DEFAULT FALSE;

-- Idempotency keys of API clients: a repeated create, send or answer with
-- the same key returns the first result instead of acting twice.
CREATE TABLE idempotency_keys (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    scope      TEXT NOT NULL,  -- what the key was used for: "create", "<id>/send"…
    result     TEXT NOT NULL,  -- the request's id
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- +goose Down
ALTER TABLE users DROP COLUMN email_digest;
DROP TABLE notifications;
DROP TABLE idempotency_keys;
DROP TABLE request_reminders;
DROP TABLE request_attachments;
DROP TABLE request_questions;
DROP TABLE requests;
DROP TABLE counters;
DROP TABLE case_events;
