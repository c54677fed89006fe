package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// newHealthCommand probes a running instance's readiness. The container
// image has no shell or curl, so this is what its health check runs.
func newHealthCommand(g *globals) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if the local instance is ready (GET /health/ready on the admin listener)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				cfg, err := g.loadConfig(false)
				if err != nil {
					return err
				}
				host, port, err := net.SplitHostPort(cfg.AdminListen)
				if err != nil {
					return usageError{err}
				}
				if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
					host = "127.0.0.1"
				}
				target = "http://" + net.JoinHostPort(host, port) + "/health/ready"
			}
			client := &http.Client{Timeout: 5 * time.Second}
			resp, err := client.Get(target)
			if err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("not ready: %s answered %s", target, resp.Status)
			}
			fmt.Fprintln(g.stdout, "ready")
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "readiness URL (default: /health/ready on the configured admin listener)")
	return cmd
}
