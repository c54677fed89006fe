# syntax=docker/dockerfile:1
#
# gatehouse container image.
#
#   docker build -t gatehouse .
#   docker run --rm -e GATEHOUSE_DSN=postgres://... gatehouse migrate
#   docker run --rm -p 8080:8080 -p 127.0.0.1:8081:8081 \
#       -e GATEHOUSE_DSN=postgres://... -e GATEHOUSE_SECRET=... gatehouse
#
# `serve` (the default command) refuses to start on an unmigrated schema: run
# `migrate` first (docker-compose.yml does that in its own service).

# ---- build: a static, pure-Go binary (no cgo; SQLite is modernc.org/sqlite) --
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Dependencies get their own layer, so editing code does not re-download them.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# The BuildKit cache mount keeps compiled packages between builds; it is not
# part of any layer.
# `docker build --build-arg VERSION=v1.2.3 .` stamps the release version
# (`gatehouse version`, gatehouse_build_info); without it the binary says
# "devel".
ARG VERSION=""
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/gatehouse ./cmd/gatehouse

# ---- runtime: distroless static (CA certificates, tzdata, /etc/passwd with
# nonroot = 65532; no shell, no package manager) ----------------------------
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="OAuth 2.0 / OpenID Connect provider" \
      org.opencontainers.image.source="https://github.com/gatehouse-dev/gatehouse" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

COPY --from=build /out/gatehouse /gatehouse

# Listen on all interfaces inside the container (the defaults are loopback,
# which nothing outside the container could reach). Publish the admin port
# (health checks, /metrics) only to trusted networks.
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_ADMIN_LISTEN=0.0.0.0:8081

# The nonroot user's home, writable by it: the default DSN
# (sqlite://./data/gatehouse.db) and `serve --dev` keep their files under
# ./data here. Production uses PostgreSQL via GATEHOUSE_DSN.
WORKDIR /home/nonroot
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532

# 8080: OAuth 2.0 / OIDC endpoints. 8081: /health/alive, /health/ready, /metrics.
EXPOSE 8080 8081

ENTRYPOINT ["/gatehouse"]
CMD ["serve"]
