package notify_test

import (
	"context"
	"fmt"
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

// TellAuthority tells each user of the audience once, in their own
// language and by their own name; those who chose the digest get the
// notice and no e-mail; the one skipped and those told already get
// nothing.
func TestAnAuthoritysUsersAreToldEachInTheirOwnWay(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	a := auth.New(d, auth.Settings{}, nil)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	exec := func(q string, args ...any) {
		t.Helper()
		if err := d.InTx(ctx, func(tx db.Querier) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO authorities (id, country, name, language, role, status, created_at, updated_at)
		VALUES ('auth-1', 'PL', 'Urząd', 'pl', 'competent_authority', 'active', $1, $1)`, now)
	users := map[string]auth.User{}
	for _, u := range []struct{ key, lang, role, area string }{
		{"polish", "pl", "request_handler", "pq"},
		{"french", "fr", "allocator", ""},
		{"digest", "de", "request_handler", "pq"},
		{"actor", "en", "request_handler", "pq"},
		{"earlier", "en", "request_handler", "pq"},
		{"other_area", "en", "request_handler", "services"},
		{"other_role", "en", "coordinator", "pq"},
	} {
		x, err := a.CreateUser(ctx, auth.NewUser{Email: u.key + "@example.eu", Name: "Name " + u.key, Password: "correct-horse-battery-9", Language: u.lang})
		if err != nil {
			t.Fatal(err)
		}
		users[u.key] = x
		exec(`UPDATE users SET authority_id = 'auth-1' WHERE id = $1`, x.ID)
		exec(`INSERT INTO user_roles (user_id, role, area) VALUES ($1, $2, $3)`, x.ID, u.role, u.area)
	}
	if err := notify.SetDigest(ctx, d, users["digest"].ID, true); err != nil {
		t.Fatal(err)
	}
	// And more users than one statement writes rows for.
	const many = 1100
	if err := d.InTx(ctx, func(tx db.Querier) error {
		for i := range many {
			id := fmt.Sprintf("bulk-%04d", i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, language, password_hash, password_changed_at, authority_id, created_at, updated_at)
				VALUES ($1, $2, $3, 'it', 'x', $4, 'auth-1', $4, $4)`, id, id+"@example.eu", "Bulk "+id, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, role, area) VALUES ($1, 'request_handler', 'pq')`, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	to := notify.Audience{AuthorityID: "auth-1", Area: "pq", Roles: []string{"allocator", "request_handler"}, Skip: users["actor"].ID,
		Done: map[string]bool{users["earlier"].ID: true}}
	if err := d.InTx(ctx, func(tx db.Querier) error {
		return notify.TellAuthority(ctx, tx, now, to, "PQ-2026-000009", "/requests/r9", "http://imi.test", notify.KindRequestDueSoon,
			map[string]string{"Date": "2026-03-09"})
	}); err != nil {
		t.Fatal(err)
	}
	for key, u := range users {
		notices, unread, err := notify.Notices(ctx, d.Read(), u.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range notices {
			if n.Kind != notify.KindRequestDueSoon || n.Reference != "PQ-2026-000009" || n.Link != "/requests/r9" || !n.CreatedAt.Equal(now) {
				t.Errorf("%s: notice %+v", key, n)
			}
		}
		var mails int
		var lang, payload, kind string
		if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(language), ''), COALESCE(MAX(payload), ''), COALESCE(MAX(kind), '') FROM outbox WHERE recipient = $1`, u.Email).
			Scan(&mails, &lang, &payload, &kind); err != nil {
			t.Fatal(err)
		}
		if mails > 0 && kind != notify.KindRequestDueSoon {
			t.Errorf("%s: an e-mail of kind %q", key, kind)
		}
		wantNotice, wantMail := 0, 0
		switch key {
		case "polish", "french":
			wantNotice, wantMail = 1, 1
		case "digest":
			wantNotice = 1
		}
		if unread != wantNotice || mails != wantMail {
			t.Errorf("%s: %d notices and %d e-mails, want %d and %d", key, unread, mails, wantNotice, wantMail)
		}
		if wantMail == 1 && (lang != u.Language || !strings.Contains(payload, `"Name":"Name `+key+`"`) ||
			!strings.Contains(payload, `"Date":"2026-03-09"`) || !strings.Contains(payload, `"Link":"http://imi.test/requests/r9"`)) {
			t.Errorf("%s: e-mail in %q: %s", key, lang, payload)
		}
	}
	if !to.Done[users["polish"].ID] || !to.Done[users["french"].ID] || !to.Done[users["digest"].ID] || to.Done[users["actor"].ID] {
		t.Errorf("told: %v", to.Done)
	}
	var notices, mails, named int
	if err := d.Read().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM notifications WHERE user_id LIKE 'bulk-%' AND reference = 'PQ-2026-000009'),
		(SELECT COUNT(*) FROM outbox WHERE recipient LIKE 'bulk-%' AND language = 'it' AND kind = $1),
		(SELECT COUNT(*) FROM outbox WHERE recipient = 'bulk-1099@example.eu' AND payload LIKE '%"Name":"Bulk bulk-1099"%')`, notify.KindRequestDueSoon).
		Scan(&notices, &mails, &named); err != nil {
		t.Fatal(err)
	}
	if notices != many || mails != many || named != 1 {
		t.Errorf("of %d more users, %d notices and %d e-mails (the last one's named: %d)", many, notices, mails, named)
	}
}
