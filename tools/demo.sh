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
build/src/sipbridged --bot ws://127.0.0.1:5001/media 2>&1 | tee "$work/sipbridged.log" &
daemon_pid=$!

for _ in $(seq 100); do
	grep -q "ready" "$work/sipbridged.log" 2>/dev/null && break
	sleep 0.1
done

echo "== placing a 5 s call with A-law audio (tools/sipp/uac_call.xml)"
/usr/bin/python3 tools/sipp/make_tone.py --codec pcma --seconds 5 "$work/tone.alaw"
sipp 127.0.0.1:5060 -sf tools/sipp/uac_call.xml -m 1 -i 127.0.0.1 -p 5070 \
	-mp 6000 -set audio_file "$work/tone.alaw" -set audio_pt 8 -set pause_ms 5000 \
	-nostdin -timeout 30 -timeout_error -bg -trace_err -error_file "$work/sipp.err" >/dev/null
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
