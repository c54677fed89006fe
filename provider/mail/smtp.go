package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of an SMTP connection.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS (RFC 3207)
	// and refuses to send if the server does not offer it.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314 §3.3, port
	// 465).
	TLSImplicit = "implicit"
	// TLSNone sends in clear; config allows it only to a loopback host (a
	// local relay or a test server).
	TLSNone = "none"
)

// SMTPOptions configure an SMTP sender. Host, Port and From are required.
type SMTPOptions struct {
	Host string
	Port int
	// From is the envelope and header sender; FromName its display name
	// (the product name).
	From     string
	FromName string
	// Username and Password authenticate (SMTP AUTH, the strongest
	// mechanism the server offers); both empty sends without.
	Username string
	Password string
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string
	// TLSConfig overrides the TLS client configuration (tests trust their
	// own CA with it); nil verifies the server against the system roots.
	TLSConfig *tls.Config
	// Timeout bounds the connection and each command.
	Timeout time.Duration
}

// SMTP sends each message over a new connection (the outbox sends few,
// and a connection kept open would need its own health checks).
type SMTP struct {
	o    SMTPOptions
	opts []gomail.Option
}

// NewSMTP returns a sender as o configures it.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	if o.Host == "" || o.Port <= 0 || o.From == "" {
		return nil, errors.New("mail: SMTP host, port and from are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(o.Port), gomail.WithTimeout(o.Timeout)}
	switch o.TLS {
	case "", TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail: unknown SMTP TLS mode %q", o.TLS)
	}
	if o.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(o.TLSConfig))
	} else {
		opts = append(opts, gomail.WithTLSConfig(&tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12}))
	}
	if o.Username != "" || o.Password != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(o.Username), gomail.WithPassword(o.Password))
	}
	// Fail early on a bad option rather than at the first message.
	if _, err := gomail.NewClient(o.Host, opts...); err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	return &SMTP{o: o, opts: opts}, nil
}

// Send delivers m. A 5xx answer to the recipient or to the message data
// wraps ErrRejected (RFC 5321 §4.2.1: permanent); a 5xx to MAIL FROM or
// AUTH is a problem of gatehouse's own settings, retried until the
// outbox's bounds, so that fixing the settings sends the queue.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(s.o.FromName, s.o.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("%w: recipient %q: %v", ErrRejected, m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	c, err := gomail.NewClient(s.o.Host, s.opts...)
	if err != nil {
		return err
	}
	err = c.DialAndSendWithContext(ctx, msg)
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() &&
		(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPDataClose) {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return err
}

// Log is the sender of development without an SMTP server: it prints each
// message, links included, to the log and keeps the latest ones for the
// admin listener's /admin/dev/mail. Never used outside `serve --dev`
// (config refuses it): the bodies carry single-use links.
type Log struct {
	Logger *slog.Logger
	mu     sync.Mutex
	recent []Message
}

// logKeep is how many messages Log keeps.
const logKeep = 50

// Send logs m and keeps it.
func (l *Log) Send(ctx context.Context, m Message) error {
	l.Logger.WarnContext(ctx, "development mode: e-mail not sent (no smtp.host); here it is",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent = append(l.recent, m)
	if len(l.recent) > logKeep {
		l.recent = l.recent[len(l.recent)-logKeep:]
	}
	return nil
}

// Recent returns the kept messages, newest first.
func (l *Log) Recent() []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Message, 0, len(l.recent))
	for i := len(l.recent) - 1; i >= 0; i-- {
		out = append(out, l.recent[i])
	}
	return out
}
