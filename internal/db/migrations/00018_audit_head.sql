-- +goose Up
-- postgres:begin
-- An append to the audit log takes the chain's lock (an advisory lock:
-- several servers may append at once) and then reads the chain's last
-- row, whose hash the new row's covers. Two statements were two round
-- trips for every page that shows personal data (its view recorded)
-- and every download. This function is both in one: the read is a
-- statement of its own inside it, so that in READ COMMITTED it sees every
-- append committed before the lock was granted (internal/audit).
-- +goose StatementBegin
CREATE FUNCTION audit_head(lock_key BIGINT, OUT last_seq BIGINT, OUT last_hash TEXT) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
END
$$;
-- +goose StatementEnd
-- postgres:end

-- +goose Down
-- postgres:begin
DROP FUNCTION audit_head(BIGINT);
-- postgres:end
