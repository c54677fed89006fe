// Package exampleserver is a small MCP server protected by gatehouse: the
// streamable HTTP transport of the official MCP Go SDK behind the
// resourceserver middleware, with two tools (whoami, add). It is the
// handler of cmd/example-mcp-server, kept apart from main so that tests
// can serve it.
package exampleserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
	// AdminScope, when set, is needed in addition to call the stats tool:
	// a call without it is answered 403 insufficient_scope naming it, so
	// that the client asks the person for more (MCP authorization, "Scope
	// Challenge Handling").
	AdminScope string
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
	if cfg.AdminScope != "" {
		mcp.AddTool(server, &mcp.Tool{Name: StatsTool, Description: "Server statistics (needs " + cfg.AdminScope + ")."}, stats)
	}
	// Stateless: every request is authenticated on its own and carries its
	// principal to the tools; no session outlives the token that opened it.
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: cfg.Logger})

	mux := http.NewServeMux()
	metadata := rs.MetadataHandler()
	mux.Handle(resourceserver.MetadataPath, metadata)
	mux.Handle(resourceserver.MetadataPath+"/", metadata)
	path := resourcePath(cfg.Resource)
	var h http.Handler = mcpHandler
	if cfg.AdminScope != "" {
		h = scopedTool(StatsTool, rs.RequireScopes(cfg.AdminScope)(mcpHandler), mcpHandler)
	}
	mux.Handle(path, rs.Middleware(h))
	return mux, nil
}

// StatsTool is the tool that needs Config.AdminScope.
const StatsTool = "stats"

// maxPeek bounds the part of a request body read to find which tool it
// calls (the SDK bounds the whole body itself).
const maxPeek = 64 << 10

// scopedTool sends JSON-RPC calls of the tool named tool to guarded, the
// rest to next. The scope must be checked before MCP answers: the HTTP
// status (403 with the challenge) is what an MCP client acts on.
func scopedTool(tool string, guarded, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		head, err := io.ReadAll(io.LimitReader(r.Body, maxPeek))
		if err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		var call struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal(head, &call) == nil && call.Method == "tools/call" && call.Params.Name == tool {
			guarded.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Stats is the answer of the stats tool.
type Stats struct {
	Caller string `json:"caller"`
	Uptime string `json:"uptime"`
}

func stats(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Stats, error) {
	p, ok := resourceserver.FromContext(ctx)
	if !ok {
		return nil, Stats{}, errors.New("no authenticated caller")
	}
	return nil, Stats{Caller: p.Subject, Uptime: "up"}, nil
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
