-- +goose Up
-- Alerts and notifications (internal/broadcasts): one-to-many exchanges on
-- the workflow engine. Their history is in case_events, like requests'.

CREATE TABLE broadcasts (
    id               TEXT PRIMARY KEY,
    reference        TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,             -- alert, notification
    area             TEXT NOT NULL,
    type             TEXT NOT NULL,             -- the area pack's broadcast code
    state            TEXT NOT NULL,
    sender_id        TEXT NOT NULL REFERENCES authorities(id),
    created_by       TEXT NOT NULL REFERENCES users(id),
    title            TEXT NOT NULL DEFAULT '',  -- never personal data
    fields           TEXT NOT NULL DEFAULT '{}', -- JSON; personal data for alerts
    subject_name     TEXT NOT NULL DEFAULT '',  -- the personal fields, for finding
    message          TEXT NOT NULL DEFAULT '',  -- may be personal data (alerts)
    criteria         TEXT NOT NULL DEFAULT '',  -- confirmed criteria, space-separated
    all_countries    BOOLEAN NOT NULL DEFAULT FALSE,
    countries        TEXT NOT NULL DEFAULT '',  -- chosen countries, space-separated
    sent_at          TIMESTAMPTZ,
    comment_until    TIMESTAMPTZ,               -- notifications: end of the comment period
    period_told_at   TIMESTAMPTZ,               -- when the sender was told it ended
    closed_at        TIMESTAMPTZ,
    blocked_at       TIMESTAMPTZ,
    erased_at        TIMESTAMPTZ,
    last_activity_at TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX broadcasts_sender ON broadcasts(sender_id, state);
CREATE INDEX broadcasts_kind ON broadcasts(kind, area, sent_at);
CREATE INDEX broadcasts_closed ON broadcasts(closed_at);

-- The countries a broadcast reached: their coordinators receive it and
-- disseminate it.
CREATE TABLE broadcast_countries (
    broadcast_id    TEXT NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    country         TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    disseminated_at TIMESTAMPTZ,
    PRIMARY KEY (broadcast_id, country)
);
CREATE INDEX broadcast_countries_country ON broadcast_countries(country, disseminated_at);

-- The authorities a coordinator disseminated a broadcast to, and their
-- acknowledgements.
CREATE TABLE broadcast_recipients (
    broadcast_id    TEXT NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    authority_id    TEXT NOT NULL REFERENCES authorities(id),
    country         TEXT NOT NULL,
    disseminated_by TEXT NOT NULL REFERENCES users(id),
    disseminated_at TIMESTAMPTZ NOT NULL,
    acknowledged_by TEXT REFERENCES users(id),
    acknowledged_at TIMESTAMPTZ,
    PRIMARY KEY (broadcast_id, authority_id)
);
CREATE INDEX broadcast_recipients_authority ON broadcast_recipients(authority_id, acknowledged_at);

-- +goose Down
DROP TABLE broadcast_recipients;
DROP TABLE broadcast_countries;
DROP TABLE broadcasts;
