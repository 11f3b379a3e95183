# syntax=docker/dockerfile:1
# Build: a static binary, no cgo (the SQLite driver is pure Go). The Go
# version matches go.mod; dockerfile_test.go checks it and the rest of this
# file, and .ci/run builds the binary with the same flags.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/mangrove-dashboard . \
 && mkdir -p /out/data

# Run: distroless, non-root, data on a volume.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="mangrove-dashboard" \
      org.opencontainers.image.description="Batch generation dashboard for the Mangrove production-accounting API, with an embedded sandbox" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/carbon-dash/mangrove-dashboard" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/mangrove-dashboard /mangrove-dashboard
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV ADDR=:8080 \
    SANDBOX_ADDR=127.0.0.1:8081 \
    DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/mangrove-dashboard", "-healthcheck"]
ENTRYPOINT ["/mangrove-dashboard"]
