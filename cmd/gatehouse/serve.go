package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/templates"
)

func newServeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the provider (public listener and admin listener)",
		Long: "Run the provider. With --dev it uses SQLite under ./data, generates a secret there,\n" +
			"migrates the database and, when no issuer is set, publishes http://localhost on the port it\n" +
			"listens on; without --dev it refuses to start on a schema that is not current.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig(true)
			if err != nil {
				return err
			}
			log := newLogger(cfg, g.stderr)
			// A mistyped variable would leave its default in place unseen.
			for _, msg := range config.UnknownEnv(os.Environ()) {
				log.Warn(msg)
			}
			if cfg.Dev {
				log.Warn("development mode: do not use --dev in production")
			}
			// An operator's broken template stops the start here, with
			// its file and line, not as a 500 on someone's sign-in.
			pages, err := templates.ParseWithOverrides(cfg.Branding.TemplatesDir)
			if err != nil {
				return err
			}
			// Bind both addresses before touching the database: a port in
			// use then fails the start with nothing migrated or created.
			public, admin, err := listenBoth(cfg)
			if err != nil {
				return err
			}
			handedOn := false
			defer func() {
				if !handedOn {
					public.Close()
					admin.Close()
				}
			}()
			if cfg.Dev && cfg.Issuer == config.Default().Issuer {
				cfg.Issuer = devIssuer(public.Addr())
			}
			if msg := issuerPortMismatch(cfg.Issuer, public.Addr()); msg != "" {
				log.Warn(msg, "issuer", cfg.Issuer, "listen", public.Addr().String())
			}
			store, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer store.Close()
			if cfg.Dev {
				if err := store.Migrate(ctx); err != nil {
					return fmt.Errorf("migrate the database: %w", err)
				}
			} else if err := checkSchema(ctx, store, log); err != nil {
				return err
			}
			a, err := newApp(ctx, cfg, log, store, appOptions{pages: pages})
			if err != nil {
				return err
			}
			handedOn = true
			if g.serving != nil {
				g.serving(cfg.Issuer, public.Addr(), admin.Addr())
			}
			return a.serve(ctx, public, admin)
		},
	}
}

// listenBoth binds the public and the admin address. An address that
// cannot be bound is named with the setting that chose it.
func listenBoth(cfg config.Config) (public, admin net.Listener, err error) {
	if public, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, nil, listenError("public", cfg.Listen, "listen", err)
	}
	if admin, err = net.Listen("tcp", cfg.AdminListen); err != nil {
		public.Close()
		return nil, nil, listenError("admin", cfg.AdminListen, "admin_listen", err)
	}
	return public, admin, nil
}

// listenError says which address could not be bound, the setting and
// variable that chose it, and why in the system's words ("address already
// in use"), without the "listen tcp ...: bind:" of the net package.
func listenError(which, addr, key string, err error) error {
	reason := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		reason = errno.Error()
	}
	return fmt.Errorf("cannot listen on %s, the %s address (setting %s, %s%s): %s",
		addr, which, key, config.EnvPrefix, strings.ToUpper(key), reason)
}

// devIssuer is the issuer --dev publishes when none is configured: the
// default's http://localhost with the port gatehouse really listens on,
// so that moving the port (GATEHOUSE_LISTEN=127.0.0.1:18200, or :0) moves
// every endpoint in discovery with it.
func devIssuer(listen net.Addr) string {
	return "http://" + net.JoinHostPort("localhost", strconv.Itoa(addrPort(listen)))
}

// issuerPortMismatch returns a warning when the issuer is on this machine
// (a loopback host) but on another port than the public listener: the
// endpoints in discovery would then point where nothing answers, unless a
// proxy on this machine forwards that port. A public issuer is behind a
// proxy anyway; its port says nothing.
func issuerPortMismatch(issuer string, listen net.Addr) string {
	u, err := url.Parse(issuer)
	if err != nil || !isLoopbackHost(u.Hostname()) {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	listenPort := strconv.Itoa(addrPort(listen))
	if port == listenPort {
		return ""
	}
	return fmt.Sprintf("the issuer %s is on port %s but gatehouse listens on %s: clients following discovery "+
		"will miss it unless something forwards port %s (set GATEHOUSE_ISSUER or GATEHOUSE_LISTEN so the ports agree)",
		issuer, port, listen, port)
}

// isLoopbackHost tells localhost and loopback addresses.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// addrPort is the port of a TCP listener's address.
func addrPort(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	_, p, _ := net.SplitHostPort(a.String())
	n, _ := strconv.Atoi(p)
	return n
}

func newMigrateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations (safe to run from several instances at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig(false)
			if err != nil {
				return err
			}
			log := g.commandLogger(cfg)
			store, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate the database: %w", err)
			}
			applied, known, err := store.SchemaStatus(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "database schema is current (%d of %d migrations applied)\n", applied, known)
			return nil
		},
	}
}
