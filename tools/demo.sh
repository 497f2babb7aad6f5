#!/usr/bin/env bash
# The demo: installs and builds sipbridge, starts the echo test bot on 127.0.0.1:5001 and
# sipbridged with its embedded default, places one call with sipbridge-call (a generated WAV
# played, the bot's reply recorded, custom headers and keys), prints the call's JSON summary
# and what the bot received, then keeps the daemon running until Ctrl-C.
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

echo "== placing one call with sipbridge-call: 3 s of audio, custom headers, keys 1 2 3"
/usr/bin/python3 - "$work/caller.wav" <<'PY'
import math, struct, sys, wave
# 3 s alternating 440 Hz and 1 kHz every half second, 8 kHz mono PCM16
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    hz = [440 if i // 4000 % 2 == 0 else 1000 for i in range(24000)]
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * f * i / 8000)))
                           for i, f in enumerate(hz)))
PY
build/tools/call/sipbridge-call --to sip:+15550001@127.0.0.1:5060 \
	--header 'X-Customer-Header: salesbot' --header 'X-UUI: demo-42' \
	--play "$work/caller.wav" --record "$work/reply.wav" --dtmf 123 --dtmf-at 3.2 \
	>"$work/call.json" || echo "   sipbridge-call: the call failed (exit $?)"
echo "== the call (sipbridge-call's summary; the bot's echo is in $work/reply.wav):"
echo "   $(cat "$work/call.json")"
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
