// Package scan decides whether an uploaded file may be kept. Two checks:
//
//   - Inspect reads a file of a kind already allowed (PDF, PNG, JPEG,
//     plain text) and refuses what a browser or a viewer could run or what
//     hides another file: markup or script where it reads as text,
//     JavaScript and other actions in PDFs (also inside compressed object
//     streams), data after a PNG's end, an archive appended to any of them.
//   - A Scanner looks for malware. ClamAV speaks to a clamd daemon over TCP
//     or a unix socket; None, the default when no scanner is configured,
//     finds nothing.
//
// Both run before anything is stored (see requests.Service.Attach).
package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Verdict is a scanner's answer about one file.
type Verdict struct {
	// Infected is true when the scanner recognised malware.
	Infected bool
	// Signature names what it recognised, for the log.
	Signature string
}

// Scanner looks for malware in a file's content.
type Scanner interface {
	// Scan reads r to its end and gives a verdict. An error means there
	// is no verdict: the caller must not keep the file (fail closed).
	Scan(ctx context.Context, r io.Reader) (Verdict, error)
}

// ErrUnavailable wraps every failure to get a verdict from a scanner
// (unreachable, timed out, refused the file).
var ErrUnavailable = errors.New("virus scanner unavailable")

// None is the scanner used when none is configured: it finds nothing.
type None struct{}

// Scan reports every file clean without reading it.
func (None) Scan(context.Context, io.Reader) (Verdict, error) { return Verdict{}, nil }

// New returns the scanner a setting names: "" or "none" for None,
// tcp://host:port or unix:///path/to/socket for a clamd daemon.
func New(setting string) (Scanner, error) {
	setting = strings.TrimSpace(setting)
	if setting == "" || setting == "none" {
		return None{}, nil
	}
	c, err := ParseClamAV(setting)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ParseClamAV reads a clamd address: tcp://host:port or unix:///path.
func ParseClamAV(setting string) (*ClamAV, error) {
	u, err := url.Parse(setting)
	if err != nil {
		return nil, fmt.Errorf("clamav: %q is not tcp://host:port or unix:///path: %w", setting, err)
	}
	switch {
	case u.Scheme == "tcp" && u.Host != "" && u.Port() != "" && (u.Path == "" || u.Path == "/"):
		return &ClamAV{Network: "tcp", Address: u.Host}, nil
	case u.Scheme == "unix" && u.Host == "" && u.Path != "":
		return &ClamAV{Network: "unix", Address: u.Path}, nil
	}
	return nil, fmt.Errorf("clamav: %q is not tcp://host:port or unix:///path", setting)
}
