# syntax=docker/dockerfile:1
# Multi-stage build of logserver: a static binary (CGO_ENABLED=0; SQLite is modernc.org/sqlite, pure Go) on a
# small Alpine base. Alpine rather than distroless/static because the HEALTHCHECK needs an HTTP client and the
# binary has no health-check mode: BusyBox wget (part of the base image) requests /liveness.
#
#   docker build -t logserver --build-arg VERSION=$(git describe --tags --always) .

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY logingest ./logingest
COPY internal ./internal
COPY migrations ./migrations
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/logserver ./cmd/logserver

FROM alpine:3.22
RUN addgroup -S -g 10001 logserver \
 && adduser -S -D -H -u 10001 -G logserver logserver \
 && mkdir -p /data && chown logserver:logserver /data
COPY --from=build /out/logserver /usr/local/bin/logserver
USER 10001:10001
WORKDIR /data
ENV PORT=8080 DATA_DIR=/data LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null "http://127.0.0.1:${PORT}/liveness" || exit 1
ENTRYPOINT ["/usr/local/bin/logserver"]
