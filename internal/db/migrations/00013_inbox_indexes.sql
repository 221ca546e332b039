-- +goose Up
-- The inbox shows a box twenty requests at a time, latest activity first,
-- with the counts of its tabs. For an authority with tens of thousands of
-- requests, reading every matching row to sort them took a fifth of a
-- second per page with a million requests stored (bench/load). With the
-- id in the indexes, the counts and the page's twenty ids come from the
-- indexes alone, and only those twenty rows are read. Two conditions of
-- boxes have partial indexes of their own: a reply date proposed (the
-- requester's "to do") and having been sent (the responder's "done").
DROP INDEX requests_requester;
DROP INDEX requests_responder;
CREATE INDEX requests_requester ON requests(requester_id, state, last_activity_at, id);
CREATE INDEX requests_responder ON requests(responder_id, state, last_activity_at, id);
CREATE INDEX requests_proposed ON requests(requester_id, state, last_activity_at, id) WHERE proposed_reply_by IS NOT NULL;
CREATE INDEX requests_responder_sent ON requests(responder_id, state, last_activity_at, id) WHERE sent_at IS NOT NULL;

-- +goose Down
DROP INDEX requests_responder_sent;
DROP INDEX requests_proposed;
DROP INDEX requests_responder;
DROP INDEX requests_requester;
CREATE INDEX requests_requester ON requests(requester_id, state, last_activity_at);
CREATE INDEX requests_responder ON requests(responder_id, state, last_activity_at);
