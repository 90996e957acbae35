#!/usr/bin/env bash
# The overload experiment (issue 12): infergate with the real local test
# model and a loopback cloud upstream, offered about FACTOR times the load
# the local model sustains within the TTFT SLO, once with fallback to the
# cloud and once without. Run by `make overload`; every knob below is an
# environment variable of the same name.
#
# 1. Starts the fake cloud API (infergate bench fake-upstream: first token
#    after FIRST_TOKEN plus up to JITTER, then TOKENS_PER_S) and infergate
#    serve with a --config that declares it as upstream "fake" for the
#    chat model, with routing.ttft_slo = ROUTING_SLO (default SLO; the
#    router compares it with the predicted time to first token, so a
#    lower value buys headroom for the prediction's error at p99).
# 2. Measures the local capacity in this run, on this machine as loaded
#    now: a closed-loop sweep at 1..2 x PARALLEL concurrent requests, all
#    local-only; the capacity is the best goodput (requests/s within the
#    SLO) of the sweep.
# 3. Offers FACTOR x capacity as an open-loop Poisson arrival rate for
#    DURATION twice: fallback off (every request local-only, through the
#    X-Infergate-Route-Policy header) and fallback on (the router decides).
# 4. Prints, per run: failed requests, TTFT p50/p99, requests within the
#    SLO and the local share of the completed requests (from the
#    X-Infergate-Route header). Reports land in OUT_DIR (git-ignored).
set -euo pipefail

BIN=${BIN:-bin/infergate}
CHAT_MODEL=${CHAT_MODEL:-models/cache/stories260K.gguf}
MODEL_ID=${MODEL_ID:-stories260K}
PORT=${PORT:-18183}
CLOUD_PORT=${CLOUD_PORT:-18184}
SLO=${SLO:-800ms}             # the TTFT objective the runs are judged by
ROUTING_SLO=${ROUTING_SLO:-$SLO} # routing.ttft_slo: the predicted local TTFT that spills
PARALLEL=${PARALLEL:-4}
THREADS=${THREADS:-1}
QUEUE_LEN=${QUEUE_LEN:-16}
FACTOR=${FACTOR:-3}
DURATION=${DURATION:-60s}
PROBE_REQUESTS=${PROBE_REQUESTS:-48}
INPUT_TOKENS=${INPUT_TOKENS:-64}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-128}
FIRST_TOKEN=${FIRST_TOKEN:-300ms}
JITTER=${JITTER:-100ms}
TOKENS_PER_S=${TOKENS_PER_S:-50-100}
OUT_DIR=${OUT_DIR:-bench/results/overload}

command -v jq >/dev/null || { echo "overload: jq is required to read the reports" >&2; exit 1; }
[[ -x $BIN ]] || { echo "overload: $BIN is missing (make build)" >&2; exit 1; }
[[ -f $CHAT_MODEL ]] || { echo "overload: $CHAT_MODEL is missing (make models)" >&2; exit 1; }
mkdir -p "$OUT_DIR"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# The fake cloud API wants a key, as a real one does; it never leaves
# this machine.
export INFERGATE_OVERLOAD_CLOUD_KEY=sk-overload-fake
cat >"$tmp/infergate.yaml" <<EOF
upstreams:
  - name: fake
    kind: openai
    base_url: http://127.0.0.1:$CLOUD_PORT/v1
    api_key_env: INFERGATE_OVERLOAD_CLOUD_KEY
    models: {$MODEL_ID: gpt-fake-mini}
    max_concurrency: 1024
    price_per_mtok: {input: 0.15, output: 0.60}
routing:
  ttft_slo: $ROUTING_SLO
EOF

"$BIN" bench fake-upstream --addr "127.0.0.1:$CLOUD_PORT" --first-token "$FIRST_TOKEN" --jitter "$JITTER" \
	--tokens-per-s "$TOKENS_PER_S" --models gpt-fake-mini --api-key-env INFERGATE_OVERLOAD_CLOUD_KEY \
	>"$OUT_DIR/fake-upstream.log" 2>&1 &
pids+=($!)
"$BIN" serve --addr "127.0.0.1:$PORT" --config "$tmp/infergate.yaml" --data-dir "$tmp/data" \
	--chat-model "$CHAT_MODEL" --embed-model "" --parallel "$PARALLEL" --threads "$THREADS" \
	--queue-len "$QUEUE_LEN" --log-level warn >"$OUT_DIR/serve.log" 2>&1 &
pids+=($!)

common=(--url "http://127.0.0.1:$PORT" --model "$MODEL_ID" --input-tokens "$INPUT_TOKENS"
	--output-tokens "$OUTPUT_TOKENS" --ignore-eos --slo "ttft=$SLO")
local_only=(--header "X-Infergate-Route-Policy: local-only")

echo "== local capacity: closed loop, local-only, SLO ttft=$SLO"
"$BIN" bench "${common[@]}" "${local_only[@]}" --wait-ready 2m --warmup "$PARALLEL" \
	--concurrency "1,$PARALLEL,$((2 * PARALLEL))" --requests "$PROBE_REQUESTS" \
	--json "$OUT_DIR/capacity.json" --label local-capacity >"$OUT_DIR/capacity.txt"
capacity=$(jq '[.levels[].goodput.requests_per_s] | max' "$OUT_DIR/capacity.json")
rate=$(jq -n --argjson c "$capacity" --argjson f "$FACTOR" '$c * $f * 100 | round / 100')
echo "local capacity within the SLO: $capacity req/s; offering $FACTOR x = $rate req/s for $DURATION"

run() { # name, extra flags...
	local name=$1
	shift
	echo "== $name: open loop at $rate req/s (routing.ttft_slo $ROUTING_SLO)"
	"$BIN" bench "${common[@]}" "$@" --rate "$rate" --duration "$DURATION" \
		--json "$OUT_DIR/$name.json" --label "$name" >"$OUT_DIR/$name.txt"
}
run fallback-off "${local_only[@]}"
run fallback-on

echo
printf '%-13s %8s %9s %7s %7s %9s %9s %10s %12s\n' run "req/s" requests ok failed "p50 TTFT" "p99 TTFT" "within SLO" "local share"
for name in fallback-off fallback-on; do
	jq -r --arg name "$name" '.levels[0] as $l | [$name, $l.rate, $l.requests, $l.completed, $l.failed,
		($l.ttft.p50_ms | round | tostring) + "ms", ($l.ttft.p99_ms | round | tostring) + "ms",
		(($l.goodput.fraction // 0) * 1000 | round / 10 | tostring) + "%",
		((($l.routes // {}).local.share // 0) * 1000 | round / 10 | tostring) + "%"] | @tsv' "$OUT_DIR/$name.json" |
		while IFS=$'\t' read -r n r q o f p50 p99 w s; do
			printf '%-13s %8s %9s %7s %7s %9s %9s %10s %12s\n' "$n" "$r" "$q" "$o" "$f" "$p50" "$p99" "$w" "$s"
		done
	jq -r '.levels[0] | "  errors: " + ((.errors // {}) | to_entries | map("\(.key) \(.value)") | join(", ") | if . == "" then "none" else . end)
		+ "; by route: " + ((.routes // {}) | to_entries | map("\(.key) \(.value.requests) requests, TTFT p50 \(.value.ttft.p50_ms | round)ms p99 \(.value.ttft.p99_ms | round)ms") | join("; "))' "$OUT_DIR/$name.json"
done
echo "reports: $OUT_DIR/{capacity,fallback-off,fallback-on}.{json,txt}"
