package notify

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// Sender delivers one rendered e-mail. An error wrapping a *PermanentError
// means retrying cannot help; any other error is retried later.
type Sender interface {
	Send(ctx context.Context, e Email) error
}

// PermanentError marks a delivery failure that retrying cannot fix, such as
// a mail server refusing the recipient. The worker gives up on the message
// at once instead of retrying for hours.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent failure: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// isPermanent reports whether err says retrying is useless.
func isPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// SMTPConfig says how to reach the outgoing mail server.
type SMTPConfig struct {
	Host     string
	Port     int    // zero picks the usual port for TLS: 587, 465 or 25
	Username string // empty: no authentication
	Password string
	From     string // used when an Email has no From of its own
	// TLS is "starttls" (the default when empty: STARTTLS required),
	// "tls" (implicit TLS from the first byte) or "none" (plain SMTP
	// without STARTTLS, for a relay on the same machine or in tests).
	TLS string
}

// Validate reports a configuration that could never send, so start-up can
// fail instead of every message failing later.
func (c SMTPConfig) Validate() error {
	if c.Host == "" {
		return errors.New("smtp: no host")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("smtp: port %d out of range", c.Port)
	}
	switch c.TLS {
	case "", "starttls", "tls", "none":
	default:
		return fmt.Errorf("smtp: TLS must be starttls, tls or none, not %q", c.TLS)
	}
	if c.From != "" {
		// A display name is welcome here: the operator wrote it.
		if _, err := netmail.ParseAddress(c.From); err != nil {
			return fmt.Errorf("smtp: sender address %q: %w", c.From, err)
		}
	}
	return nil
}

// SMTPSender sends through an SMTP server with github.com/wneessen/go-mail,
// one connection per message: messages are rare, and a fresh connection
// cannot inherit a broken state from the previous one.
type SMTPSender struct {
	cfg SMTPConfig
}

// NewSMTPSender returns a sender for cfg. Check cfg with Validate first; a
// bad configuration makes every Send fail.
func NewSMTPSender(cfg SMTPConfig) *SMTPSender { return &SMTPSender{cfg: cfg} }

// smtpTimeout bounds each network operation of one delivery.
const smtpTimeout = 20 * time.Second

// userAgent replaces go-mail's default, which names the library version.
const userAgent = "openimi"

// Send delivers e. A 5xx reply to the recipient or to the message content is
// a *PermanentError; connection problems and 4xx replies are not.
func (s *SMTPSender) Send(ctx context.Context, e Email) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	msg, err := s.message(e)
	if err != nil {
		return &PermanentError{Err: err}
	}
	client, err := mail.NewClient(s.cfg.Host, s.options()...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return s.classify(err)
	}
	return nil
}

// options turns the configuration into go-mail options.
func (s *SMTPSender) options() []mail.Option {
	opts := []mail.Option{mail.WithTimeout(smtpTimeout)}
	switch s.cfg.TLS {
	case "tls":
		opts = append(opts, mail.WithSSLPort(false))
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS), mail.WithPort(mail.DefaultPort))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithPort(mail.DefaultPortTLS))
	}
	if s.cfg.Port != 0 {
		opts = append(opts, mail.WithPort(s.cfg.Port))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username),
			mail.WithPassword(s.cfg.Password))
	}
	return opts
}

// message builds the MIME message: plain text in UTF-8 with the headers
// that let receivers deduplicate (Message-ID), pick the language
// (Content-Language) and suppress auto-replies (Auto-Submitted, RFC 3834).
func (s *SMTPSender) message(e Email) (*mail.Msg, error) {
	from := e.From
	if from == "" {
		from = s.cfg.From
	}
	m := mail.NewMsg(mail.WithCharset(mail.CharsetUTF8))
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("sender address: %w", err)
	}
	if err := m.To(e.To); err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(e.MessageID)
	m.SetDate()
	m.SetUserAgent(userAgent)
	m.SetGenHeader(mail.HeaderContentLang, e.Language)
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetBodyString(mail.TypeTextPlain, e.Body)
	return m, nil
}

// classify marks the rejections that will not change on retry as
// permanent and removes the password should a server echo it back.
func (s *SMTPSender) classify(err error) error {
	err = s.scrub(err)
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() <= 599 {
		switch se.Reason {
		case mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose:
			return &PermanentError{Err: err}
		}
		// A refused MAIL FROM or AUTH is our configuration, not the
		// message: keep retrying so that fixing it delivers the queue.
	}
	return err
}

// scrub replaces any occurrence of the password in err's text, keeping err
// for errors.As.
func (s *SMTPSender) scrub(err error) error {
	if s.cfg.Password == "" || !strings.Contains(err.Error(), s.cfg.Password) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), s.cfg.Password, "xxxxx"), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Unwrap() error { return e.err }
