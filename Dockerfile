# infergate on CPU.
#
#   docker build -t infergate .
#   docker run -p 8080:8080 -v $PWD/models:/models:ro -v infergate-data:/var/lib/infergate infergate
#
# Models are mounted, never baked in: the server reads /models/chat.gguf and
# /models/embed.gguf (override with INFERGATE_CHAT_MODEL / INFERGATE_EMBED_MODEL
# or the flags). Everything it persists (the store, vector snapshots,
# backups) lives in the volume /var/lib/infergate. The binary is built with
# PORTABLE=1 (-march=x86-64-v3), so it runs on any AVX2 machine, AVX-512 or
# not. The health check assumes the default port 8080; keep it if you change
# INFERGATE_ADDR, or override the check.
ARG GO_VERSION=1.26
ARG DEBIAN_VERSION=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_VERSION} AS gobuild
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build PORTABLE=1

FROM debian:${DEBIAN_VERSION}-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* && \
    useradd --system --create-home --uid 10001 infergate && \
    mkdir -p /var/lib/infergate /models && chown infergate:infergate /var/lib/infergate
COPY --from=gobuild /src/bin/infergate /usr/local/bin/infergate
ENV INFERGATE_ADDR=0.0.0.0:8080 \
    INFERGATE_DATA_DIR=/var/lib/infergate \
    INFERGATE_CHAT_MODEL=/models/chat.gguf \
    INFERGATE_EMBED_MODEL=/models/embed.gguf
VOLUME /var/lib/infergate
USER infergate
WORKDIR /home/infergate
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/infergate"]
CMD ["serve"]
