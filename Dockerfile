# syntax=docker/dockerfile:1
# Build: docker build -t entrasync .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/entrasync ./cmd/entrasync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/entrasync /usr/local/bin/entrasync
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/entrasync"]
CMD ["help"]
