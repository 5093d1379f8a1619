# syntax=docker/dockerfile:1
#
# tether's container image: one static binary on a distroless base, run
# as a non-root user, its data (the SQLite database) in the /data volume.
# README.md ("In a container") says how to build and run it;
# deploy/compose.yaml runs two instances on PostgreSQL behind Caddy.
#
#   docker build -t tether --build-arg VERSION=$(git describe --tags --always) .
#
# deploy/deploy_test.go checks this file and runs its go build line.

FROM golang:1.26.8 AS build
WORKDIR /src
# The modules first: their layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
# The build of scripts/bench and the tests (go build ./cmd/tether, cgo off:
# a static binary that needs no libc), plus the version, and -s -w, which
# leave out the symbol table and debug information (a smaller image; stack
# traces keep their function names and lines). No -trimpath: the paths it
# would hide are this builder's /src and /go, the same on every build.
RUN CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/tether ./cmd/tether
# /data must belong to the user tether runs as before it becomes a volume:
# a new volume takes the owner and mode of the image's folder.
RUN mkdir -p /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tether /tether
COPY --from=build --chown=65532:65532 /out/data /data
# distroless's "nonroot" user, by number so that a runtime can check it.
USER 65532:65532
# The default database (sqlite://tether.db) is relative: it lands in /data.
WORKDIR /data
# Listen on every interface of the container (the default is loopback
# only). tether healthcheck reads it to find /healthz.
ENV TETHER_LISTEN=0.0.0.0:5212
EXPOSE 5212
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/tether", "healthcheck"]
ENTRYPOINT ["/tether"]
CMD ["serve", "--config", "/etc/tether/tether.yaml"]
