-- +goose Up
-- Statistics (internal/stats): one row of facts per request that was sent,
-- derived from its events (case_events) in the same transaction as each
-- step, and counters of the questions requests ask. Nothing here is
-- personal data: the figures outlive the erasure of the requests' personal
-- data. `imi stats rebuild` derives both tables again from the events.
CREATE TABLE request_facts (
    request_id        TEXT PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
    area              TEXT NOT NULL,
    category          TEXT NOT NULL DEFAULT '',  -- profession (pq), sector (services, pw): a term code
    requester_id      TEXT NOT NULL,
    requester_country TEXT NOT NULL,
    responder_id      TEXT NOT NULL,             -- the current responder, after any forwarding
    responder_country TEXT NOT NULL,
    state             TEXT NOT NULL,
    sent_at           TIMESTAMPTZ NOT NULL,      -- first sent (a split-off part: when it was split off)
    sent_month        TEXT NOT NULL,             -- YYYY-MM of sent_at in Brussels time
    arrived_at        TIMESTAMPTZ NOT NULL,      -- reached its current responder (sent, or last forwarded)
    accepted_at       TIMESTAMPTZ,
    accept_ok         INTEGER,                   -- 1 accepted within 7 days of arrival, 0 not, NULL undecided or withdrawn early
    answered_at       TIMESTAMPTZ,               -- first answer
    reply_seconds     BIGINT,                    -- sent → first answer
    net_seconds       BIGINT,                    -- the same, less the time the clock stood
    reply_bucket      INTEGER NOT NULL,          -- 1 ≤ 1 week … 4 > 4 weeks, 0 unanswered, 5 ended unanswered
    net_bucket        INTEGER NOT NULL,
    reply_by          TIMESTAMPTZ NOT NULL,      -- the agreed reply date
    on_time           INTEGER,                   -- answered by the agreed date: 1, 0; NULL unanswered
    negative          INTEGER,                   -- rated 1 or 2 of 5 on either scale: 1, 0; NULL unrated
    reopened          INTEGER NOT NULL DEFAULT 0,
    forwarded         INTEGER NOT NULL DEFAULT 0,
    questions         TEXT NOT NULL DEFAULT ''   -- the question codes it holds, sorted, comma-separated
);
CREATE INDEX request_facts_month ON request_facts(sent_month, area);
-- Covering indexes: figures per responding country or authority, and the
-- scoreboard, read them in order instead of sorting a million rows
-- (bench/stats_test.go: 1.4 s → 0.3 s on SQLite).
CREATE INDEX request_facts_responder ON request_facts(responder_country, responder_id, sent_month, area,
    reply_bucket, net_bucket, reply_seconds, net_seconds);
CREATE INDEX request_facts_scoreboard ON request_facts(responder_country, sent_month, area, state,
    accept_ok, on_time, negative, net_seconds, accepted_at, answered_at, arrived_at, reply_by);

-- How many requests of an area, sent in a month, hold each question.
CREATE TABLE stats_questions (
    area     TEXT NOT NULL,
    month    TEXT NOT NULL,
    code     TEXT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (area, month, code)
);

-- The follow-up lists read open requests by state: most requests are
-- closed, so this index keeps the lists quick however many there are.
CREATE INDEX requests_open ON requests(state, last_activity_at);

-- +goose Down
DROP INDEX requests_open;
DROP INDEX request_facts_scoreboard;
DROP TABLE stats_questions;
DROP TABLE request_facts;
