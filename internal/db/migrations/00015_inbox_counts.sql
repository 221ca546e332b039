-- +goose Up
-- The inbox's tabs show how many requests each box holds. Counting them
-- read every matching index entry, five boxes over, on every inbox page:
-- with a million requests stored, half of the page's time. The counts are
-- now kept: inbox_membership says which boxes a request is in, for whom
-- (an authority's id, or 'country:' and a country code for what its
-- coordinators decide on), exactly as requests.Inbox selects them; the
-- triggers below take a request out of its boxes before a change and put
-- it in its new ones after, in the same transaction, whoever makes it.
CREATE TABLE inbox_counts (
    owner TEXT NOT NULL,
    box   TEXT NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (owner, box)
);
-- sqlite:begin
CREATE VIEW inbox_membership AS
SELECT r.id AS request_id, r.requester_id AS owner, 'todo' AS box FROM requests r
    WHERE r.state IN ('info_requested', 'answered') OR (r.proposed_reply_by IS NOT NULL AND r.state = 'accepted')
UNION ALL SELECT r.id, r.responder_id, 'todo' FROM requests r
    WHERE r.responder_id IS NOT NULL AND r.state IN ('sent', 'accepted')
UNION ALL SELECT r.id, 'country:' || a.country, 'todo' FROM requests r JOIN authorities a ON a.id = r.requester_id
    WHERE r.state = 'awaiting_approval'
UNION ALL SELECT r.id, 'country:' || a.country, 'todo' FROM requests r JOIN authorities a ON a.id = r.responder_id
    WHERE r.state = 'awaiting_allocation'
UNION ALL SELECT r.id, r.responder_id, 'received' FROM requests r
    WHERE r.responder_id IS NOT NULL AND r.state IN ('sent', 'accepted', 'info_requested', 'answered')
UNION ALL SELECT r.id, r.requester_id, 'sent' FROM requests r
    WHERE r.state NOT IN ('draft', 'closed', 'declined', 'withdrawn')
UNION ALL SELECT r.id, r.requester_id, 'drafts' FROM requests r
    WHERE r.state = 'draft'
UNION ALL SELECT r.id, r.requester_id, 'closed' FROM requests r
    WHERE r.state IN ('closed', 'declined', 'withdrawn')
UNION ALL SELECT r.id, r.responder_id, 'closed' FROM requests r
    WHERE r.responder_id IS NOT NULL AND r.sent_at IS NOT NULL AND r.state IN ('closed', 'declined', 'withdrawn');
-- sqlite:end
-- postgres:begin
-- The same boxes as a function of a row, so that a trigger can compare a
-- request's boxes before and after a change in one statement: it locks
-- only the counts that change, in the order of their key, and two
-- transactions never wait for each other's counts in opposite orders.
-- +goose StatementBegin
CREATE FUNCTION inbox_boxes(r requests) RETURNS TABLE (owner TEXT, box TEXT) LANGUAGE sql STABLE AS $$
SELECT r.requester_id, 'todo' WHERE r.state IN ('info_requested', 'answered') OR (r.proposed_reply_by IS NOT NULL AND r.state = 'accepted')
UNION ALL SELECT r.responder_id, 'todo' WHERE r.responder_id IS NOT NULL AND r.state IN ('sent', 'accepted')
UNION ALL SELECT 'country:' || a.country, 'todo' FROM authorities a WHERE a.id = r.requester_id AND r.state = 'awaiting_approval'
UNION ALL SELECT 'country:' || a.country, 'todo' FROM authorities a WHERE a.id = r.responder_id AND r.state = 'awaiting_allocation'
UNION ALL SELECT r.responder_id, 'received' WHERE r.responder_id IS NOT NULL AND r.state IN ('sent', 'accepted', 'info_requested', 'answered')
UNION ALL SELECT r.requester_id, 'sent' WHERE r.state NOT IN ('draft', 'closed', 'declined', 'withdrawn')
UNION ALL SELECT r.requester_id, 'drafts' WHERE r.state = 'draft'
UNION ALL SELECT r.requester_id, 'closed' WHERE r.state IN ('closed', 'declined', 'withdrawn')
UNION ALL SELECT r.responder_id, 'closed' WHERE r.responder_id IS NOT NULL AND r.sent_at IS NOT NULL AND r.state IN ('closed', 'declined', 'withdrawn')
$$;
-- +goose StatementEnd
CREATE VIEW inbox_membership AS SELECT r.id AS request_id, m.owner, m.box FROM requests r CROSS JOIN LATERAL inbox_boxes(r) m;
-- postgres:end
INSERT INTO inbox_counts (owner, box, n) SELECT owner, box, COUNT(*) FROM inbox_membership GROUP BY owner, box;
-- sqlite:begin
-- +goose StatementBegin
CREATE TRIGGER requests_inbox_inserted AFTER INSERT ON requests BEGIN
    INSERT INTO inbox_counts (owner, box, n) SELECT owner, box, 1 FROM inbox_membership WHERE request_id = NEW.id
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER requests_inbox_leaving BEFORE UPDATE OF state, requester_id, responder_id, proposed_reply_by, sent_at ON requests BEGIN
    INSERT INTO inbox_counts (owner, box, n) SELECT owner, box, -1 FROM inbox_membership WHERE request_id = OLD.id
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER requests_inbox_entering AFTER UPDATE OF state, requester_id, responder_id, proposed_reply_by, sent_at ON requests BEGIN
    INSERT INTO inbox_counts (owner, box, n) SELECT owner, box, 1 FROM inbox_membership WHERE request_id = NEW.id
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER requests_inbox_deleted BEFORE DELETE ON requests BEGIN
    INSERT INTO inbox_counts (owner, box, n) SELECT owner, box, -1 FROM inbox_membership WHERE request_id = OLD.id
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authorities_inbox_leaving BEFORE UPDATE OF country ON authorities WHEN OLD.country IS NOT NEW.country BEGIN
    INSERT INTO inbox_counts (owner, box, n) SELECT m.owner, m.box, -COUNT(*) FROM inbox_membership m
        WHERE m.request_id IN (SELECT id FROM requests WHERE requester_id = OLD.id AND state = 'awaiting_approval'
                               UNION ALL SELECT id FROM requests WHERE responder_id = OLD.id AND state = 'awaiting_allocation')
          AND m.owner LIKE 'country:%' GROUP BY m.owner, m.box
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER authorities_inbox_entering AFTER UPDATE OF country ON authorities WHEN OLD.country IS NOT NEW.country BEGIN
    INSERT INTO inbox_counts (owner, box, n) SELECT m.owner, m.box, COUNT(*) FROM inbox_membership m
        WHERE m.request_id IN (SELECT id FROM requests WHERE requester_id = NEW.id AND state = 'awaiting_approval'
                               UNION ALL SELECT id FROM requests WHERE responder_id = NEW.id AND state = 'awaiting_allocation')
          AND m.owner LIKE 'country:%' GROUP BY m.owner, m.box
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
END;
-- +goose StatementEnd
-- sqlite:end
-- postgres:begin
-- +goose StatementBegin
CREATE FUNCTION requests_inbox_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inbox_counts (owner, box, n)
        SELECT c.owner, c.box, SUM(c.d) FROM (
            SELECT o.owner, o.box, -1 AS d FROM inbox_boxes(OLD) o WHERE TG_OP <> 'INSERT'
            UNION ALL SELECT w.owner, w.box, 1 FROM inbox_boxes(NEW) w WHERE TG_OP <> 'DELETE'
        ) c GROUP BY c.owner, c.box HAVING SUM(c.d) <> 0 ORDER BY c.owner, c.box
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER requests_inbox_moved AFTER INSERT OR UPDATE OF state, requester_id, responder_id, proposed_reply_by, sent_at OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_inbox_moved();
-- An authority that changes country takes what waits for its coordinators
-- with it (before the change, out of the old country's count; after, into
-- the new one's). Rare: the Commission's change.
-- +goose StatementBegin
CREATE FUNCTION authorities_inbox_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inbox_counts (owner, box, n)
        SELECT m.owner, m.box, CASE WHEN TG_WHEN = 'BEFORE' THEN -COUNT(*) ELSE COUNT(*) END FROM inbox_membership m
        WHERE m.request_id IN (SELECT id FROM requests WHERE requester_id = NEW.id AND state = 'awaiting_approval'
                               UNION ALL SELECT id FROM requests WHERE responder_id = NEW.id AND state = 'awaiting_allocation')
          AND m.owner LIKE 'country:%'
        GROUP BY m.owner, m.box ORDER BY m.owner, m.box
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER authorities_inbox_leaving BEFORE UPDATE OF country ON authorities
    FOR EACH ROW WHEN (OLD.country IS DISTINCT FROM NEW.country) EXECUTE FUNCTION authorities_inbox_moved();
CREATE TRIGGER authorities_inbox_entering AFTER UPDATE OF country ON authorities
    FOR EACH ROW WHEN (OLD.country IS DISTINCT FROM NEW.country) EXECUTE FUNCTION authorities_inbox_moved();
-- postgres:end

-- +goose Down
-- sqlite:begin
DROP TRIGGER requests_inbox_inserted;
DROP TRIGGER requests_inbox_leaving;
DROP TRIGGER requests_inbox_entering;
DROP TRIGGER requests_inbox_deleted;
DROP TRIGGER authorities_inbox_leaving;
DROP TRIGGER authorities_inbox_entering;
-- sqlite:end
-- postgres:begin
DROP TRIGGER requests_inbox_moved ON requests;
DROP FUNCTION requests_inbox_moved();
DROP TRIGGER authorities_inbox_leaving ON authorities;
DROP TRIGGER authorities_inbox_entering ON authorities;
DROP FUNCTION authorities_inbox_moved();
-- postgres:end
DROP VIEW inbox_membership;
-- postgres:begin
DROP FUNCTION inbox_boxes(requests);
-- postgres:end
DROP TABLE inbox_counts;
