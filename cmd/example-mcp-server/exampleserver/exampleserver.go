// Package exampleserver is a small MCP server protected by gatehouse: the
// streamable HTTP transport of the official MCP Go SDK behind the
// resourceserver middleware, with two tools (whoami, add). It is the
// handler of cmd/example-mcp-server, kept apart from main so that tests
// can serve it.
package exampleserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-dev/gatehouse/provider/resourceserver"
)

// Config configures the example server.
type Config struct {
	// Issuer is gatehouse's issuer URL.
	Issuer string
	// Resource is this server's MCP endpoint URL, e.g.
	// https://mcp.example.com/mcp: tokens must be issued for it (their
	// aud), and the handler serves MCP at its path.
	Resource string
	// ClientID and ClientSecret are this server's own client at gatehouse,
	// used to introspect opaque tokens and API keys. Without them only
	// JWT access tokens are accepted.
	ClientID     string
	ClientSecret string
	// Scope is required of every token ("" for none).
	Scope string
	// APIKeys accepts gatehouse API keys presented directly.
	APIKeys bool
	// Logger receives the refusals' reasons; nil: discarded.
	Logger *slog.Logger
	// HTTPClient makes the calls to gatehouse (nil: the package default).
	HTTPClient *http.Client
}

// New returns the server's handler: the protected resource metadata at
// its well-known URLs and MCP at the resource's path.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := resourceserver.Options{
		Issuer: cfg.Issuer, Resource: cfg.Resource,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, APIKeys: cfg.APIKeys,
		ResourceName: "gatehouse example MCP server",
		Logger:       cfg.Logger, HTTPClient: cfg.HTTPClient,
	}
	if cfg.Scope != "" {
		opts.RequiredScopes = []string{cfg.Scope}
	}
	rs, err := resourceserver.New(opts)
	if err != nil {
		return nil, err
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "gatehouse-example", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "Who the caller is, as the access token says."}, whoami)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two integers."}, add)
	// Stateless: every request is authenticated on its own and carries its
	// principal to the tools; no session outlives the token that opened it.
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: cfg.Logger})

	mux := http.NewServeMux()
	metadata := rs.MetadataHandler()
	mux.Handle(resourceserver.MetadataPath, metadata)
	mux.Handle(resourceserver.MetadataPath+"/", metadata)
	path := resourcePath(cfg.Resource)
	mux.Handle(path, rs.Middleware(mcpHandler))
	return mux, nil
}

// resourcePath is the path MCP is served at: the resource URL's ("/" when
// it has none).
func resourcePath(resource string) string {
	_, rest, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(resource, "https://"), "http://"), "/")
	return "/" + rest
}

// WhoAmI is the answer of the whoami tool.
type WhoAmI struct {
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	APIKey   bool     `json:"api_key"`
}

func whoami(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoAmI, error) {
	p, ok := resourceserver.FromContext(ctx)
	if !ok {
		return nil, WhoAmI{}, errors.New("no authenticated caller")
	}
	return nil, WhoAmI{Subject: p.Subject, ClientID: p.ClientID, Scopes: p.Scopes, APIKey: p.IsAPIKey()}, nil
}

// AddInput are the operands of the add tool.
type AddInput struct {
	A int64 `json:"a"`
	B int64 `json:"b"`
}

// AddOutput is the sum.
type AddOutput struct {
	Sum int64 `json:"sum"`
}

func add(_ context.Context, _ *mcp.CallToolRequest, in AddInput) (*mcp.CallToolResult, AddOutput, error) {
	return nil, AddOutput{Sum: in.A + in.B}, nil
}
