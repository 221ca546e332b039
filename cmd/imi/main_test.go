package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// binary is the imi command built once for the tests that run it as a
// separate process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imi-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "imi")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// imi runs the command in-process and returns its exit code and output.
func imi(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestVersionAndHelp(t *testing.T) {
	if code, out, _ := imi(t, "", "version"); code != 0 || !strings.HasPrefix(out, "imi ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, _, errOut := imi(t, "", "serve", "--help")
	if code != 0 || !strings.Contains(errOut, "IMI_DATABASE") || !strings.Contains(errOut, "IMI_SESSION_IDLE_TIMEOUT") {
		t.Fatalf("serve --help: %d\n%s", code, errOut)
	}
	if code, _, _ := imi(t, "", "frobnicate"); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
	if code, _, _ := imi(t, ""); code != 2 {
		t.Fatalf("no command: %d", code)
	}
}

func TestCreateUserAndTokenFromTheCommandLine(t *testing.T) {
	loc := dbtest.Location(t)
	code, out, errOut := imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "Jan@Example.CZ", "--name", "Jan Novák", "--language", "cs")
	if code != 0 || !strings.Contains(out, "jan@example.cz") {
		t.Fatalf("create-user: %d %s %s", code, out, errOut)
	}
	code, _, errOut = imi(t, "password\n", "--database", loc, "admin", "create-user", "--email", "x@example.cz", "--name", "X")
	if code != 1 || !strings.Contains(errOut, "error_password_too_short") {
		t.Fatalf("weak password: %d %s", code, errOut)
	}
	code, out, errOut = imi(t, "", "admin", "create-token", "--database", loc, "--email", "jan@example.cz")
	if code != 0 || !strings.HasPrefix(out, "imi_") {
		t.Fatalf("create-token: %d %q %s", code, out, errOut)
	}
	if code, _, _ := imi(t, "", "admin", "create-token", "--database", loc, "--email", "nobody@example.cz"); code != 1 {
		t.Fatalf("token for an unknown user: %d", code)
	}
}

func TestAuditVerifyNamesTheFirstBadRow(t *testing.T) {
	loc := dbtest.Location(t)
	for _, e := range []string{"a@example.eu", "b@example.eu", "c@example.eu"} {
		if code, _, errOut := imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", e, "--name", "N"); code != 0 {
			t.Fatal(errOut)
		}
	}
	code, out, _ := imi(t, "", "--database", loc, "audit", "verify")
	if code != 0 || !strings.Contains(out, "3 rows verified") {
		t.Fatalf("intact: %d %s", code, out)
	}
	d, err := sql.Open(driverFor(loc), dsnFor(loc))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(`UPDATE audit_log SET subject = 'mallory@example.eu' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := imi(t, "", "--database", loc, "audit", "verify")
	if code != 1 || !strings.Contains(errOut, "first bad row is 2") {
		t.Fatalf("tampered: %d %s", code, errOut)
	}
}

func driverFor(loc string) string {
	if db.DialectOf(loc) == db.Postgres {
		return "pgx"
	}
	return "sqlite"
}

func dsnFor(loc string) string {
	if db.DialectOf(loc) == db.Postgres {
		return loc
	}
	return "file:" + loc
}

func TestDemoCodeServesOnlyDemoAccounts(t *testing.T) {
	loc := dbtest.Location(t)
	imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "real@example.eu", "--name", "Real")
	if code, _, _ := imi(t, "", "--database", loc, "demo", "code", "real@example.eu"); code != 1 {
		t.Fatalf("code for a real account: %d", code)
	}
}

// server is `imi serve` running as its own process.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServer(t *testing.T, loc string, args ...string) *server {
	t.Helper()
	addr := freePort(t)
	s := &server{url: "http://" + addr, logs: &bytes.Buffer{}}
	s.cmd = exec.Command(binary, append([]string{"serve", "--database", loc, "--listen", addr}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); _, _ = s.cmd.Process.Wait() })
	for i := 0; i < 100; i++ {
		if res, err := http.Get(s.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not become ready:\n%s", s.logs)
	return nil
}

func patchLanguage(t *testing.T, url, token, lang string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, url+"/api/v1/me", strings.NewReader(`{"language":"`+lang+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	loc := dbtest.Location(t)
	imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "k@example.eu", "--name", "K")
	_, token, _ := imi(t, "", "--database", loc, "admin", "create-token", "--email", "k@example.eu")
	token = strings.TrimSpace(token)
	s := startServer(t, loc, "--sqlite-synchronous", "FULL")
	langs := []string{"pl", "el", "mt", "ga", "fi", "lv"}
	last := ""
	for i := 0; i < 60; i++ {
		l := langs[i%len(langs)]
		if patchLanguage(t, s.url, token, l) == http.StatusOK {
			last = l
		}
	}
	if last == "" {
		t.Fatalf("no write acknowledged:\n%s", s.logs)
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = s.cmd.Process.Wait()

	d, err := sql.Open(driverFor(loc), dsnFor(loc))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got string
	if err := d.QueryRow(`SELECT language FROM users WHERE email = 'k@example.eu'`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != last {
		t.Fatalf("after kill -9 the language is %q, the last acknowledged was %q", got, last)
	}
	if code, out, errOut := imi(t, "", "--database", loc, "audit", "verify"); code != 0 {
		t.Fatalf("audit after kill -9: %s %s", out, errOut)
	}
	// The server starts again on the same database.
	s2 := startServer(t, loc)
	if patchLanguage(t, s2.url, token, "sv") != http.StatusOK {
		t.Fatal("restarted server refuses writes")
	}
}

func TestSIGTERMShutsDownGracefully(t *testing.T) {
	loc := dbtest.Location(t)
	s := startServer(t, loc)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, s.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", s.logs)
	}
	if !strings.Contains(s.logs.String(), "msg=stopped") {
		t.Fatalf("no clean stop logged:\n%s", s.logs)
	}
}

func TestDemoLoadsAccountsWhoseCodesWork(t *testing.T) {
	loc := dbtest.Location(t)
	addr := freePort(t)
	cmd := exec.Command(binary, "demo", "--database", loc, "--listen", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	// Waits up to 30 s: loading the demo on a busy machine takes a while.
	for i := 0; i < 600 && !strings.Contains(out.String(), "demo code"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "anna.kowalska@demo.openimi.eu") || !strings.Contains(out.String(), "demo code") {
		t.Fatalf("demo output:\n%s", out.String())
	}
	code, c, errOut := imi(t, "", "--database", loc, "demo", "code", "anna.kowalska@demo.openimi.eu")
	if code != 0 || len(strings.TrimSpace(c)) != 6 {
		t.Fatalf("demo code: %d %q %s", code, c, errOut)
	}
}

func TestCreateUserPlacesTheUserInAnAuthorityWithRoles(t *testing.T) {
	loc := dbtest.Location(t)
	// The demo puts authorities with external ids in the database.
	d, err := sql.Open(driverFor(loc), dsnFor(loc))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if code, _, errOut := imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "x@example.eu", "--name", "X"); code != 0 {
		t.Fatal(errOut)
	}
	if _, err := d.Exec(`INSERT INTO authorities (id, external_id, country, name, language, role, status, created_at, updated_at)
		VALUES ('a1', 'LT-VMVT', 'LT', 'Valstybinė maisto ir veterinarijos tarnyba', 'lt', 'competent_authority', 'validated', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO authority_areas (authority_id, area) VALUES ('a1', 'pq')`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "ruta@vmvt.lt.example", "--name", "Rūta",
		"--authority", "LT-VMVT", "--role", "request_handler:pq", "--role", "local_data_administrator")
	if code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	var n int
	if err := d.QueryRow(`SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id WHERE u.email = 'ruta@vmvt.lt.example' AND u.authority_id = 'a1'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d roles, %v", n, err)
	}
	if code, _, errOut := imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "y@example.eu", "--name", "Y", "--authority", "NOPE", "--role", "allocator"); code != 1 || !strings.Contains(errOut, "no authority") {
		t.Fatalf("unknown authority: %d %s", code, errOut)
	}
	if code, _, _ := imi(t, "correct-horse-battery-9\n", "--database", loc, "admin", "create-user", "--email", "z@example.eu", "--name", "Z", "--role", "allocator"); code != 2 {
		t.Fatal("--role without --authority accepted")
	}
}

func TestSearchReindexRebuildsTheIndex(t *testing.T) {
	loc := dbtest.Location(t)
	if code, _, errOut := imi(t, "", "--database", loc, "import", "authorities", "../../internal/authorities/testdata/authorities.csv"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, out, errOut := imi(t, "", "--database", loc, "search", "reindex")
	if code != 0 || !strings.Contains(out, "search index rebuilt:") || strings.Contains(out, "rebuilt: 0 ") {
		t.Fatalf("%d %q %s", code, out, errOut)
	}
}
