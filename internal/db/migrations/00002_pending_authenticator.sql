-- +goose Up
-- A new authenticator being set up from the profile. The current one stays
-- in force until the new one is confirmed with a code from it.
ALTER TABLE users ADD COLUMN totp_pending_secret TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN totp_pending_secret;
