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
-- sqlite:end
-- postgres:begin
-- +goose StatementBegin
CREATE FUNCTION requests_inbox_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rid TEXT;
    d  BIGINT;
BEGIN
    IF TG_WHEN = 'BEFORE' THEN rid := OLD.id; d := -1; ELSE rid := NEW.id; d := 1; END IF;
    -- In the order of the key: two transactions lock the counts they
    -- share in the same order.
    INSERT INTO inbox_counts (owner, box, n)
        SELECT m.owner, m.box, d FROM inbox_membership m WHERE m.request_id = rid ORDER BY m.owner, m.box
        ON CONFLICT (owner, box) DO UPDATE SET n = inbox_counts.n + excluded.n;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER requests_inbox_leaving BEFORE UPDATE OF state, requester_id, responder_id, proposed_reply_by, sent_at OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_inbox_moved();
CREATE TRIGGER requests_inbox_entering AFTER INSERT OR UPDATE OF state, requester_id, responder_id, proposed_reply_by, sent_at ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_inbox_moved();
-- postgres:end

-- +goose Down
-- sqlite:begin
DROP TRIGGER requests_inbox_inserted;
DROP TRIGGER requests_inbox_leaving;
DROP TRIGGER requests_inbox_entering;
DROP TRIGGER requests_inbox_deleted;
-- sqlite:end
-- postgres:begin
DROP TRIGGER requests_inbox_leaving ON requests;
DROP TRIGGER requests_inbox_entering ON requests;
DROP FUNCTION requests_inbox_moved();
-- postgres:end
DROP VIEW inbox_membership;
DROP TABLE inbox_counts;
