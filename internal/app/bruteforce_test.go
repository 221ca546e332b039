package app_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/testkit"
)

// The brute-force tests attack the real server over HTTP, as the
// foundation issue specifies the throttling: after 5 failed attempts for
// an account or 20 from one address, further attempts are refused for a
// period that doubles (1 minute up to 1 hour); a refused attempt costs no
// password hash and counts nowhere; codes are accepted once; reset links
// once and only in time. Sign-in runs on a fake clock, so that locks are
// lifted by moving the clock, never by sleeping. Each scenario counts its
// attempts and answers and logs the figures (go test -v -run BruteForce).

// startBFSite is startSite with sign-in on a fake clock that starts now.
func startBFSite(t *testing.T, extra ...string) (*site, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock(time.Now().UTC())
	c := newConfig(t, dbtest.Location(t), extra...)
	a, err := openApp(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	a.Now = clock.Now
	a.Auth = auth.New(a.DB, auth.Settings{IdleTimeout: c.SessionIdleTimeout, MaxAge: c.SessionMaxAge, ResetTTL: c.PasswordResetTTL,
		Issuer: c.TOTPIssuer, PublicURL: c.PublicURL}, clock.Now)
	return serveSite(t, a), clock
}

// bfClient is one attacker's HTTP client: its own cookies and CSRF token,
// and optionally the address a trusted proxy would forward. Unlike browser
// it returns errors, so that it can run in goroutines.
type bfClient struct {
	s    *site
	c    *http.Client
	csrf string
	lang string
}

func (s *site) bfClient(lang string) *bfClient {
	jar, _ := cookiejar.New(nil)
	return &bfClient{s: s, lang: lang, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// bfFrom is a client that shares a browser's cookies (its session).
func bfFrom(b *browser, lang string) *bfClient {
	return &bfClient{s: b.s, c: b.c, csrf: b.csrf, lang: lang}
}

// do sends a request; a form is posted with the client's CSRF token, and
// from (if set) is the X-Forwarded-For value.
func (c *bfClient) do(method, path string, form url.Values, from string) (response, error) {
	var body io.Reader
	if form != nil {
		if _, ok := form["csrf"]; !ok {
			form.Set("csrf", c.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.s.srv.URL+path, body)
	if err != nil {
		return response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	res, err := c.c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	if m := csrfInput.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return response{code: res.StatusCode, body: string(b), header: res.Header}, nil
}

func (c *bfClient) get(path string) (response, error) { return c.do(http.MethodGet, path, nil, "") }

func (c *bfClient) post(path string, form url.Values) (response, error) {
	return c.do(http.MethodPost, path, form, "")
}

// must is for the steps of a test's own goroutine.
func (c *bfClient) must(r response, err error) response {
	c.s.t.Helper()
	if err != nil {
		c.s.t.Fatal(err)
	}
	return r
}

// bfOutcomes counts answers by status code.
type bfOutcomes map[int]int

func (o bfOutcomes) String() string {
	return tally(o, func(code, n int) string { return fmt.Sprintf("%d×%d", n, code) })
}

// tally writes counts in the order of their keys, each by format, joined
// by commas.
func tally[K cmp.Ordered](counts map[K]int, format func(key K, n int) string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, format(k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// bfRun makes n attempts with workers parallel clients. newClient makes a
// worker's client; attempt makes attempt i; check returns what is wrong
// with an answer, or "". Transport errors (a hang past the client's
// timeout included) and wrong answers fail the test.
func bfRun(t *testing.T, n, workers int, newClient func() (*bfClient, error), attempt func(i int, c *bfClient) (response, error),
	check func(r response) string) bfOutcomes {
	t.Helper()
	out := bfOutcomes{}
	var problems []string
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newClient()
			for i := range next {
				var r response
				if err == nil {
					r, err = attempt(i, c)
				}
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, fmt.Sprintf("attempt %d: %v", i, err))
					err = nil
				default:
					out[r.code]++
					if p := check(r); p != "" {
						problems = append(problems, fmt.Sprintf("attempt %d: %s", i, p))
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, p := range problems {
		if i == 5 {
			t.Errorf("... and %d more", len(problems)-5)
			break
		}
		t.Error(p)
	}
	return out
}

// bfSays reports whether a page shows a translated message.
func bfSays(body, message string) bool { return strings.Contains(body, html.EscapeString(message)) }

// bfThrottledIn checks a throttled answer: 429 with the message, in the
// client's language, that names the minutes to wait.
func bfThrottledIn(l *i18n.Localizer, minutes int) func(r response) string {
	want := l.N("error_signin_throttled", minutes)
	return func(r response) string {
		if r.code == http.StatusTooManyRequests && !bfSays(r.body, want) {
			return fmt.Sprintf("429 without %q", want)
		}
		return ""
	}
}

// bfCheckAll combines checks.
func bfCheckAll(checks ...func(r response) string) func(r response) string {
	return func(r response) string {
		for _, c := range checks {
			if p := c(r); p != "" {
				return p
			}
		}
		return ""
	}
}

// bfRefused checks that an answer is one of the allowed statuses (never a
// 500, never a success).
func bfRefused(allowed ...int) func(r response) string {
	return func(r response) string {
		for _, a := range allowed {
			if r.code == a {
				return ""
			}
		}
		return fmt.Sprintf("status %d, want one of %v", r.code, allowed)
	}
}

// bfSignInClient is a worker for password attempts: it has read the
// sign-in form (for its CSRF cookie and token).
func (s *site) bfSignInClient(lang string) func() (*bfClient, error) {
	return func() (*bfClient, error) {
		c := s.bfClient(lang)
		_, err := c.get("/sign-in")
		return c, err
	}
}

// bfThrottle is a throttling counter as stored.
type bfThrottle struct {
	failures int
	until    time.Time // zero when not locked
}

func bfCounter(t *testing.T, s *site, key string) bfThrottle {
	t.Helper()
	var c bfThrottle
	var until *time.Time
	err := db.Check(s.app.DB.Read().QueryRowContext(context.Background(), `SELECT failures, locked_until FROM sign_in_throttle WHERE key = $1`, key).Scan(&c.failures, &until))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		t.Fatal(err)
	}
	if until != nil {
		c.until = until.UTC()
	}
	return c
}

// bfCode is the TOTP code of secret at a time of the fake clock.
func bfCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bfWrongCode is the i-th guess of a code: six digits that are not valid
// for secret around at, and every tenth a guess at a recovery code.
func bfWrongCode(t *testing.T, secret string, i int, at time.Time) string {
	if i%10 == 9 {
		return fmt.Sprintf("guess-%05d", i)
	}
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[bfCode(t, secret, at.Add(d))] = true
	}
	for n := i * 7919; ; n++ {
		if c := fmt.Sprintf("%06d", n%1000000); !valid[c] {
			return c
		}
	}
}

// bfEnrol enrols email's second factor in a browser (at the real time,
// which the browser's codes use), then moves the clock to the middle of the
// next 30-second step, so that the enrolment's code is the previous one.
func bfEnrol(t *testing.T, s *site, clock *testkit.Clock, email string) *browser {
	t.Helper()
	clock.Set(time.Now().UTC())
	b := s.enrolAs(email)
	var step int64
	if err := s.app.DB.Read().QueryRowContext(context.Background(), `SELECT totp_last_step FROM users WHERE email = $1`, email).Scan(&step); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Unix((step+1)*30+15, 0).UTC())
	return b
}

// bfPasswordStep signs a new client in with the password, up to the
// security code page, whose CSRF token it then holds.
func (s *site) bfPasswordStep(t *testing.T, lang, email, password string) *bfClient {
	t.Helper()
	c := s.bfClient(lang)
	c.must(c.get("/sign-in"))
	r := c.must(c.post("/sign-in", url.Values{"email": {email}, "password": {password}}))
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/sign-in/") {
		t.Fatalf("password step: %d %s", r.code, r.location())
	}
	c.must(c.get(r.location()))
	return c
}

func TestBruteForceOnOneAccountFromOneAddress(t *testing.T) {
	s, clock := startBFSite(t)
	b := bfEnrol(t, s, clock, "anna@example.pl")
	pl := s.app.Catalog.Localizer("pl")
	t0 := clock.Now()
	hashes := s.app.Auth.PasswordHashes()

	// 1,000 wrong passwords, eight at a time.
	out := bfRun(t, 1000, 8, s.bfSignInClient("pl"), func(i int, c *bfClient) (response, error) {
		return c.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {fmt.Sprintf("wrong-password-%04d", i)}})
	}, bfCheckAll(bfRefused(http.StatusUnauthorized, http.StatusTooManyRequests), bfThrottledIn(pl, 1), func(r response) string {
		if r.code == http.StatusUnauthorized && !bfSays(r.body, pl.T("error_signin_wrong")) {
			return "401 without the translated message"
		}
		return ""
	}))
	spent := s.app.Auth.PasswordHashes() - hashes
	t.Logf("one account, one address: 1000 wrong passwords: %v; argon2id hashes computed: %d", out, spent)
	if out[http.StatusUnauthorized] != 5 || out[http.StatusTooManyRequests] != 995 {
		t.Errorf("outcomes %v, want 5×401 (checked) and 995×429 (throttled)", out)
	}
	if spent != 5 {
		t.Errorf("%d password hashes for 5 checked attempts: throttled attempts must cost none", spent)
	}
	if c := bfCounter(t, s, "account:anna@example.pl"); c.failures != 5 || !c.until.Equal(t0.Truncate(time.Microsecond).Add(time.Minute)) {
		t.Errorf("account counter %+v, want 5 failures locked for 1 minute", c)
	}
	if c := bfCounter(t, s, "address:127.0.0.1"); c.failures != 5 || !c.until.IsZero() {
		t.Errorf("address counter %+v: refused attempts must count nowhere", c)
	}

	// The right password is refused while the account is locked.
	hashes = s.app.Auth.PasswordHashes()
	c := s.bfClient("pl")
	c.must(c.get("/sign-in"))
	if r := c.must(c.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})); r.code != http.StatusTooManyRequests || !bfSays(r.body, pl.N("error_signin_throttled", 1)) {
		t.Fatalf("right password while locked: %d", r.code)
	}
	if n := s.app.Auth.PasswordHashes() - hashes; n != 0 {
		t.Errorf("the refused right password cost %d hashes", n)
	}

	// Each failure after a lock ends locks the account for twice as long,
	// up to an hour.
	var growth []string
	for _, minutes := range []int{2, 4, 8, 16, 32, 60, 60} {
		clock.Set(bfCounter(t, s, "account:anna@example.pl").until.Add(time.Second))
		if r := c.must(c.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {"wrong-password-xx"}})); r.code != http.StatusUnauthorized {
			t.Fatalf("first attempt after the lock: %d, want 401", r.code)
		}
		lock := bfCounter(t, s, "account:anna@example.pl").until.Sub(clock.Now().Truncate(time.Microsecond))
		if lock != time.Duration(minutes)*time.Minute {
			t.Errorf("lock of %v, want %d minutes", lock, minutes)
		}
		r := c.must(c.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}}))
		if r.code != http.StatusTooManyRequests || !bfSays(r.body, pl.N("error_signin_throttled", minutes)) {
			t.Errorf("right password during a %d-minute lock: %d, or no message naming %d minutes", minutes, r.code, minutes)
		}
		growth = append(growth, lock.String())
	}
	t.Logf("locks after each further failure: 1m0s, %s", strings.Join(growth, ", "))

	// When the attack stops and the lock ends, the user signs in: the
	// password and then the code (the lock the password step set for
	// itself is lifted with its success).
	clock.Set(bfCounter(t, s, "account:anna@example.pl").until.Add(time.Second))
	u := s.bfPasswordStep(t, "pl", "anna@example.pl", testPassword)
	if r := u.must(u.post("/sign-in/code", url.Values{"code": {bfCode(t, b.secret, clock.Now())}})); r.code != http.StatusSeeOther || r.location() != "/" {
		t.Fatalf("the right code after the attack: %d %s", r.code, r.location())
	}
	if c := bfCounter(t, s, "account:anna@example.pl"); c.failures != 0 {
		t.Errorf("a complete sign-in left the account's failures at %d", c.failures)
	}
}

func TestBruteForceOnOneAccountFromFiftyAddresses(t *testing.T) {
	s, _ := startBFSite(t, "--trust-proxy-headers")
	pl := s.app.Catalog.Localizer("pl")
	address := func(i int) string { return fmt.Sprintf("198.51.100.%d", i%50+1) }
	hashes := s.app.Auth.PasswordHashes()
	out := bfRun(t, 1000, 8, s.bfSignInClient("pl"), func(i int, c *bfClient) (response, error) {
		return c.do(http.MethodPost, "/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {fmt.Sprintf("wrong-password-%04d", i)}}, address(i))
	}, bfCheckAll(bfRefused(http.StatusUnauthorized, http.StatusTooManyRequests), bfThrottledIn(pl, 1)))
	spent := s.app.Auth.PasswordHashes() - hashes
	t.Logf("one account, 50 addresses: 1000 wrong passwords: %v; argon2id hashes computed: %d", out, spent)
	if out[http.StatusUnauthorized] != 5 || out[http.StatusTooManyRequests] != 995 || spent != 5 {
		t.Errorf("outcomes %v and %d hashes, want 5×401 and 995×429: the account's lock holds whatever the address", out, spent)
	}
	// The refused attempts counted nowhere: no address reached its limit,
	// since between them they made 5 failures.
	if n := s.count(t, `SELECT COUNT(*) FROM sign_in_throttle WHERE key LIKE 'address:198.51.100.%' AND locked_until IS NOT NULL`); n != 0 {
		t.Errorf("%d addresses locked by attempts that were refused", n)
	}
	// The right password from yet another address is refused too.
	c := s.bfClient("pl")
	c.must(c.get("/sign-in"))
	if r := c.must(c.do(http.MethodPost, "/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}}, "203.0.113.77")); r.code != http.StatusTooManyRequests {
		t.Fatalf("right password from a fresh address while the account is locked: %d", r.code)
	}
}

// bfAccounts creates n users with testPassword, hashing it once, so that a
// spray has real accounts to aim at.
func bfAccounts(t *testing.T, s *site, n int) []string {
	t.Helper()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	emails := make([]string, n)
	now := time.Now().UTC()
	err = s.app.DB.InTx(context.Background(), func(tx db.Querier) error {
		for i := range emails {
			emails[i] = fmt.Sprintf("user%03d@example.fi", i)
			if _, err := tx.ExecContext(context.Background(), `INSERT INTO users (id, email, name, language, password_hash, password_changed_at, created_at, updated_at)
				VALUES ($1, $2, $3, '', $4, $5, $5, $5)`, uuid.Must(uuid.NewV7()).String(), emails[i], fmt.Sprintf("User %d", i), hash, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return emails
}

func TestBruteForceSprayOverManyAccountsFromFiftyAddresses(t *testing.T) {
	s, _ := startBFSite(t, "--trust-proxy-headers")
	pl := s.app.Catalog.Localizer("pl")
	accounts := bfAccounts(t, s, 250)
	address := func(i int) string { return fmt.Sprintf("198.51.100.%d", i%50+1) }
	spray := func(offset int) func(i int, c *bfClient) (response, error) {
		return func(i int, c *bfClient) (response, error) {
			i += offset
			return c.do(http.MethodPost, "/sign-in", url.Values{"email": {accounts[i%len(accounts)]}, "password": {fmt.Sprintf("Spring-%04d!", i)}}, address(i))
		}
	}
	// 1,000 guesses, 20 from each address, 4 on each account: every one
	// is within both limits and is checked.
	hashes := s.app.Auth.PasswordHashes()
	out := bfRun(t, 1000, 8, s.bfSignInClient("pl"), spray(0), bfRefused(http.StatusUnauthorized))
	spent := s.app.Auth.PasswordHashes() - hashes
	t.Logf("spray, 250 accounts × 4 guesses from 50 addresses × 20: %v; argon2id hashes computed: %d", out, spent)
	if out[http.StatusUnauthorized] != 1000 || spent != 1000 {
		t.Errorf("outcomes %v, %d hashes", out, spent)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM sign_in_throttle WHERE key LIKE 'address:198.51.100.%' AND failures = 20 AND locked_until IS NOT NULL`); n != 50 {
		t.Errorf("%d of 50 addresses locked after their 20 failures", n)
	}
	// Each address reached its limit: the next guess from any of them is
	// refused, costs no hash, and does not count against the account.
	hashes = s.app.Auth.PasswordHashes()
	out = bfRun(t, 50, 8, s.bfSignInClient("pl"), spray(1000), bfCheckAll(bfRefused(http.StatusTooManyRequests), bfThrottledIn(pl, 1)))
	spent = s.app.Auth.PasswordHashes() - hashes
	t.Logf("spray, one more guess from each of the 50 addresses: %v; hashes: %d", out, spent)
	if out[http.StatusTooManyRequests] != 50 || spent != 0 {
		t.Errorf("outcomes %v, %d hashes, want 50×429 and none", out, spent)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM sign_in_throttle WHERE key LIKE 'account:%' AND (failures <> 4 OR locked_until IS NOT NULL)`); n != 0 {
		t.Errorf("%d accounts not at 4 failures and unlocked", n)
	}
	// No account was locked: its owner, from elsewhere, signs in.
	c := s.bfClient("pl")
	c.must(c.get("/sign-in"))
	if r := c.must(c.do(http.MethodPost, "/sign-in", url.Values{"email": {accounts[0]}, "password": {testPassword}}, "203.0.113.77")); r.code != http.StatusSeeOther {
		t.Fatalf("the owner of a sprayed account: %d", r.code)
	}
}

func TestBruteForceRotatingAddressesDoesNotEscapeTheAddressLimit(t *testing.T) {
	unknown := func(i int) string { return fmt.Sprintf("nobody%03d@example.cz", i) }
	t.Run("IPv6 addresses of one /64", func(t *testing.T) {
		s, _ := startBFSite(t, "--trust-proxy-headers")
		out := bfRun(t, 100, 4, s.bfSignInClient("en"), func(i int, c *bfClient) (response, error) {
			return c.do(http.MethodPost, "/sign-in", url.Values{"email": {unknown(i)}, "password": {"wrong-password-123"}}, fmt.Sprintf("2001:db8:1:2::%x", i+1))
		}, bfRefused(http.StatusUnauthorized, http.StatusTooManyRequests))
		t.Logf("100 addresses of one IPv6 /64, 100 accounts: %v", out)
		if out[http.StatusUnauthorized] != 20 || out[http.StatusTooManyRequests] != 80 {
			t.Errorf("outcomes %v, want 20×401 and 80×429: a /64 is one address", out)
		}
	})
	t.Run("forged X-Forwarded-For without a trusted proxy", func(t *testing.T) {
		s, _ := startBFSite(t)
		out := bfRun(t, 100, 4, s.bfSignInClient("en"), func(i int, c *bfClient) (response, error) {
			return c.do(http.MethodPost, "/sign-in", url.Values{"email": {unknown(i)}, "password": {"wrong-password-123"}}, fmt.Sprintf("198.51.100.%d", i%50+1))
		}, bfRefused(http.StatusUnauthorized, http.StatusTooManyRequests))
		t.Logf("100 forged X-Forwarded-For values, no trusted proxy: %v", out)
		if out[http.StatusUnauthorized] != 20 || out[http.StatusTooManyRequests] != 80 {
			t.Errorf("outcomes %v, want 20×401 and 80×429: forged headers are not addresses", out)
		}
	})
}

func TestBruteForceOnTheSignInCode(t *testing.T) {
	s, clock := startBFSite(t)
	b := bfEnrol(t, s, clock, "anna@example.pl")
	pl := s.app.Catalog.Localizer("pl")
	c := s.bfPasswordStep(t, "pl", "anna@example.pl", testPassword)
	now := clock.Now()
	out := bfRun(t, 1000, 1, func() (*bfClient, error) { return c, nil }, func(i int, c *bfClient) (response, error) {
		return c.post("/sign-in/code", url.Values{"code": {bfWrongCode(t, b.secret, i, now)}})
	}, bfCheckAll(bfRefused(http.StatusBadRequest, http.StatusTooManyRequests), bfThrottledIn(pl, 1), func(r response) string {
		if r.code == http.StatusBadRequest && !bfSays(r.body, pl.T("error_code_wrong")) {
			return "400 without the translated message"
		}
		return ""
	}))
	t.Logf("sign-in code page: 1000 wrong codes: %v", out)
	if out[http.StatusBadRequest] != 5 || out[http.StatusTooManyRequests] != 995 {
		t.Errorf("outcomes %v, want 5×400 (checked) and 995×429", out)
	}
	right := url.Values{"code": {bfCode(t, b.secret, clock.Now())}}
	if r := c.must(c.post("/sign-in/code", right)); r.code != http.StatusTooManyRequests {
		t.Fatalf("the right code while locked: %d", r.code)
	}
	clock.Add(61 * time.Second)
	right = url.Values{"code": {bfCode(t, b.secret, clock.Now())}}
	if r := c.must(c.post("/sign-in/code", right)); r.code != http.StatusSeeOther || r.location() != "/" {
		t.Fatalf("the right code after the lock: %d %s", r.code, r.location())
	}
}

func TestBruteForceOnTheProfileCodeChecks(t *testing.T) {
	s, clock := startBFSite(t)
	b := bfEnrol(t, s, clock, "anna@example.pl")
	pl := s.app.Catalog.Localizer("pl")
	b.get("/profile")
	// A new phone is being set up, so that its confirmation page is there.
	if r := b.post("/profile/authenticator", url.Values{"code": {bfCode(t, b.secret, clock.Now())}}); r.code != http.StatusOK {
		t.Fatalf("start a new phone: %d", r.code)
	}
	before := s.count(t, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, s.user.ID)
	c := bfFrom(b, "pl")
	c.must(c.get("/profile"))
	now := clock.Now()
	paths := []string{"/profile/recovery-codes", "/profile/authenticator", "/profile/authenticator/confirm"}
	out := bfRun(t, 1000, 1, func() (*bfClient, error) { return c, nil }, func(i int, c *bfClient) (response, error) {
		return c.post(paths[i%3], url.Values{"code": {bfWrongCode(t, b.secret, i, now)}})
	}, bfCheckAll(bfRefused(http.StatusBadRequest, http.StatusTooManyRequests), bfThrottledIn(pl, 1)))
	t.Logf("profile code checks (new recovery codes, new phone, its confirmation): 1000 wrong codes: %v", out)
	if out[http.StatusBadRequest] != 5 || out[http.StatusTooManyRequests] != 995 {
		t.Errorf("outcomes %v, want 5×400 and 995×429", out)
	}
	if r := c.must(c.post("/profile/recovery-codes", url.Values{"code": {bfCode(t, b.secret, clock.Now())}})); r.code != http.StatusTooManyRequests {
		t.Fatalf("the right code while locked: %d", r.code)
	}
	if after := s.count(t, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, s.user.ID); after != before {
		t.Fatalf("recovery codes changed while locked: %d, then %d", before, after)
	}
	clock.Add(61 * time.Second)
	if r := c.must(c.post("/profile/recovery-codes", url.Values{"code": {bfCode(t, b.secret, clock.Now())}})); r.code != http.StatusOK || len(codeRe.FindAllString(r.body, -1)) != 10 {
		t.Fatalf("the right code after the lock: %d", r.code)
	}
}

func TestBruteForceOnTheEnrolmentCode(t *testing.T) {
	s, clock := startBFSite(t)
	pl := s.app.Catalog.Localizer("pl")
	c := s.bfPasswordStep(t, "pl", "anna@example.pl", testPassword)
	r := c.must(c.get("/sign-in/enrol"))
	m := secretRe.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no secret on the enrolment page: %d", r.code)
	}
	now := clock.Now()
	out := bfRun(t, 1000, 1, func() (*bfClient, error) { return c, nil }, func(i int, c *bfClient) (response, error) {
		return c.post("/sign-in/enrol", url.Values{"code": {bfWrongCode(t, m[1], i, now)}})
	}, bfCheckAll(bfRefused(http.StatusBadRequest, http.StatusTooManyRequests), bfThrottledIn(pl, 1)))
	t.Logf("enrolment: 1000 wrong codes: %v", out)
	if out[http.StatusBadRequest] != 5 || out[http.StatusTooManyRequests] != 995 {
		t.Errorf("outcomes %v, want 5×400 and 995×429", out)
	}
	if r := c.must(c.post("/sign-in/enrol", url.Values{"code": {bfCode(t, m[1], clock.Now())}})); r.code != http.StatusTooManyRequests {
		t.Fatalf("the right code while locked: %d", r.code)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM users WHERE id = $1 AND totp_enabled`, s.user.ID); n != 0 {
		t.Fatal("enrolled while locked")
	}
	clock.Add(61 * time.Second)
	if r := c.must(c.post("/sign-in/enrol", url.Values{"code": {bfCode(t, m[1], clock.Now())}})); r.code != http.StatusOK || len(codeRe.FindAllString(r.body, -1)) != 10 {
		t.Fatalf("the right code after the lock: %d", r.code)
	}
}

func TestBruteForceReplayedCodesAreRefused(t *testing.T) {
	s, clock := startBFSite(t)
	b := bfEnrol(t, s, clock, "anna@example.pl")
	pl := s.app.Catalog.Localizer("pl")
	outcomes := bfOutcomes{}
	codeStep := func(code string) response {
		c := s.bfPasswordStep(t, "pl", "anna@example.pl", testPassword)
		r := c.must(c.post("/sign-in/code", url.Values{"code": {code}}))
		outcomes[r.code]++
		return r
	}
	// The code the enrolment used cannot sign in.
	enrolled := bfCode(t, b.secret, clock.Now().Add(-30*time.Second))
	if r := codeStep(enrolled); r.code != http.StatusBadRequest || !bfSays(r.body, pl.T("error_code_used")) {
		t.Fatalf("the enrolment's code replayed: %d", r.code)
	}
	fresh := bfCode(t, b.secret, clock.Now())
	if r := codeStep(fresh); r.code != http.StatusSeeOther {
		t.Fatalf("a fresh code: %d", r.code)
	}
	// The same code again, within its 30 seconds, and the previous one.
	if r := codeStep(fresh); r.code != http.StatusBadRequest || !bfSays(r.body, pl.T("error_code_used")) {
		t.Fatalf("a replayed code: %d", r.code)
	}
	if r := codeStep(enrolled); r.code != http.StatusBadRequest {
		t.Fatalf("an older code: %d", r.code)
	}
	// A recovery code works once.
	if r := codeStep(b.codes[0]); r.code != http.StatusSeeOther {
		t.Fatalf("a recovery code: %d", r.code)
	}
	if r := codeStep(strings.ToUpper(b.codes[0])); r.code != http.StatusBadRequest || !bfSays(r.body, pl.T("error_code_wrong")) {
		t.Fatalf("a replayed recovery code: %d", r.code)
	}
	t.Logf("replays: 6 code steps: %v (2 accepted, 4 replays refused)", outcomes)
}

// bfResetLink asks for a reset link for email and returns its path.
func bfResetLink(t *testing.T, s *site, email string) string {
	t.Helper()
	c := s.bfClient("pl")
	c.must(c.get("/password/forgot"))
	if r := c.must(c.post("/password/forgot", url.Values{"email": {email}})); r.code != http.StatusSeeOther {
		t.Fatalf("forgot: %d", r.code)
	}
	var payload string
	// Outbox ids are UUIDv7: the greatest is the newest.
	if err := s.app.DB.Read().QueryRowContext(context.Background(), `SELECT payload FROM outbox WHERE kind = 'password_reset' AND recipient = $1 ORDER BY id DESC LIMIT 1`,
		email).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(payload, "/password/reset/")
	link := payload[i:]
	return link[:strings.IndexAny(link, `"\`)]
}

func TestBruteForceResetLinksWorkOnceInTimeAndForTheirAccountOnly(t *testing.T) {
	s, clock := startBFSite(t)
	anna := bfEnrol(t, s, clock, "anna@example.pl")
	if _, err := s.app.Auth.CreateUser(context.Background(), auth.NewUser{Email: "bob@example.ie", Name: "Bob", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	bfEnrol(t, s, clock, "bob@example.ie")
	hashOf := func(email string) string {
		var h string
		if err := s.app.DB.Read().QueryRowContext(context.Background(), `SELECT password_hash FROM users WHERE email = $1`, email).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	annaHash, bobHash := hashOf("anna@example.pl"), hashOf("bob@example.ie")
	outcomes := bfOutcomes{}
	reset := func(link, code string) response {
		c := s.bfClient("pl")
		c.must(c.get("/sign-in"))
		r := c.must(c.post(link, url.Values{"password": {"a-brand-new-passphrase"}, "password_again": {"a-brand-new-passphrase"}, "code": {code}}))
		outcomes[r.code]++
		return r
	}

	// Bob's link with Anna's codes: refused, nobody's password changes.
	bobLink := bfResetLink(t, s, "bob@example.ie")
	if r := reset(bobLink, bfCode(t, anna.secret, clock.Now())); r.code != http.StatusBadRequest {
		t.Errorf("Bob's link with Anna's code: %d", r.code)
	}
	if r := reset(bobLink, anna.codes[0]); r.code != http.StatusBadRequest {
		t.Errorf("Bob's link with Anna's recovery code: %d", r.code)
	}
	if hashOf("anna@example.pl") != annaHash || hashOf("bob@example.ie") != bobHash {
		t.Fatal("a password changed through another account's link")
	}
	// A made-up link.
	if r := reset("/password/reset/"+strings.Repeat("A", 43), anna.codes[0]); r.code != http.StatusNotFound {
		t.Errorf("a made-up link: %d", r.code)
	}
	// Anna's link works once.
	annaLink := bfResetLink(t, s, "anna@example.pl")
	if r := reset(annaLink, anna.codes[1]); r.code != http.StatusSeeOther {
		t.Fatalf("Anna's own link: %d", r.code)
	}
	changed := hashOf("anna@example.pl")
	if changed == annaHash {
		t.Fatal("the reset did not change the password")
	}
	if r := reset(annaLink, anna.codes[2]); r.code != http.StatusNotFound {
		t.Errorf("the link used again: %d", r.code)
	}
	// A link expires after its time (an hour).
	late := bfResetLink(t, s, "anna@example.pl")
	clock.Add(time.Hour + time.Second)
	page := s.bfClient("pl")
	if r := page.must(page.get(late)); r.code != http.StatusNotFound {
		t.Errorf("an expired link's page: %d", r.code)
	}
	if r := reset(late, anna.codes[3]); r.code != http.StatusNotFound {
		t.Errorf("an expired link: %d", r.code)
	}
	if hashOf("anna@example.pl") != changed {
		t.Fatal("a used or expired link changed the password")
	}
	t.Logf("reset links: 6 attempts: %v (1 accepted; another account's link ×2, made-up, reused, expired refused)", outcomes)
}

func TestBruteForceWrongAPITokensAre401NeverAServerError(t *testing.T) {
	s, _ := startBFSite(t)
	good := s.token(t)
	revoked, err := func() (string, error) {
		tok, secret, err := s.app.Auth.CreateToken(context.Background(), "anna@example.pl", "to revoke")
		if err != nil {
			return "", err
		}
		return secret, s.app.Auth.RevokeToken(context.Background(), s.user.ID, tok.ID)
	}()
	if err != nil {
		t.Fatal(err)
	}
	shapes := []func(i int) string{
		func(i int) string { return "imi_" + strings.Repeat(fmt.Sprintf("%x", i), 43)[:43] }, // well formed
		func(i int) string { return bfOneOff(good, i) },                                      // one character off
		func(i int) string { return revoked },
		func(i int) string { return strings.Repeat("x", i%200) },         // no prefix, any length
		func(i int) string { return "imi_" + strings.Repeat("é", i%60) }, // non-ASCII, too long
		func(i int) string { return "imi_' OR '1'='1" },
		func(i int) string { return "imi_\u202e" + fmt.Sprint(i) },
		func(i int) string { return "" },
	}
	paths := []string{"/api/v1/me", "/api/v1/requests", "/api/v1/authorities"}
	out := bfRun(t, 1000, 8, func() (*bfClient, error) { return s.bfClient(""), nil }, func(i int, c *bfClient) (response, error) {
		req, err := http.NewRequest(http.MethodGet, s.srv.URL+paths[i%len(paths)], nil)
		if err != nil {
			return response{}, err
		}
		req.Header.Set("Authorization", "Bearer "+shapes[i%len(shapes)](i))
		res, err := c.c.Do(req)
		if err != nil {
			return response{}, err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return response{code: res.StatusCode, body: string(body), header: res.Header}, nil
	}, func(r response) string {
		if r.code != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" || !strings.Contains(r.body, "error_token_invalid") {
			return fmt.Sprintf("%d %s", r.code, r.body)
		}
		return ""
	})
	t.Logf("API: 1000 wrong bearer tokens: %v", out)
	if out[http.StatusUnauthorized] != 1000 {
		t.Errorf("outcomes %v, want 1000×401", out)
	}
	// Tokens are 256-bit secrets: guessing is not throttled, and the
	// owner's token keeps working.
	if r := s.api(t, "GET", "/api/v1/me", good, ""); r.code != http.StatusOK {
		t.Fatalf("the right token after the guesses: %d", r.code)
	}
}

// bfOneOff is token with its i-th-from-last character changed.
func bfOneOff(token string, i int) string {
	b := []byte(token)
	at := len(b) - 1 - i%32
	if b[at] == 'A' {
		b[at] = 'B'
	} else {
		b[at] = 'A'
	}
	return string(b)
}
