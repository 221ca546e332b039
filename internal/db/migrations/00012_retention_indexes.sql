-- +goose Up
-- Retention (requests.Retain, hourly) looks for closed requests whose
-- personal data is still to be blocked or deleted. With a million requests
-- stored, most closed and blocked long ago, the index on closed_at alone
-- made every run read hundreds of thousands of rows while holding the
-- writer (found by bench/load: SQLite's writes waited for more than 20 s).
-- These partial indexes hold only the requests still waiting.
CREATE INDEX requests_to_block ON requests(area, closed_at) WHERE blocked_at IS NULL AND closed_at IS NOT NULL;
CREATE INDEX requests_to_erase ON requests(closed_at) WHERE erased_at IS NULL AND closed_at IS NOT NULL;

-- +goose Down
DROP INDEX requests_to_erase;
DROP INDEX requests_to_block;
