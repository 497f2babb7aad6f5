#!/usr/bin/env bash
# The demo: installs and builds sipbridge, starts the echo test bot on 127.0.0.1:5001 and
# sipbridged with its embedded default, places one SIPp call with A-law audio and custom
# headers, shows what the bot received, then keeps the daemon running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh build
[ -d build ] || meson setup build
ninja -C build

work=$(mktemp -d)
cleanup() {
	kill "$bot_pid" "$daemon_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

build/tools/testbot/sipbridge-testbot --listen 127.0.0.1:5001 --mode echo \
	--log "$work/bot.jsonl" >"$work/bot.out" &
bot_pid=$!
build/src/sipbridged --bot ws://127.0.0.1:5001/media 2> >(tee "$work/sipbridged.log" >&2) &
daemon_pid=$!

for _ in $(seq 100); do
	grep -q "ready" "$work/sipbridged.log" 2>/dev/null && break
	sleep 0.1
done

echo "== placing one 5 s call with A-law audio and custom headers (tools/sipp/uac_call.xml)"
sipp_dir=$PWD/tools/sipp
(
	cd "$work" # rtp_stream opens audio.alaw in the working directory
	/usr/bin/python3 "$sipp_dir/gen_audio.py" --seconds 3 audio.alaw >/dev/null
	sipp 127.0.0.1:5060 -sf "$sipp_dir/uac_call.xml" -inf "$sipp_dir/calls.csv" -s +15550001 \
		-i 127.0.0.1 -mi 127.0.0.1 -mp 16000 -m 1 -d 5000 -nostdin -timeout 30 \
		-timeout_error -trace_err >/dev/null 2>&1 || echo "   sipp: the call failed"
)
for _ in $(seq 150); do
	grep -q '"event":"stop"' "$work/bot.jsonl" 2>/dev/null && break
	sleep 0.1
done
echo "== the bot received:"
/usr/bin/python3 - "$work/bot.jsonl" <<'PY'
import collections, json, sys
events = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "rx":
        events[e.get("event")] += 1
        if e.get("event") == "start":
            print("   start:", json.dumps(e["msg"]["start"]))
print("   events:", dict(events))
PY
echo "== sipbridged keeps running with the embedded default; Ctrl-C stops it"
wait "$daemon_pid"
