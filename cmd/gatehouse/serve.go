package main

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
)

func newServeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the provider (public listener and admin listener)",
		Long: "Run the provider. With --dev it uses SQLite under ./data, generates a secret there and\n" +
			"migrates the database; without --dev it refuses to start on a schema that is not current.",
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
			store, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer store.Close()
			if cfg.Dev {
				if err := store.Migrate(ctx); err != nil {
					return fmt.Errorf("migrate: %w", err)
				}
			} else if err := checkSchema(ctx, store, log); err != nil {
				return err
			}
			a, err := newApp(ctx, cfg, log, store, appOptions{})
			if err != nil {
				return err
			}
			public, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
			}
			admin, err := net.Listen("tcp", cfg.AdminListen)
			if err != nil {
				public.Close()
				return fmt.Errorf("listen on %s (admin): %w", cfg.AdminListen, err)
			}
			return a.serve(ctx, public, admin)
		},
	}
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
				return fmt.Errorf("migrate: %w", err)
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
