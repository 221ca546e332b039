package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/notify"
)

func TestNotificationsByEMailAtOnceOrInADailyDigest(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	a := auth.New(d, auth.Settings{}, nil)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	at, err := a.CreateUser(ctx, auth.NewUser{Email: "at.once@example.eu", Name: "At Once", Password: "correct-horse-battery-9"})
	if err != nil {
		t.Fatal(err)
	}
	daily, err := a.CreateUser(ctx, auth.NewUser{Email: "daily@example.eu", Name: "Daily", Password: "correct-horse-battery-9"})
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.SetDigest(ctx, d, daily.ID, true); err != nil {
		t.Fatal(err)
	}
	tell := func(u auth.User, ref string) {
		t.Helper()
		if err := d.InTx(ctx, func(tx db.Querier) error {
			return notify.Tell(ctx, tx, now, u.ID, ref, "/requests/x", notify.Message{Kind: notify.KindRequestUpdate, To: u.Email,
				Data: map[string]string{"Name": u.Name, "Reference": ref, "Link": "http://imi.test/requests/x"}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	mails := func(to string) int {
		var n int
		_ = d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE recipient = $1`, to).Scan(&n)
		return n
	}
	for _, ref := range []string{"PQ-2026-000001", "PQ-2026-000002"} {
		tell(at, ref)
		tell(daily, ref)
	}
	if mails("at.once@example.eu") != 2 || mails("daily@example.eu") != 0 {
		t.Fatalf("at once %d, daily %d", mails("at.once@example.eu"), mails("daily@example.eu"))
	}
	list, unread, err := notify.Notices(ctx, d.Read(), daily.ID, 10)
	if err != nil || len(list) != 2 || unread != 2 {
		t.Fatalf("%d notices, %d unread, %v", len(list), unread, err)
	}
	if n, err := notify.Digest(ctx, d, now, "http://imi.test"); err != nil || n != 1 {
		t.Fatalf("digest: %d %v", n, err)
	}
	var payload string
	_ = d.Read().QueryRowContext(ctx, `SELECT payload FROM outbox WHERE recipient = 'daily@example.eu'`).Scan(&payload)
	if !strings.Contains(payload, "PQ-2026-000001") || !strings.Contains(payload, "PQ-2026-000002") {
		t.Fatalf("digest: %s", payload)
	}
	// Once a day: a new notification an hour later waits for tomorrow.
	tell(daily, "PQ-2026-000003")
	if n, _ := notify.Digest(ctx, d, now.Add(time.Hour), "http://imi.test"); n != 0 {
		t.Fatal("two digests in a day")
	}
	if n, _ := notify.Digest(ctx, d, now.Add(25*time.Hour), "http://imi.test"); n != 1 {
		t.Fatal("no digest the next day")
	}
	if err := notify.MarkRead(ctx, d, daily.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, unread, _ := notify.Notices(ctx, d.Read(), daily.ID, 10); unread != 0 {
		t.Fatal("still unread")
	}
}
