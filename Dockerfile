# The portal image: a static portal binary on a small Debian runtime that also
# carries tor for the onion service. Runs as an unprivileged user (uid 10001);
# its only writable place is /var/lib/portal (mount a volume there: the onion
# key lives in it). See docs/operators.md.
#
#   docker build --build-arg VERSION=$(git describe --always) -t xmpp-portal .

# ---- build ------------------------------------------------------------------
# The image of the exact Go release of go.mod (its `go` line). GOTOOLCHAIN
# pins it too: should the image's Go ever differ, the go command fetches
# go1.27.3 from the module proxy (as `go mod download` below reaches it anyway)
# rather than build with another release.
FROM golang:1.27.3-bookworm AS build
ENV GOTOOLCHAIN=go1.27.3
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Static (no cgo), reproducible paths, no VCS stamping (.git is not in the
# build context, see .dockerignore).
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/xmpp-portal/portal/internal/app.Version=${VERSION}" \
      -o /out/portal ./cmd/portal \
 && /out/portal -version

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# tor for the onion service; ca-certificates to verify the XMPP server's
# certificate (public CAs). Nothing else: no shell tools are needed at run
# time (the health check is the portal binary itself).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tor ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /var/lib/portal --no-create-home --shell /usr/sbin/nologin portal \
 && install -d -o portal -g portal -m 0700 /var/lib/portal
COPY --from=build /out/portal /usr/local/bin/portal
USER 10001:10001
WORKDIR /var/lib/portal
VOLUME /var/lib/portal
ENV PORTAL_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/portal", "-healthcheck", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/portal"]
