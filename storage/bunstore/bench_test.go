package bunstore_test

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// The token endpoint's storage hot path, per dialect, in parallel:
//
//	go test -run '^$' -bench . ./storage/bunstore/
func BenchmarkHotPath(b *testing.B) {
	for _, dialect := range bunstoretest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			s := bunstoretest.Open(b, dialect, bunstore.Options{})
			c := &storage.Client{ID: "bench", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}}
			if err := s.CreateClient(ctx, c); err != nil {
				b.Fatal(err)
			}
			now := time.Now().UTC()
			req := &fosite.Request{
				ID: "req", RequestedAt: now, Client: c,
				RequestedScope: fosite.Arguments{"api"}, GrantedScope: fosite.Arguments{"api"},
				Form: url.Values{"grant_type": {"client_credentials"}},
				Session: &openid.DefaultSession{
					Subject: "bench", Claims: &jwt.IDTokenClaims{Subject: "bench"}, Headers: &jwt.Headers{},
					ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: now.Add(time.Hour)},
				},
			}
			var n atomic.Int64

			b.Run("GetClient", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.GetClient(ctx, "bench"); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
			b.Run("CreateAccessTokenSession", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.CreateAccessTokenSession(ctx, fmt.Sprint("sig-", n.Add(1)), req); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
			b.Run("GetAccessTokenSession", func(b *testing.B) {
				max := n.Load()
				var i atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						sig := fmt.Sprint("sig-", i.Add(1)%max+1)
						if _, err := s.GetAccessTokenSession(ctx, sig, &openid.DefaultSession{}); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		})
	}
}
