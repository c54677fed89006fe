// Command example-mcp-server is an MCP server protected by gatehouse: see
// docs/mcp.md.
//
// Flags (or environment variables):
//
//	-issuer         MCP_ISSUER          gatehouse's issuer URL
//	-resource       MCP_RESOURCE        this server's MCP endpoint URL (the token audience)
//	-listen         MCP_LISTEN          address to listen on (127.0.0.1:8000)
//	-client-id      MCP_CLIENT_ID       this server's client at gatehouse (introspection)
//	                MCP_CLIENT_SECRET   its secret (environment only: not on the command line)
//	-scope          MCP_SCOPE           scope required of every token (mcp:tools)
//	-admin-scope    MCP_ADMIN_SCOPE     scope the stats tool needs besides (mcp:admin; "" for no such tool)
//	-api-keys       MCP_API_KEYS        accept gatehouse API keys directly (false)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/cmd/example-mcp-server/exampleserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "example-mcp-server:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run() error {
	apiKeysDefault, _ := strconv.ParseBool(env("MCP_API_KEYS", "false"))
	issuer := flag.String("issuer", env("MCP_ISSUER", ""), "gatehouse's issuer URL")
	resource := flag.String("resource", env("MCP_RESOURCE", "http://127.0.0.1:8000/mcp"), "this server's MCP endpoint URL (the token audience)")
	listen := flag.String("listen", env("MCP_LISTEN", "127.0.0.1:8000"), "address to listen on")
	clientID := flag.String("client-id", env("MCP_CLIENT_ID", ""), "this server's client id at gatehouse, to introspect opaque tokens (secret in MCP_CLIENT_SECRET)")
	scope := flag.String("scope", env("MCP_SCOPE", "mcp:tools"), "scope required of every token")
	adminScope := flag.String("admin-scope", env("MCP_ADMIN_SCOPE", "mcp:admin"), "scope the stats tool needs besides (403 insufficient_scope without it); empty: no stats tool")
	apiKeys := flag.Bool("api-keys", apiKeysDefault, "accept gatehouse API keys (X-API-Key or bearer)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, err := exampleserver.New(exampleserver.Config{
		Issuer: *issuer, Resource: *resource, ClientID: *clientID, ClientSecret: os.Getenv("MCP_CLIENT_SECRET"),
		Scope: *scope, AdminScope: *adminScope, APIKeys: *apiKeys, Logger: logger,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr: *listen, Handler: h,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Info("example MCP server listening", "addr", *listen, "resource", *resource, "issuer", *issuer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
