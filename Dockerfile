# The loyaltyd image: a static binary (plus loyaltyctl, for operators) on distroless, as a
# non-root user. `docker build -t loyaltyforge/loyaltyd:dev .`; docker-compose.yml runs the fleet.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: the binary needs no libc, so it runs on a base image without one. No BuildKit cache
# mounts: docker-compose 1.x builds with the classic builder, which refuses them.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/loyaltyd ./cmd/loyaltyctl \
 && mkdir -p /out/data

# static-debian12 has CA certificates and tzdata but no shell or package manager; :nonroot is
# uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/loyaltyd /out/loyaltyctl /usr/local/bin/
# The data dir holds only a development JWT secret and, without LOYALTY_NATS_URL, the embedded
# NATS's files: owned by the unprivileged user.
COPY --from=build --chown=65532:65532 /out/data /var/lib/loyalty
ENV LOYALTY_HTTP_ADDR=:8080 \
    LOYALTY_DATA_DIR=/var/lib/loyalty \
    LOYALTY_LOG_FORMAT=json
USER 65532:65532
WORKDIR /var/lib/loyalty
EXPOSE 8080
# Every role answers /readyz on LOYALTY_HTTP_ADDR (the api role also serves the API). There is
# no curl in the image: loyaltyd asks itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/loyaltyd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/loyaltyd"]
