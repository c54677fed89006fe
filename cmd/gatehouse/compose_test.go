package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	compose "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads docker-compose.yml the way `docker compose config`
// does (compose-go, the loader of docker compose v2: schema, references,
// interpolation) and checks what the README promises: PostgreSQL, a one-shot
// migrate and gatehouse with health checks, the admin port on loopback only,
// and Prometheus behind the "metrics" profile, scraping a file that exists.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	load := func(profiles ...string) *types.Project {
		t.Helper()
		opts, err := compose.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
			compose.WithWorkingDirectory(root),
			compose.WithName("gatehouse"),
			compose.WithEnv([]string{"GATEHOUSE_SECRET=" + randomString(t, 48)}),
			compose.WithProfiles(profiles),
		)
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatalf("docker-compose.yml does not load: %v", err)
		}
		return p
	}
	p := load()
	if got := p.ServiceNames(); !slices.Equal(sorted(got), []string{"gatehouse", "migrate", "postgres"}) {
		t.Fatalf("services without a profile: %v", got)
	}
	gh := p.Services["gatehouse"]
	if gh.HealthCheck == nil || !slices.Contains(gh.HealthCheck.Test, "health") {
		t.Fatalf("gatehouse has no health check: %+v", gh.HealthCheck)
	}
	if p.Services["postgres"].HealthCheck == nil {
		t.Fatal("postgres has no health check")
	}
	if dep, ok := gh.DependsOn["migrate"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Fatalf("gatehouse must wait for migrate to succeed: %+v", gh.DependsOn)
	}
	for _, port := range gh.Ports {
		if port.Target == 8081 && port.HostIP != "127.0.0.1" {
			t.Fatalf("the admin port is published beyond loopback: %+v", port)
		}
	}
	if gh.User != "" && gh.User != "65532:65532" || !gh.ReadOnly {
		t.Fatalf("gatehouse must run read-only as the image's non-root user: user %q read_only %v", gh.User, gh.ReadOnly)
	}

	// Without the secret the file refuses to load, rather than starting
	// with an empty one.
	opts, err := compose.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		compose.WithWorkingDirectory(root), compose.WithName("gatehouse"), compose.WithEnv([]string{"GATEHOUSE_SECRET="}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil {
		t.Fatal("docker-compose.yml loads without GATEHOUSE_SECRET")
	}

	m := load("metrics")
	prom, ok := m.Services["prometheus"]
	if !ok {
		t.Fatalf("no prometheus service in the metrics profile: %v", m.ServiceNames())
	}
	for _, v := range prom.Volumes {
		if v.Type == types.VolumeTypeBind {
			if _, err := os.Stat(v.Source); err != nil {
				t.Fatalf("prometheus mounts a missing file: %v", err)
			}
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
