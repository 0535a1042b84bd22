# Multi-stage build: a static portal binary on a small non-root runtime image
# that also carries tor for the onion service.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/xmpp-portal/portal/internal/app.Version=${VERSION}" -o /out/portal ./cmd/portal

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tor ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/portal --create-home --uid 10001 portal
COPY --from=build /out/portal /usr/local/bin/portal
USER portal
WORKDIR /var/lib/portal
EXPOSE 8080
ENV PORTAL_LISTEN=0.0.0.0:8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/portal", "-healthcheck", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/portal"]
