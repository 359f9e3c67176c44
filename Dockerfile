# Keel bot image: the example market maker (BOT) and the operator CLI (keel), static, non-root.
#
#   docker build -t keel .
#   docker run --stop-timeout 30 -v keel-state:/var/lib/keel \
#     -v $PWD/prod.yaml:/etc/keel/keel.yaml:ro \
#     -e KEEL_EXCHANGE_API_KEY -e KEEL_EXCHANGE_API_SECRET keel --config /etc/keel/keel.yaml
#
# --stop-timeout (compose: stop_grace_period) must exceed shutdown.timeout (default 5s): SIGTERM
# starts the shutdown that cancels open orders; a SIGKILL before it ends leaves them live.
# Docker's default is 10s; 30s leaves room for a slow exchange.

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# BOT is the package of the bot to ship: your own main package, or the example.
ARG BOT=./examples/marketmaker
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bot ${BOT} && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/keel ./cmd/keel && \
    mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bot /usr/local/bin/bot
COPY --from=build /out/keel /usr/local/bin/keel
# The journal and the kill-switch file live on the volume: they must outlive the container.
COPY --from=build --chown=65532:65532 /out/state /var/lib/keel
ENV KEEL_JOURNAL_PATH=/var/lib/keel/journal.db \
    KEEL_KILLSWITCH_FILE=/var/lib/keel/KILLSWITCH \
    KEEL_LOG_FORMAT=json
VOLUME ["/var/lib/keel"]
WORKDIR /var/lib/keel
USER 65532:65532
# The bot stops cleanly on SIGTERM: strategies stop, open orders are cancelled, the journal is
# flushed; exit 0, or 1 when cancelling failed or outran shutdown.timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/bot"]
