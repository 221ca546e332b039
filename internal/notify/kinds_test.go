package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/locales"
)

// TestEveryKindOfMessageRendersInEveryLanguage renders each kind the outbox
// accepts with the shipped catalogs in all 26 languages: every message has
// a subject and a body, and uses every placeholder of its kind (a
// translation that drops the link or the reference fails).
func TestEveryKindOfMessageRendersInEveryLanguage(t *testing.T) {
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{KindPasswordReset, KindPasswordChanged, KindAccountCreated, KindUserInvitation, KindAuthorityInvitation, KindNeverUsedReminder,
		KindRequestUpdate, KindRequestDueSoon, KindRequestOverdue, KindRequestFollowUp, KindAlertUpdate, KindNotificationUpdate, KindCommentPeriodEnded, KindDigest}
	for _, kind := range kinds {
		names, ok := placeholders(kind)
		if !ok {
			t.Fatalf("kind %s is not registered", kind)
		}
		data := map[string]string{}
		for _, n := range names {
			data[n] = "«" + n + "-7»"
		}
		payload, _ := json.Marshal(data)
		for _, l := range i18n.Languages {
			e, err := render(cat, "imi@example.eu", outboxRow{id: "x", kind: kind, recipient: "a@example.eu", language: l.Code, payload: string(payload)})
			if err != nil {
				t.Fatalf("%s in %s: %v", kind, l.Code, err)
			}
			text := e.Subject + "\n" + e.Body
			if e.Subject == "" || strings.Contains(text, "<no value>") || e.Language != l.Code {
				t.Errorf("%s in %s: %q", kind, l.Code, text)
			}
			for _, n := range names {
				if n == "Name" || n == "Count" && kind == KindDigest {
					continue // a greeting or a count some languages word around
				}
				if !strings.Contains(text, data[n]) {
					t.Errorf("%s in %s does not use {{.%s}}", kind, l.Code, n)
				}
			}
		}
	}
}
