package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// ClamAV is a Scanner that streams each file to a clamd daemon with its
// INSTREAM command (https://docs.clamav.net/manual/Usage/Scanning.html#clamd).
// clamd's StreamMaxLength must be at least the largest attachment: a
// longer stream is refused by clamd, and so the upload.
type ClamAV struct {
	// Network is "tcp" or "unix"; Address is host:port or a socket path.
	Network, Address string
	// Timeout bounds a whole scan when the context allows longer
	// (default 2 minutes).
	Timeout time.Duration
}

// chunkSize is how much of the file goes in one INSTREAM chunk.
const chunkSize = 64 << 10

// maxReply bounds clamd's answer: a status and a signature name.
const maxReply = 4 << 10

// Scan sends r to clamd and reads its verdict. Any failure to get one is
// ErrUnavailable, except an error reading r, which is returned as it is.
func (c *ClamAV) Scan(ctx context.Context, r io.Reader) (Verdict, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return Verdict{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	sendErr := stream(conn, r)
	var re readError
	if errors.As(sendErr, &re) {
		return Verdict{}, fmt.Errorf("clamav: reading the file: %w", re.err)
	}
	// clamd may refuse a stream before its end (too long) and close the
	// connection: its answer says why, so read it even after a failed
	// write.
	reply, err := readReply(conn)
	if err != nil {
		if sendErr != nil {
			err = sendErr
		}
		return Verdict{}, fmt.Errorf("%w: clamd at %s: %v", ErrUnavailable, c.Address, err)
	}
	return c.verdict(reply)
}

// Ping checks that clamd answers, for a warning at start. It waits at
// most 10 seconds.
func (c *ClamAV) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("%w: clamd at %s: %v", ErrUnavailable, c.Address, err)
	}
	reply, err := readReply(conn)
	if err != nil || reply != "PONG" {
		return fmt.Errorf("%w: clamd at %s answered %q to PING: %v", ErrUnavailable, c.Address, reply, err)
	}
	return nil
}

func (c *ClamAV) dial(ctx context.Context) (net.Conn, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := net.Dialer{Timeout: 5 * time.Second}
	conn, err := dialer.DialContext(ctx, c.Network, c.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return conn, nil
}

// readError marks a failure to read the file, as opposed to a failure to
// talk to clamd.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// stream writes the INSTREAM command, the content in chunks each preceded
// by its length (4 bytes, big-endian), and a chunk of length zero.
func stream(w io.Writer, r io.Reader) error {
	if _, err := w.Write([]byte("zINSTREAM\x00")); err != nil {
		return err
	}
	buf := make([]byte, 4+chunkSize)
	for {
		n, err := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf, uint32(n)) // #nosec G115 -- n <= chunkSize (64 KiB)
			if _, werr := w.Write(buf[:4+n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return readError{err}
		}
	}
	_, err := w.Write([]byte{0, 0, 0, 0})
	return err
}

// readReply reads one answer, which the "z" form of the command ends with
// a NUL byte.
func readReply(r io.Reader) (string, error) {
	var out []byte
	buf := make([]byte, 512)
	for len(out) < maxReply {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if i := bytes.IndexByte(out, 0); i >= 0 {
			return string(out[:i]), nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(out) > 0 {
				return string(out), nil
			}
			return "", err
		}
	}
	return "", errors.New("answer too long")
}

// verdict reads "stream: OK", "stream: <signature> FOUND" or
// "<message> ERROR".
func (c *ClamAV) verdict(reply string) (Verdict, error) {
	reply = strings.TrimSpace(reply)
	switch {
	case reply == "stream: OK":
		return Verdict{}, nil
	case strings.HasPrefix(reply, "stream: ") && strings.HasSuffix(reply, " FOUND"):
		sig := strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		return Verdict{Infected: true, Signature: sig}, nil
	}
	return Verdict{}, fmt.Errorf("%w: clamd at %s answered %q", ErrUnavailable, c.Address, reply)
}
