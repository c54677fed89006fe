package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/uptrace/bun"
)

// txKey is the context key of the transaction a ctx carries.
type txKey struct{}

// txState is a transaction carried in a context (fosite's
// storage.Transactional pattern, as in Hydra).
type txState struct {
	// store owns the transaction; another Store ignores it rather than
	// writing through a connection of a different database.
	store *Store
	tx    bun.Tx
	// nested marks a BeginTX that joined a transaction already in ctx: its
	// Commit and Rollback do nothing, the outer owner decides.
	nested bool
	// root is the outermost state, which holds the commit hooks.
	root *txState

	mu          sync.Mutex
	afterCommit []func()
}

var (
	errNoTx   = errors.New("no transaction in context")
	errTxDone = errors.New("transaction already finished")
)

func (s *Store) txFrom(ctx context.Context) *txState {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil || st.store != s {
		return nil
	}
	return st
}

// BeginTX starts a transaction on the writer and returns a ctx carrying it.
// If ctx already carries one of this store's transactions, the returned ctx
// joins it: its Commit and Rollback are no-ops and the outer owner decides.
//
// PostgreSQL runs at READ COMMITTED; the operations that race (code
// invalidation, refresh rotation, flow consumption) are conditional
// updates whose affected-row count decides the winner, so they need no
// stronger isolation. SQLite transactions begin IMMEDIATE.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if outer := s.txFrom(ctx); outer != nil {
		return context.WithValue(ctx, txKey{}, &txState{
			store: s, tx: outer.tx, nested: true, root: outer.root,
		}), nil
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return ctx, mapErr("begin transaction", err)
	}
	st := &txState{store: s, tx: tx}
	st.root = st
	return context.WithValue(ctx, txKey{}, st), nil
}

// Commit commits the transaction carried by ctx (a no-op for a joined
// one). It fails if ctx carries no transaction.
func (s *Store) Commit(ctx context.Context) error {
	st := s.txFrom(ctx)
	if st == nil {
		return errNoTx
	}
	if st.nested {
		return nil
	}
	if err := st.tx.Commit(); err != nil {
		if errors.Is(err, sql.ErrTxDone) {
			return errTxDone
		}
		return mapErr("commit", err)
	}
	st.runAfterCommit()
	return nil
}

// Rollback rolls back the transaction carried by ctx (a no-op for a joined
// one). It fails if ctx carries no transaction.
func (s *Store) Rollback(ctx context.Context) error {
	st := s.txFrom(ctx)
	if st == nil {
		return errNoTx
	}
	if st.nested {
		return nil
	}
	if err := st.tx.Rollback(); err != nil {
		if errors.Is(err, sql.ErrTxDone) {
			return errTxDone
		}
		return mapErr("rollback", err)
	}
	return nil
}

// InTx runs fn in a transaction: the one in ctx if there is one (fn's error
// then goes to the outer owner), otherwise a new one that is committed when
// fn returns nil and rolled back when it returns an error or panics (the
// panic continues).
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Also reached on panic: release the writer before re-panicking.
		if rbErr := s.Rollback(txCtx); rbErr != nil && err != nil {
			err = errors.Join(err, rbErr)
		}
	}()
	if err = fn(txCtx); err != nil {
		return err
	}
	committed = true
	return s.Commit(txCtx)
}

// afterCommit runs f once the transaction in ctx commits, or right away
// when ctx carries none. The client cache uses it so that a value another
// goroutine read before the commit cannot outlive it.
func (s *Store) afterCommit(ctx context.Context, f func()) {
	st := s.txFrom(ctx)
	if st == nil {
		f()
		return
	}
	root := st.root
	root.mu.Lock()
	root.afterCommit = append(root.afterCommit, f)
	root.mu.Unlock()
}

func (st *txState) runAfterCommit() {
	st.mu.Lock()
	hooks := st.afterCommit
	st.afterCommit = nil
	st.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}
