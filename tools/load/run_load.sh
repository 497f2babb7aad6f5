#!/usr/bin/env bash
# Bounded load run on loopback: the echo test bot, sipbridged (from BUILD, default build) and
# SIPp callers with A-law audio (tools/sipp/uac_call.xml). Reports failed calls and the
# daemon's CPU and peak memory per call. Every process it starts is stopped at the end.
#
#   tools/load/run_load.sh [-c CONCURRENT] [-n TOTAL] [-r CPS] [-d CALL_MS] [-b BUILD]
#                          [-p exotel|twilio|raw] [-s 8000|16000|24000]
#   defaults: -c 200 -n 400 -r 50 -d 10000 -b build -p exotel -s 8000
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

concurrent=200 total=400 rate=50 call_ms=10000 build=build protocol=exotel sample_rate=8000
while getopts "c:n:r:d:b:p:s:h" o; do
	case $o in
	c) concurrent=$OPTARG ;;
	n) total=$OPTARG ;;
	r) rate=$OPTARG ;;
	d) call_ms=$OPTARG ;;
	b) build=$OPTARG ;;
	p) protocol=$OPTARG ;;
	s) sample_rate=$OPTARG ;;
	*) sed -n '2,9p' "$0"; exit 2 ;;
	esac
done
for v in "$concurrent" "$total" "$rate" "$call_ms"; do
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || { echo "run_load: numbers must be positive integers" >&2; exit 2; }
done
[[ $protocol =~ ^(exotel|twilio|raw)$ ]] || { echo "run_load: -p must be exotel, twilio or raw" >&2; exit 2; }
[[ $sample_rate =~ ^(8000|16000|24000)$ ]] || { echo "run_load: -s must be 8000, 16000 or 24000" >&2; exit 2; }
[ -x "$build/src/sipbridged" ] || { echo "run_load: build $build first (meson setup $build && ninja -C $build)" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

free_port() { # a free loopback port for TCP and UDP
	/usr/bin/python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
PY
}
sip_port=$(free_port)
bot_port=$(free_port)

cat >"$work/load.conf" <<CONF
sip: { listen = ( { transport = "udp"; address = "127.0.0.1"; port = $sip_port; } ); };
rtp: { address = "127.0.0.1"; port_min = 30000; port_max = 59998; };
limits: { max_calls = $((concurrent + 100)); max_cps = $((rate * 2)); };
log: { level = "notice"; };
trunks = ( { name = "load"; acl = ( "127.0.0.0/8" ); bots = ( { match = "*"; bot = "echo"; } ); } );
bots = ( { name = "echo"; url = "ws://127.0.0.1:$bot_port/media"; protocol = "$protocol";
          sample_rate = $sample_rate; } );
CONF

"$build/tools/testbot/sipbridge-testbot" --listen "127.0.0.1:$bot_port" --mode echo --protocol "$protocol" >"$work/bot.out" 2>&1 &
pids+=($!)
"$build/src/sipbridged" -c "$work/load.conf" 2>"$work/sipbridged.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do
	grep -q "ready" "$work/sipbridged.log" && break
	sleep 0.1
done
grep -q "ready" "$work/sipbridged.log" || { cat "$work/sipbridged.log"; exit 1; }

( cd "$work" && /usr/bin/python3 "$repo/tools/sipp/gen_audio.py" --seconds 3 audio.alaw >/dev/null )
limit_s=$(( total / rate + call_ms / 1000 + 120 ))
echo "load: $total calls, $concurrent at once, $rate/s, $call_ms ms each (at most $limit_s s)"
t0=$(date +%s.%N)
set +e
( cd "$work" && timeout "$((limit_s + 30))" sipp "127.0.0.1:$sip_port" -sf "$repo/tools/sipp/uac_call.xml" \
	-inf "$repo/tools/sipp/calls.csv" -s +15550001 -i 127.0.0.1 -mi 127.0.0.1 -mp "$(free_port)" \
	-r "$rate" -l "$concurrent" -m "$total" -d "$call_ms" -nostdin -timeout "$limit_s" \
	-trace_err -error_file errors.log >sipp.out 2>&1 )
sipp_rc=$?
set -e
t1=$(date +%s.%N)

read -r cpu_ticks < <(awk '{print $14 + $15}' "/proc/$daemon/stat")
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
ok=$(awk -F'|' '/Successful call/ {gsub(/ /, "", $3); print $3}' "$work/sipp.out" | tail -1)
bad=$(awk -F'|' '/Failed call/ {gsub(/ /, "", $3); print $3}' "$work/sipp.out" | tail -1)
/usr/bin/python3 - "$cpu_ticks" "$(getconf CLK_TCK)" "$hwm_kb" "$total" "$call_ms" "$concurrent" \
	"$t0" "$t1" "${ok:-0}" "${bad:-?}" "$sipp_rc" <<'PY'
import sys
ticks, hz, hwm, total, call_ms, conc, t0, t1, ok, bad, rc = sys.argv[1:]
cpu = int(ticks) / int(hz)
call_s = int(ok) * int(call_ms) / 1000 if ok.isdigit() else 0
print("calls: %s successful, %s failed (sipp exit %s) in %.1f s" % (ok, bad, rc, float(t1) - float(t0)))
print("sipbridged CPU: %.1f s, %.3f %% of one core per call" % (cpu, 100 * cpu / call_s if call_s else 0))
print("sipbridged peak RSS: %.1f MiB, %.1f KiB per concurrent call" % (int(hwm) / 1024, int(hwm) / int(conc)))
PY
kill -TERM "$daemon"
wait "$daemon" && echo "sipbridged stopped cleanly" || echo "sipbridged exit status $?"
grep -E " (warn|error) " "$work/sipbridged.log" | cut -c14- | sort | uniq -c | sort -rn | head -5 || true
echo "logs: $work"
