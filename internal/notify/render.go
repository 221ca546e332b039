package notify

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/openimi/openimi/internal/i18n"
)

// Email is one rendered e-mail, ready for a Sender.
type Email struct {
	// MessageID is the Message-ID without angle brackets. It is derived
	// from the outbox row, so every delivery of one message carries the
	// same one.
	MessageID string
	From      string
	To        string
	Subject   string
	Body      string // plain text, UTF-8
	Language  string // for the Content-Language header
}

// messageIDDomain is the right-hand side of every Message-ID.
const messageIDDomain = "openimi"

// messageID derives the Message-ID from the outbox row id.
func messageID(rowID string) string { return rowID + "@" + messageIDDomain }

// render translates a stored message. It happens at delivery rather than at
// enqueue time so that a corrected translation reaches messages still
// queued.
func render(cat *i18n.Catalog, from string, r outboxRow) (Email, error) {
	if _, ok := placeholders(r.kind); !ok {
		return Email{}, fmt.Errorf("unknown message kind %q", r.kind)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(r.payload), &data); err != nil {
		return Email{}, fmt.Errorf("decode placeholders: %w", err)
	}
	// Sorted so that the arguments, and thus any template error, do not
	// depend on map order.
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k, data[k])
	}
	loc := cat.Localizer(r.language)
	body := loc.T("email_"+r.kind+"_body", args...) + "\n\n" + loc.T("email_footer", args...)
	return Email{
		MessageID: messageID(r.id),
		From:      from,
		To:        r.recipient,
		Subject:   loc.T("email_"+r.kind+"_subject", args...),
		Body:      body,
		Language:  loc.Lang(),
	}, nil
}
