package scan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/testkit"
)

// eicar is the EICAR anti-virus test file.
func eicar() []byte { return testkit.EICAR() }

// clamdAddresses are the daemons scripts/clamav.sh started, from
// IMI_TEST_CLAMAV (comma-separated --clamav settings).
func clamdAddresses(t *testing.T) []string {
	t.Helper()
	v := os.Getenv("IMI_TEST_CLAMAV")
	if v == "" {
		t.Skip("IMI_TEST_CLAMAV is not set: no real clamd to test the ClamAV adapter against " +
			"(run: export IMI_TEST_CLAMAV=\"$(./scripts/clamav.sh)\", as scripts/test.sh does)")
	}
	return strings.Split(v, ",")
}

// TestClamAVAgainstARealDaemon streams files to the clamd started by
// scripts/clamav.sh, over each of its addresses (unix socket and TCP):
// the EICAR file is found, other files are clean, a file longer than
// clamd accepts gets no verdict.
func TestClamAVAgainstARealDaemon(t *testing.T) {
	for _, addr := range clamdAddresses(t) {
		t.Run(addr, func(t *testing.T) {
			s, err := scan.New(addr)
			if err != nil {
				t.Fatal(err)
			}
			c := s.(*scan.ClamAV)
			ctx := context.Background()
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			v, err := s.Scan(ctx, bytes.NewReader(eicar()))
			if err != nil || !v.Infected || !strings.Contains(v.Signature, "EICAR") {
				t.Fatalf("EICAR: %+v %v", v, err)
			}
			// The test file followed by blank lines, as the EICAR
			// standard allows.
			if v, err := s.Scan(ctx, bytes.NewReader(append(eicar(), "\r\n\r\n"...))); err != nil || !v.Infected {
				t.Fatalf("EICAR with a line end: %+v %v", v, err)
			}
			// Many chunks, clean.
			big := bytes.Repeat([]byte("Zaświadczenie o kwalifikacjach zawodowych. "), 100_000)
			if v, err := s.Scan(ctx, bytes.NewReader(big)); err != nil || v.Infected {
				t.Fatalf("%d clean bytes: %+v %v", len(big), v, err)
			}
			// scripts/clamav.sh sets StreamMaxLength to 64 MiB: clamd
			// refuses a longer stream, and there is no verdict.
			_, err = s.Scan(ctx, io.LimitReader(zeros{}, 64<<20+1))
			t.Logf("64 MiB + 1 byte: %v", err)
			if !errors.Is(err, scan.ErrUnavailable) {
				t.Fatalf("a stream over clamd's limit: %v", err)
			}
			// A cancelled scan has no verdict either.
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.Scan(cancelled, bytes.NewReader(eicar())); !errors.Is(err, scan.ErrUnavailable) {
				t.Fatalf("a cancelled scan: %v", err)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// TestAScannerThatCannotBeReachedGivesNoVerdict: nothing listens, a socket
// file is missing, a peer accepts and never answers. Each is
// ErrUnavailable, which the upload turns into a refusal (fail closed).
func TestAScannerThatCannotBeReachedGivesNoVerdict(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // read nothing, answer nothing
		}
	}()
	for _, setting := range []string{
		"tcp://" + closed,
		"unix://" + filepath.Join(t.TempDir(), "no-clamd.sock"),
		"tcp://" + silent.Addr().String(),
	} {
		s, err := scan.New(setting)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		v, err := s.Scan(ctx, bytes.NewReader(eicar()))
		cancel()
		if !errors.Is(err, scan.ErrUnavailable) || v.Infected {
			t.Errorf("%s: %+v %v", setting, v, err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		err = s.(*scan.ClamAV).Ping(ctx)
		cancel()
		if !errors.Is(err, scan.ErrUnavailable) {
			t.Errorf("%s: ping %v", setting, err)
		}
	}
}

func TestTheSettingNamesTheScanner(t *testing.T) {
	for setting, want := range map[string]string{
		"":                                "none",
		"none":                            "none",
		"tcp://127.0.0.1:3310":            "tcp 127.0.0.1:3310",
		"tcp://clamav.internal:3310":      "tcp clamav.internal:3310",
		"unix:///run/clamav/clamd.ctl":    "unix /run/clamav/clamd.ctl",
		"127.0.0.1:3310":                  "error",
		"tcp://127.0.0.1":                 "error",
		"tcp://127.0.0.1:3310/x":          "error",
		"unix://run/clamav/clamd.ctl":     "error",
		"http://127.0.0.1:3310":           "error",
		"clamd://127.0.0.1:3310":          "error",
		"unix://":                         "error",
		"tcp://[::1]:3310":                "tcp [::1]:3310",
		" tcp://127.0.0.1:3310 ":          "tcp 127.0.0.1:3310",
		"unix:///var/run/clamd.sock?x=1":  "unix /var/run/clamd.sock",
		"unix:///tmp/dir with space/sock": "unix /tmp/dir with space/sock",
	} {
		s, err := scan.New(setting)
		got := "error"
		switch x := s.(type) {
		case scan.None:
			got = "none"
		case *scan.ClamAV:
			got = x.Network + " " + x.Address
		}
		if got != want {
			t.Errorf("%q: %s (%v), want %s", setting, got, err, want)
		}
	}
}

// TestNoneFindsNothing: without a scanner, every file passes this check
// (Inspect still runs).
func TestNoneFindsNothing(t *testing.T) {
	v, err := scan.None{}.Scan(context.Background(), bytes.NewReader(eicar()))
	if err != nil || v.Infected {
		t.Fatalf("%+v %v", v, err)
	}
}
