package admin

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// MaxDeadMail is the most dead letters one listing returns.
const MaxDeadMail = 500

// DeadMailView is a message gatehouse gave up sending, as the CLI (--json)
// and the admin API show it: who it was for, what it was, and the mail
// server's last answer. The body is not kept (it carried single-use
// links); the person can ask again.
type DeadMailView struct {
	ID        string    `json:"id"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
	DeadAt    time.Time `json:"dead_at"`
}

// DeadMail lists up to limit dead letters (1 to MaxDeadMail; anything
// else is MaxDeadMail), most recently given up first.
func (a *Admin) DeadMail(ctx context.Context, limit int) ([]DeadMailView, error) {
	if limit < 1 || limit > MaxDeadMail {
		limit = MaxDeadMail
	}
	ms, err := a.store.DeadMail(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadMailView, 0, len(ms))
	for _, m := range ms {
		out = append(out, deadMailViewOf(m))
	}
	return out, nil
}

func deadMailViewOf(m *storage.MailMessage) DeadMailView {
	return DeadMailView{
		ID: m.ID, To: m.To, Subject: m.Subject, Attempts: m.Attempts, LastError: m.LastError,
		CreatedAt: m.CreatedAt.UTC(), DeadAt: m.DeadAt.UTC(),
	}
}

// Verifier sends e-mail verification links (login.EmailVerification).
type Verifier interface {
	Send(ctx context.Context, u *storage.User) error
}

// SendVerification queues a verification link to the user id's address
// (storage.ErrNotFound for an unknown user); a *ValidationError when the
// address is verified already or gatehouse sends no e-mail.
func (a *Admin) SendVerification(ctx context.Context, who *provider.Principal, id string) (*storage.User, error) {
	u, err := a.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	ve := &ValidationError{}
	switch {
	case a.verifier == nil:
		ve.Add("email", "gatehouse sends no e-mail: set smtp.host")
	case u.EmailVerified:
		ve.Add("email", "%s is verified already", u.Email)
	}
	if err := ve.err(); err != nil {
		return nil, err
	}
	if err := a.verifier.Send(ctx, u); err != nil {
		return nil, err
	}
	a.record(ctx, who, UserEvent(ctx, audit.UserVerificationRequested, who.Actor(), u.ID))
	return u, nil
}
