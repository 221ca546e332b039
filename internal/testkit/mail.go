package testkit

import (
	"bytes"
	"encoding/base64"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message the test mail server accepted.
type Mail struct {
	From    string   // the envelope sender
	To      []string // the envelope recipients
	Header  mail.Header
	Subject string // decoded
	Body    string // decoded from quoted-printable or base64
}

// MailAnswers lets a test choose how the mail server answers; the zero
// value accepts every message.
type MailAnswers struct {
	// Rcpt, when set, is asked about each RCPT TO first: an error (an
	// *smtp.SMTPError for a chosen code) refuses the recipient.
	Rcpt func(to string) error
	// Data, when set, is called as a message's DATA begins, before it is
	// read: a test can hold a delivery there.
	Data func()
}

// MailServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1,
// without TLS, that keeps the messages it accepts.
type MailServer struct {
	Port int

	answers MailAnswers
	mu      sync.Mutex
	got     []Mail
}

// StartMailServer starts a mail server that accepts every message; it
// stops when the test ends.
func StartMailServer(t testing.TB) *MailServer {
	t.Helper()
	return StartMailServerAnswering(t, MailAnswers{})
}

// StartMailServerAnswering starts a mail server that answers as a says;
// it stops when the test ends.
func StartMailServerAnswering(t testing.TB, a MailAnswers) *MailServer {
	t.Helper()
	m := &MailServer{answers: a}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return m
}

// Messages returns the messages accepted so far, oldest first.
func (m *MailServer) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

type mailSession struct {
	m    *MailServer
	from string
	to   []string
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.m.answers.Rcpt != nil {
		if err := s.m.answers.Rcpt(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	if s.m.answers.Data != nil {
		s.m.answers.Data()
	}
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := decodeBody(msg)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.got = append(s.m.got, Mail{From: s.from, To: slices.Clone(s.to), Header: msg.Header, Subject: subject, Body: string(body)})
	return nil
}

// decodeBody reads a message's body, undoing its transfer encoding.
func decodeBody(msg *mail.Message) ([]byte, error) {
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return nil, err
	}
	switch enc := msg.Header.Get("Content-Transfer-Encoding"); {
	case strings.EqualFold(enc, "quoted-printable"):
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	case strings.EqualFold(enc, "base64"):
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(body)))
	}
	return body, nil
}
