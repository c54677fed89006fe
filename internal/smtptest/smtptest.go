// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// on loopback for tests: every message it accepts arrives on a channel, and
// a test can make it answer 4xx or 5xx, or close it and start it again on
// the same address. Tests wait on the channel with a deadline, never sleep.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is what the server accepted.
type Message struct {
	From string
	To   []string
	// Data is the message as sent (headers and MIME body).
	Data []byte
}

// Server is a loopback SMTP server.
type Server struct {
	// Addr is host:port; Host and Port its parts.
	Addr string
	Host string
	Port int
	// Messages receives every accepted message.
	Messages chan Message

	t     testing.TB
	mu    sync.Mutex
	srv   *smtp.Server
	l     net.Listener
	reply func(rcpt string) error
}

// Start runs a server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, Messages: make(chan Message, 64)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = l.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.serve(l)
	t.Cleanup(func() { s.Close() })
	return s
}

// Reply makes the server answer every RCPT TO with f's error (an
// *smtp.SMTPError such as Temporary or Permanent), or accept when f
// returns nil; nil f accepts everything.
func (s *Server) Reply(f func(rcpt string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = f
}

// Temporary is a 451 answer (RFC 5321 §4.2.2: try again later).
func Temporary() error {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
}

// Permanent is a 550 answer (no such mailbox).
func Permanent() error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
}

// Close stops the server: connections to its address are refused.
func (s *Server) Close() {
	s.mu.Lock()
	srv, l := s.srv, s.l
	s.srv, s.l = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener too: Serve may not have taken it yet.
		_ = l.Close()
		_ = srv.Close()
	}
}

// Restart serves again on the same address after Close.
func (s *Server) Restart() {
	s.t.Helper()
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		s.t.Fatalf("smtptest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(l)
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	s.mu.Lock()
	s.srv, s.l = srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Wait returns the next message, failing the test after d.
func (s *Server) Wait(d time.Duration) Message {
	s.t.Helper()
	select {
	case m := <-s.Messages:
		return m
	case <-time.After(d):
		s.t.Fatalf("smtptest: no message within %s", d)
		return Message{}
	}
}

// None fails the test if a message is waiting.
func (s *Server) None() {
	s.t.Helper()
	select {
	case m := <-s.Messages:
		s.t.Fatalf("smtptest: unexpected message to %v", m.To)
	default:
	}
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	reply := x.s.reply
	x.s.mu.Unlock()
	if reply != nil {
		if err := reply(to); err != nil {
			return err
		}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	x.s.Messages <- Message{From: x.from, To: x.to, Data: data}
	return nil
}

// Header returns a header of the message, decoded (RFC 2047).
func (m Message) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Part returns the decoded body part of the given media type
// ("text/plain", "text/html"), searching multipart bodies.
func (m Message) Part(mediaType string) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return "", err
	}
	return findPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, mediaType)
}

func findPart(contentType, encoding string, body io.Reader, want string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", errors.New("smtptest: no " + want + " part")
			}
			if s, err := findPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, want); err == nil {
				return s, nil
			}
		}
	}
	if mt != want {
		return "", errors.New("smtptest: no " + want + " part")
	}
	var r io.Reader = body
	if strings.EqualFold(encoding, "quoted-printable") {
		r = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
