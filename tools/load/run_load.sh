#!/usr/bin/env bash
# Bounded load run on loopback: the test bot in echo mode, sipbridged (from BUILD) with its
# admin API on a free port, and SIPp callers with A-law audio and custom headers
# (tools/load/uac_load.xml). The callers' RTP comes from sipbridge-rtpsource (one socket,
# batched sends, every call's SDP names it; it reads 1 in 4 of the bridge's packets, the rest
# dropped by its socket's filter) or, with -g sipp, from SIPp's own rtp_stream (a
# socket and a system call per packet per call, threads of 20 calls: it costs more than the
# bridge under test). sipbridge-wirestat watches the RTP on lo, sipbridge-wakeprobe how late
# the machine wakes a sleeping thread on each CPU; poll_metrics.py samples
# the daemon's /metrics and RSS once a second, with how busy the machine was and how long the
# daemon's threads and the generators ran and waited for a CPU; report.py prints a table and
# one JSON line.
# Every process it starts is stopped at the end; the whole run is bounded in time.
#
#   tools/load/run_load.sh [-c CONCURRENT] [-n TOTAL] [-r CPS] [-d CALL_MS] [-b BUILD]
#                          [-p exotel|twilio|raw] [-s 8000|16000|24000] [-o OUTDIR] [-w N]
#                          [-i auto|io_uring|epoll] [-M N] [-W N] [-g own|sipp] [-S SECONDS] [-T MS]
#                          [-B fifo|NICE] [-a pair|none] [-G N] [-t] [-j]
#   defaults: -c 200 -n 400 -r 50 -d 10000 -b build -p exotel -s 8000 -i auto -g own -G 2 -B fifo -a none
#   -o  keep every file of the run in OUTDIR, new or empty (default: a new temporary directory)
#   -w  the wire capture (pacing, latency) watches 1 call in N, a power of two (default: the
#       least that keeps it to about 250 calls, so the capture costs the machine little)
#   -i  the daemon's threads.media_io
#   -M  the daemon's threads.media (default 0: the number of cores minus one); the report
#       gives the count it ran
#   -W  the daemon's threads.ws (default 0: one per core); the report gives the count it ran
#   -g  who sends the callers' RTP: own (sipbridge-rtpsource) or sipp (SIPp's rtp_stream)
#   -G  the callers' source's threads (1-8, default 2), the streams split between them: a
#       thread that waits for a CPU does not hold up the streams of one that got the other
#       (with -a pair they share the source's one CPU)
#   -S  record the machine's scheduler events (perf) for SECONDS once every call is set up, and
#       report how long the daemon's threads and the generators waited for a CPU
#   -T  the daemon's sip.t1x64_ms (default: its own, RFC 3261's 32000): how long each ended
#       call's BYE transaction is kept
#   -B  the test bot's scheduling: it stands for a bot on a machine of its own, so by default
#       (fifo) it runs at SCHED_FIFO 1, beside the daemon's ws threads and before the callers'
#       generators, and reads what the bridge sends when it comes (nice -10 where the system
#       refuses it); or at a nice value NICE
#   -a  where the threads run: none (the default) leaves every thread to the scheduler; pair
#       (with more CPUs than media threads) keeps the daemon's media threads on the first CPUs
#       the run may use, one each, with the callers' source on the first, and its ws threads
#       and the test bot on the others (taskset), SIPp, the capture and the daemon's other
#       threads left to the scheduler: on loopback a sender runs its packets' receive, so
#       each generator then shares the CPU of the threads it exchanges packets with. It takes
#       about a fifth of a core off the machine at 2000 calls, but the ws threads and the bot
#       then share one CPU (docs/performance.md, *Where the threads run*)
#   -t  wss: the bot serves TLS with a certificate made for the run (openssl), which the daemon
#       verifies against the run's own CA
#   -j  print only the JSON line
#   exit status: 0 the run completed (whatever its failed calls), 1 it could not run, 2 usage
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

concurrent=200 total=400 rate=50 call_ms=10000 build=build protocol=exotel sample_rate=8000
outdir="" json_only=0 wire_sample="" media_io=auto tls=0 ws_threads=0 media_threads=0 rtp_gen=own sched_s=0 t1x64_ms="" bot_sched=fifo
placement=none src_threads=2
while getopts "c:n:r:d:b:p:s:o:w:i:M:W:g:G:S:T:B:a:tjh" o; do
	case $o in
	c) concurrent=$OPTARG ;;
	n) total=$OPTARG ;;
	r) rate=$OPTARG ;;
	d) call_ms=$OPTARG ;;
	b) build=$OPTARG ;;
	p) protocol=$OPTARG ;;
	s) sample_rate=$OPTARG ;;
	o) outdir=$OPTARG ;;
	w) wire_sample=$OPTARG ;;
	i) media_io=$OPTARG ;;
	t) tls=1 ;;
	M) media_threads=$OPTARG ;;
	W) ws_threads=$OPTARG ;;
	g) rtp_gen=$OPTARG ;;
	G) src_threads=$OPTARG ;;
	S) sched_s=$OPTARG ;;
	T) t1x64_ms=$OPTARG ;;
	B) bot_sched=$OPTARG ;;
	a) placement=$OPTARG ;;
	j) json_only=1 ;;
	*) sed -n '2,50p' "$0"; exit 2 ;;
	esac
done
for v in "$concurrent" "$total" "$rate" "$call_ms"; do
	[[ $v =~ ^[0-9]{1,7}$ && $v -gt 0 ]] || { echo "run_load: numbers must be positive integers" >&2; exit 2; }
done
[ "$concurrent" -le 20000 ] || { echo "run_load: -c is at most 20000" >&2; exit 2; }
[[ $bot_sched == fifo || ($bot_sched =~ ^-?[0-9]{1,2}$ && $bot_sched -ge -20 && $bot_sched -le 19) ]] ||
	{ echo "run_load: -B is fifo or a nice value from -20 to 19" >&2; exit 2; }
[[ $sched_s =~ ^[0-9]{1,3}$ ]] || { echo "run_load: -S is a number of seconds, at most 999" >&2; exit 2; }
if [ "$sched_s" -gt 0 ] && ! command -v perf >/dev/null; then
	echo "run_load: -S needs perf (Debian: linux-perf)" >&2
	exit 1
fi
if [ -z "$wire_sample" ]; then # about 250 calls captured at most: the capture stays cheap
	wire_sample=1
	while [ $((wire_sample * 250)) -lt "$concurrent" ]; do wire_sample=$((wire_sample * 2)); done
fi
[[ $wire_sample =~ ^(1|2|4|8|16|32|64|128|256|512|1024)$ ]] ||
	{ echo "run_load: -w must be a power of two up to 1024" >&2; exit 2; }
[[ $ws_threads =~ ^([0-9]|1[0-6])$ ]] || { echo "run_load: -W must be 0 to 16" >&2; exit 2; }
[[ $media_threads =~ ^([0-9]|1[0-6])$ ]] || { echo "run_load: -M must be 0 to 16" >&2; exit 2; }
[[ -z $t1x64_ms || ($t1x64_ms =~ ^[0-9]{4,5}$ && $t1x64_ms -ge 4000 && $t1x64_ms -le 64000) ]] ||
	{ echo "run_load: -T must be 4000 to 64000 (ms)" >&2; exit 2; }
[[ $placement =~ ^(pair|none)$ ]] || { echo "run_load: -a must be pair or none" >&2; exit 2; }
[ "$placement" = none ] || command -v taskset >/dev/null || { echo "run_load: -a pair needs taskset (util-linux)" >&2; exit 1; }
[[ $rtp_gen =~ ^(own|sipp)$ ]] || { echo "run_load: -g must be own or sipp" >&2; exit 2; }
[[ $src_threads =~ ^[1-8]$ ]] || { echo "run_load: -G must be 1 to 8" >&2; exit 2; }
[[ $media_io =~ ^(auto|io_uring|epoll)$ ]] || { echo "run_load: -i must be auto, io_uring or epoll" >&2; exit 2; }
[[ $protocol =~ ^(exotel|twilio|raw)$ ]] || { echo "run_load: -p must be exotel, twilio or raw" >&2; exit 2; }
[[ $sample_rate =~ ^(8000|16000|24000)$ ]] || { echo "run_load: -s must be 8000, 16000 or 24000" >&2; exit 2; }
[ -x "$build/src/sipbridged" ] || { echo "run_load: build $build first (meson setup $build && ninja -C $build)" >&2; exit 2; }
command -v sipp >/dev/null || { echo "run_load: sipp not found (apt-get install sip-tester)" >&2; exit 1; }
build=$(cd "$build" && pwd)

if [ -n "$outdir" ]; then
	mkdir -p "$outdir"
	# Files of an earlier run would be read as this one's.
	[ -z "$(ls -A "$outdir")" ] || { echo "run_load: $outdir is not empty" >&2; exit 2; }
	work=$(cd "$outdir" && pwd)
else
	work=$(mktemp -d)
fi
say() { [ "$json_only" -eq 1 ] || echo "$@"; }

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds; fails after SECONDS.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# The run's own ports: SIP, bot, admin, SIPp's media port (-mp; SIPp binds it and the one two
# above it for video, whether it sends RTP or not) and the RTP source's. They come from
# 30000-32767: above the daemon's RTP range below and below the kernel's ephemeral ports
# (32768-60999), so no socket bound to port 0 meanwhile (curl, the metrics poller, the ws
# clients) can take one before its owner binds it. Each is checked free for UDP and TCP.
read -r sip_port bot_port admin_port media_port source_port < <(/usr/bin/python3 - <<'PY'
import os, socket
def free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True
lo, n = 30000, 2768
start = os.getpid() % n
got = []
for i in range(n):
    p = lo + (start + i) % n
    if len(got) == 3 and p % 2:
        continue  # SIPp's media port: even, with p + 2 free too
    if any(abs(p - q) <= 2 for q in got) or not free(p):
        continue
    if len(got) == 3 and (p + 2 >= lo + n or not free(p + 2)):
        continue
    got.append(p)
    if len(got) == 5:
        break
if len(got) != 5:
    raise SystemExit("run_load: no free ports in 30000-32767")
print(*got)
PY
)
[ -n "$source_port" ] || exit 1
caller_rtp_port=$media_port
[ "$rtp_gen" = sipp ] || caller_rtp_port=$source_port
rtp_min=10000 rtp_max=29998 # below the kernel's ephemeral ports (32768-60999), where SIPp's and the ws clients' ports come from
limit_s=$((total / rate + call_ms / 1000 + 60))

# wss: a CA and a certificate for 127.0.0.1 signed by it, made for this run.
scheme=ws bot_tls=() bot_ca=""
if [ "$tls" -eq 1 ]; then
	command -v openssl >/dev/null || { echo "run_load: -t needs openssl" >&2; exit 1; }
	ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 \
		-subj "/CN=sipbridge load CA" >/dev/null 2>&1 &&
		openssl req "${ec[@]}" -keyout "$work/bot.key" -out "$work/bot.csr" \
			-subj "/CN=127.0.0.1" >/dev/null 2>&1 &&
		printf 'subjectAltName=IP:127.0.0.1\n' >"$work/bot.ext" &&
		openssl x509 -req -in "$work/bot.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
			-CAcreateserial -days 2 -extfile "$work/bot.ext" -out "$work/bot.pem" >/dev/null 2>&1 ||
		{ echo "run_load: cannot make the bot's certificate" >&2; exit 1; }
	scheme=wss bot_tls=(--tls-cert "$work/bot.pem" --tls-key "$work/bot.key")
	bot_ca="ca_file = \"$work/ca.pem\";"
fi

cat >"$work/load.conf" <<CONF
sip: { listen = ( { transport = "udp"; address = "127.0.0.1"; port = $sip_port; } );
       ${t1x64_ms:+t1x64_ms = $t1x64_ms;} };
rtp: { address = "127.0.0.1"; port_min = $rtp_min; port_max = $rtp_max; };
limits: { max_calls = $((concurrent + 100)); max_cps = $((rate * 2)); };
admin: { address = "127.0.0.1"; port = $admin_port; };
threads: { media_io = "$media_io"; media = $media_threads; ws = $ws_threads; };
log: { level = "notice"; };
trunks = ( { name = "load"; acl = ( "127.0.0.0/8" ); bots = ( { match = "*"; bot = "echo"; } ); } );
bots = ( { name = "echo"; url = "$scheme://127.0.0.1:$bot_port/media"; protocol = "$protocol";
          sample_rate = $sample_rate; $bot_ca } );
CONF

# start_timed NAME OUT ERR COMMAND...: runs COMMAND in the background (stdout to OUT, stderr to
# ERR, both in the run's folder; the same name sends both there) under a shell that records
# its CPU time in NAME.times (`times`) when it exits; NAME.pid names the process to stop.
start_timed() {
	local name=$1 out=$2 err=$3
	shift 3
	(
		if [ "$out" = "$err" ]; then "$@" >"$work/$out" 2>&1 & else "$@" >"$work/$out" 2>"$work/$err" & fi
		echo $! >"$work/$name.pid"
		wait $! || true
		times >"$work/$name.times"
	) &
	pids+=($!)
	wait_for 5 test -s "$work/$name.pid"
	pids+=("$(cat "$work/$name.pid")")
}

# nice(1) adds to the script's own nice value; the bot gets -B whatever that is.
if [ "$bot_sched" = fifo ] && chrt -f 1 true 2>/dev/null; then
	bot_run=(chrt -f 1)
elif [ "$bot_sched" = fifo ]; then
	bot_run=(nice -n $((-10 - $(nice))))
else
	bot_run=(nice -n $((bot_sched - $(nice))))
fi
start_timed bot bot.out bot.out "${bot_run[@]}" "$build/tools/testbot/sipbridge-testbot" --listen "127.0.0.1:$bot_port" \
	--mode echo --protocol "$protocol" --arrivals "$work/bot.arrivals" "${bot_tls[@]}"
# What the bot got, once chrt(1) or nice(1) has become the bot: nice(1) without root or
# CAP_SYS_NICE runs it at the script's own priority.
bot_pid=$(cat "$work/bot.pid")
wait_for 5 grep -qx sipbridge-testb "/proc/$bot_pid/comm" || true
bot_sched_got=$(ps -o cls=,rtprio=,ni= -p "$bot_pid" |
	awk '{print ($1 == "FF" ? "FIFO " $2 : "OTHER " $3)}' || true)

"$build/src/sipbridged" -c "$work/load.conf" 2>"$work/sipbridged.log" &
daemon=$!
pids+=($daemon)
if ! wait_for 10 grep -q "ready" "$work/sipbridged.log"; then
	cat "$work/sipbridged.log" >&2
	exit 1
fi
# The thread counts the daemon took (0 in the configuration: its own choice).
counts=$(sed -n 's/.*ready: \([0-9]*\) media worker(s), \([0-9]*\) ws worker(s).*/\1 \2/p' "$work/sipbridged.log")
[ -z "$counts" ] || read -r media_threads ws_threads <<<"$counts"
# The scheduling the media and ws threads run with (threads.media_realtime, ws_realtime, or
# what the system allowed): each thread asks as it starts, and the first of each kind says so.
wait_for 5 grep -q "Media threads run with" "$work/sipbridged.log" || true
wait_for 5 grep -q "WebSocket threads run with" "$work/sipbridged.log" || true
sched_of() { # sched_of THREAD_PREFIX: "FIFO N" or "OTHER" of the daemon's first such thread
	{ ps -L -o comm=,cls=,rtprio= -p "$daemon" || true; } |
		awk -v p="$1" '!done && index($1, p) == 1 {print ($2 == "FF" ? "FIFO " $3 : "OTHER"); done = 1}'
}
media_sched=$(sched_of sb-media) ws_sched=$(sched_of sb-ws)

# -a pair: media thread i on CPU i with the callers' source on CPU 0; the ws threads and the
# test bot on the CPUs after the media threads'; the rest where the scheduler puts it. On
# loopback the kernel runs a packet's receive in its sender's system call, so a generator on
# another CPU than the thread it exchanges packets with moves every socket, buffer and
# wake-up between CPUs.
# The CPUs are those this run may use (its affinity), in order: the i-th of them is "CPU i".
read -r -a allowed < <(/usr/bin/python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')
cpus=${#allowed[@]}
if [ "$placement" = pair ] && { [ "$cpus" -lt 2 ] || [ "$media_threads" -ge "$cpus" ]; }; then
	say "run_load: -a pair needs more CPUs than media threads ($cpus, $media_threads): threads left to the scheduler"
	placement=none
fi
# Each placed thread is written to placement.txt (NAME CPUS) with where the kernel says it may
# run once placed.
run_media=()
cpus_of() { taskset -pc "$1" 2>/dev/null | sed -n 's/.*list: //p'; }
: >"$work/placement.txt"
if [ "$placement" = pair ]; then
	media_cpus=$(IFS=,; echo "${allowed[*]:0:media_threads}")
	rest_cpus=$(IFS=,; echo "${allowed[*]:media_threads}")
	run_media=(taskset -c "${allowed[0]}")
	place() { # place NAME PID CPUS [taskset flags]
		taskset "${4:--p}c" "$3" "$2" >/dev/null || echo "run_load: cannot place $1 on CPU $3" >&2
		echo "$1 $(cpus_of "$2")" >>"$work/placement.txt"
	}
	for t in /proc/"$daemon"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		case $comm in
		sb-media*) place "$comm" "${t##*/}" "${allowed[${comm#sb-media}]}" ;;
		sb-ws*) place "$comm" "${t##*/}" "$rest_cpus" ;;
		esac
	done
	place bot "$bot_pid" "$rest_cpus" -ap
fi
metrics_url="http://127.0.0.1:$admin_port/metrics"
wait_for 5 curl -sf -o /dev/null "$metrics_url" || { echo "run_load: no /metrics on $metrics_url" >&2; exit 1; }
idle_rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
fd_count() { ls "/proc/$daemon/fd" 2>/dev/null | wc -l; }
fd_count >"$work/fds.idle"

start_timed wirestat wirestat.stdout wirestat.err "$build/tools/load/sipbridge-wirestat" \
	--ports "$rtp_min-$rtp_max" --peer "$caller_rtp_port" --sample "$wire_sample" \
	--duration "$((limit_s + 70))" --out "$work/wirestat.json" --in-log "$work/wire_in.log" \
	--machine-windows "$work/wakeprobe.windows"
wirestat=$(cat "$work/wirestat.pid")
# Without the capture (not root, no AF_PACKET) pacing is reported as not measured.
wait_for 5 grep -q "capturing\|AF_PACKET" "$work/wirestat.err" || true
# How late the machine wakes a sleeping thread, per CPU, beside the daemon's missed ticks. It
# ends (and writes the late wake-ups the capture reads as it ends) before the capture does.
start_timed wakeprobe wakeprobe.stdout wakeprobe.err "$build/tools/load/sipbridge-wakeprobe" \
	--duration "$((limit_s + 60))" --out "$work/wakeprobe.json" --windows "$work/wakeprobe.windows"

/usr/bin/python3 "$repo/tools/load/poll_metrics.py" --url "$metrics_url" --pid "$daemon" \
	--out "$work/samples.jsonl" --max-seconds "$((limit_s + 60))" --proc "bot=$work/bot.pid" \
	--proc "rtpsource=$work/rtpsource.pid" --proc "sipp=$work/sipp.pid" \
	--proc "capture=$work/wirestat.pid" &
poller=$!
pids+=($poller)

( cd "$work" && /usr/bin/python3 "$repo/tools/sipp/gen_audio.py" --seconds 3 audio.alaw >/dev/null )
# With the own RTP source, SIPp's scenario sends no RTP and its SDP names the source's port.
scenario="$repo/tools/load/uac_load.xml"
if [ "$rtp_gen" = own ]; then
	scenario="$work/uac_load.xml"
	sed -e '/<nop>/,/<\/nop>/d' -e "s/m=audio \[media_port\]/m=audio $source_port/" \
		"$repo/tools/load/uac_load.xml" >"$scenario"
	grep -q "m=audio $source_port" "$scenario" || { echo "run_load: cannot make the scenario" >&2; exit 1; }
	start_timed rtpsource rtpsource.stdout rtpsource.err "${run_media[@]}" "$build/tools/load/sipbridge-rtpsource" \
		--port "$source_port" --audio "$work/audio.alaw" --duration "$((limit_s + 60))" \
		--threads "$src_threads" --out "$work/rtpsource.json"
	wait_for 5 grep -q "ready" "$work/rtpsource.err" || { cat "$work/rtpsource.err" >&2; exit 1; }
	[ "$placement" = none ] || echo "rtpsource $(cpus_of "$(cat "$work/rtpsource.pid")")" >>"$work/placement.txt"
fi
if [ "$placement" = pair ]; then
	where="media thread(s) on CPU $media_cpus"
	[ "$rtp_gen" != own ] || where+=" with the callers' RTP source on ${allowed[0]}"
	where+=", ws threads and the bot on CPU $rest_cpus"
else
	where="threads placed by the scheduler"
fi
say "load: $total calls, $concurrent at once, $rate/s, $call_ms ms each, $protocol at $sample_rate Hz, $scheme, media I/O $media_io, $media_threads media and $ws_threads ws thread(s), callers' RTP from $rtp_gen$([ "$rtp_gen" = own ] && echo " on $src_threads thread(s)"), sip.t1x64_ms ${t1x64_ms:-32000}, media and ws threads ${media_sched:-?} and ${ws_sched:-?}, the bot ${bot_sched_got:-?}, $where (at most $limit_s s)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
daemon_t0=$(cpu_ticks "$daemon")
# The machine's load average before and after, so that load from other processes shows.
cat /proc/loadavg >"$work/loadavg.start"
t0=$(date +%s.%N)
# SIPp runs in the background so that a signal to this script is handled at once; its
# `timeout` passes a SIGTERM on to it. SIPp's exit status is kept without ending the subshell
# (it inherits `set -e`), so `times` records SIPp's CPU also when calls failed or the run's
# bound ended it.
(
	cd "$work" || exit 1
	timeout "$((limit_s + 30))" sipp "127.0.0.1:$sip_port" -sf "$scenario" \
		-inf "$repo/tools/sipp/calls.csv" -s +15550001 -i 127.0.0.1 -mi 127.0.0.1 \
		-mp "$media_port" -r "$rate" -l "$concurrent" -m "$total" -d "$call_ms" -nostdin \
		-timeout "$limit_s" -trace_err -error_file errors.log -trace_stat -stf stat.csv -fd 1 \
		-trace_rtt -rtt_freq 1 -trace_logs -log_file calls.log >sipp.out 2>&1 &
	echo $! >sipp.pid
	rc=0
	wait $! || rc=$?
	times >sipp.times
	exit $rc
) &
sipp_wrapper=$!
pids+=($sipp_wrapper)
# With -S, the scheduler's events from the moment every call should be up (the ramp at -r a
# second, and 2 s more), for sched_s seconds; bounded, and stopped with the rest.
if [ "$sched_s" -gt 0 ]; then
	(
		sleep "$((concurrent / rate + 2))"
		exec timeout "$((sched_s + 5))" perf record -q -k mono -e sched:sched_switch \
			-e sched:sched_wakeup -a -o "$work/sched.data" -- sleep "$sched_s"
	) >"$work/perf.out" 2>&1 &
	pids+=($!)
fi
wait_for 5 test -s "$work/sipp.pid"
pids+=("$(cat "$work/sipp.pid")")
sipp_rc=0
wait "$sipp_wrapper" || sipp_rc=$?
t1=$(date +%s.%N)

# Calls end in the daemon shortly after SIPp's last BYE; per-call counters (lost packets) are
# added then. Wait (bounded) for calls_active to reach 0 before the final scrape.
no_calls() { curl -sf --max-time 2 "$metrics_url" | grep -qx "sipbridge_calls_active 0"; }
wait_for 30 no_calls || say "run_load: calls still active 30 s after SIPp ended"
# Bot sockets close just after their calls: the descriptors are counted once they are back to
# the idle count, or after 15 s (a leak shows as a higher count).
fds_back() { [ "$(fd_count)" -le "$(cat "$work/fds.idle")" ]; }
wait_for 15 fds_back || true
fd_count >"$work/fds.end"
t2=$(date +%s.%N)
cat /proc/loadavg >"$work/loadavg.end"
daemon_t1=$(cpu_ticks "$daemon")
peak_rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon/status")
curl -sf --max-time 5 -o "$work/metrics.end" "$metrics_url" || : >"$work/metrics.end"

# Each process gets SIGTERM and, if it is still there after a bound, SIGKILL.
running() { kill -0 "$1" 2>/dev/null; }
stop_proc() { # stop_proc PID SECONDS
	kill -TERM "$1" 2>/dev/null || return 0
	wait_for "$2" eval "! running $1" || kill -KILL "$1" 2>/dev/null || true
}
stop_proc "$poller" 5
# The probe first: the capture reads the machine's late wake-ups the probe writes as it stops.
stop_proc "$(cat "$work/wakeprobe.pid")" 5
stop_proc "$wirestat" 10
if [ "$rtp_gen" = own ]; then
	stop_proc "$(cat "$work/rtpsource.pid")" 10
	wait_for 5 test -s "$work/rtpsource.times" || true
fi
wait_for 5 test -s "$work/wirestat.times" || true
stop_proc "$daemon" 20
daemon_rc=0
wait "$daemon" || daemon_rc=$?
stop_proc "$(cat "$work/bot.pid")" 10
wait_for 5 test -s "$work/bot.times" || true

# Everything has stopped: nothing is left for the exit trap to signal.
wait
pids=()
if [ -s "$work/sched.data" ]; then
	perf script -i "$work/sched.data" -F comm,tid,cpu,time,event,trace >"$work/sched.txt" 2>>"$work/perf.out" ||
		say "run_load: perf script failed (see perf.out)"
fi

/usr/bin/python3 "$repo/tools/load/report.py" --dir "$work" --json-only "$json_only" \
	--concurrent "$concurrent" --total "$total" --rate "$rate" --call-ms "$call_ms" \
	--protocol "$protocol" --media-io "$media_io" --ws-threads "$ws_threads" --media-threads "$media_threads" --tls "$tls" --rtp-gen "$rtp_gen" \
	--t1x64-ms "${t1x64_ms:-32000}" --bot-sched "${bot_sched_got:--}" --media-sched "${media_sched:--}" --ws-sched "${ws_sched:--}" --placement "$placement" \
	--sample-rate "$sample_rate" --sipp-rc "$sipp_rc" \
	--daemon-rc "$daemon_rc" --t0 "$t0" --t1 "$t1" --t2 "$t2" --hz "$(getconf CLK_TCK)" \
	--daemon-cpu-ticks "$daemon_t0" "$daemon_t1" --idle-rss-kb "$idle_rss_kb" \
	--peak-rss-kb "$peak_rss_kb" --cores "$(nproc)"
say "files: $work"
