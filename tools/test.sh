#!/usr/bin/env bash
# Every test: installs what is needed, checks formatting, builds with -Werror under
# AddressSanitizer + UBSan, runs the unit suite and the integration suite (the real daemon
# driven by SIPp and the test bot), runs the threads under ThreadSanitizer, replays the fuzz
# corpora, and ends with "N passed, N failed" over all of them.
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh test || exit 1

passed=0
failed=0
count() { # count NAME STATUS
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS: $1"
	else
		failed=$((failed + 1))
		echo "FAIL: $1"
	fi
}

# Formatting.
mapfile -t sources < <(find include src tests tools -name '*.[ch]' | sort)
clang-format --dry-run -Werror "${sources[@]}"
count clang-format $?

# A build directory with exactly these options: an existing one is reconfigured, so a
# directory left from another kind of build never stands in for this one.
setup() { # setup DIR [meson options...]
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

# Sanitized build, warnings as errors.
build=build-test
setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
	-Dbuildtype=debugoptimized || exit 1
if ! ninja -C "$build"; then
	count build 1
	echo "$passed passed, $failed failed"
	exit 1
fi
count build 0

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/tests/integration/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Unit suite: each executable prints its own "N passed, N failed".
meson test -C "$build" --suite unit --print-errorlogs
unit_status=$?
read -r up uf < <(/usr/bin/python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, re, sys
p = f = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    m = re.search(r"^(\d+) passed, (\d+) failed$", t.get("stdout", ""), re.M)
    if m:
        p += int(m.group(1)); f += int(m.group(2))
    elif t.get("result") != "OK":
        f += 1
print(p, f)
PY
)
passed=$((passed + up))
failed=$((failed + uf))
[ "$unit_status" -eq 0 ] || [ "$uf" -gt 0 ] || failed=$((failed + 1))

# pytest over tests/integration against one build; adds its counts.
integration() { # integration BUILD [pytest args...]
	local b=$1 junit status p f
	shift
	junit=$(mktemp)
	# A hung test fails after 5 minutes instead of holding the whole run; the 15 slowest are
	# named at the end, for keeping the run short as the suite grows.
	SB_BUILD_DIR=$PWD/$b /usr/bin/python3 -m pytest -v -p no:cacheprovider -p timeout \
		--timeout=300 --durations=15 --junitxml="$junit" "$@"
	status=$?
	read -r p f < <(/usr/bin/python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad + skipped)
PY
	)
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		failed=$((failed + 1))
	fi
	rm -f "$junit"
}

# Integration suite against the ASan+UBSan daemon. Two pytest workers share the files (every
# test has its own ports and RTP block); the files whose assertions measure time (latency,
# pacing, hold windows, recording alignment, RTCP intervals, the Kamailio drain window, the RTP
# source's catch-up) run afterwards on their own, so a neighbour's load cannot skew them.
timed=(tests/integration/test_jitter.py tests/integration/test_audio.py
	tests/integration/test_reinvite_media.py tests/integration/test_sip_dialog.py
	tests/integration/test_bot_control.py tests/integration/test_recording.py
	tests/integration/test_rtcp.py tests/integration/test_kamailio.py
	tests/integration/test_load_rtpsource.py)
skip_timed=()
for f in "${timed[@]}"; do
	skip_timed+=("--ignore=$f")
done
integration "$build" -n 2 --dist loadfile "${skip_timed[@]}" tests/integration
integration "$build" "${timed[@]}"

# Load tool smoke run: 20 calls against the sanitized build, the BYE transactions kept 4 s, to a
# ws:// bot and then (-t) to a wss:// one with the threads placed (-a pair). Passes when every
# call succeeded, the JSON line carries every key of the report, the placed threads are where
# the kernel says they may run, and no sanitizer spoke.
load_smoke() { # load_smoke NAME [run_load.sh args...]
	local dir status what=$1
	shift
	dir=$(mktemp -d)
	timeout 180 bash tools/load/run_load.sh -b "$build" -c 10 -n 20 -r 10 -d 2000 -T 4000 -j \
		"$@" -o "$dir/run" >"$dir/report.out" 2>&1
	status=$?
	if [ "$status" -eq 0 ]; then
		/usr/bin/python3 - "$dir/report.out" "$dir/run/load.conf" "$*" <<'PY'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
r = json.loads(line)
assert r["params"]["wss"] == ("-t" in sys.argv[3].split()), r["params"]
keys = {"params", "wall_s", "calls", "peak_concurrent", "setup_ms", "cpu", "memory", "rtp",
        "pacing_out", "latency_caller_to_bot_ms", "bridge_delay_ms", "machine_load"}
assert keys <= r.keys(), keys - r.keys()
c = r["calls"]
assert c["attempted"] == 20 and c["answered"] == 20 and c["failed"] == 0, c
assert c["sipp_exit"] == 0 and c["daemon_exit"] == 0, c
for k in ("failed_by_sip_code", "failed_by_cause", "daemon_outcomes", "daemon_rejected_by_reason"):
    assert k in c, k
for k in ("sipbridged_s_per_call_minute", "sipbridged_pct_core_per_call", "sipp_s", "testbot_s", "rtpsource_s"):
    assert k in r["cpu"], k
# The callers' RTP came from the load tool's own source, a stream for every call.
assert r["params"]["callers_rtp"] == "own" and r["cpu"]["rtpsource_streams"] >= 20, r["cpu"]
# Its socket's filter let through 1 in keep of what the bridge sent it (by sequence number: per
# stream, the count rounded either way).
rtp, streams = r["rtp"], r["cpu"]["rtpsource_streams"]
assert rtp["source_keep"] == 4, rtp
assert abs(rtp["source_received"] - rtp["out"] / 4) <= streams, (rtp, streams)
# -T reached the daemon's configuration.
assert r["params"]["sip_t1x64_ms"] == 4000, r["params"]
assert "t1x64_ms = 4000;" in open(sys.argv[2]).read()
for k in ("p50", "p99"):
    assert r["setup_ms"][k] is not None, r["setup_ms"]
assert r["peak_concurrent"]["daemon"] and r["peak_concurrent"]["sipp"], r["peak_concurrent"]
assert r["rtp"]["in"] and r["rtp"]["out"] and r["rtp"]["rx_buffer_waits"] is not None, r["rtp"]
# Every packet of the callers' calls could be sent: the source's port is on loopback.
assert r["rtp"]["send_errors"] == 0, r["rtp"]
assert r["memory"]["rss_per_call_kib"] is not None, r["memory"]
p = r["pacing_out"]
assert p is None or {"stalls", "error_p99_outside_stalls_ms", "machine_stalls",
                     "error_p99_outside_machine_stalls_ms"} <= p.keys(), p
# The capture read the probe's late wake-ups (none is a count of 0, not a missing file) when
# the probe ran at real-time priority (root); without it they are not the machine's alone.
assert p is None or (p["machine_stalls"] is not None) == bool(r["machine"]["probe_realtime"]), p
lat = r["latency_caller_to_bot_ms"]
assert lat["p50"] is not None or lat.get("note"), lat
# Every read of the bot carries the kernel's arrival stamp, over ws (lws's recv()) and wss
# (OpenSSL's read()), and the figure is taken at its socket; the bot's read is always reported.
# One unstamped read (the option refused, data before it took effect) turns the figure into
# the read, and fails this.
if lat["p50"] is not None:
    assert lat["measured_at"] == "socket", lat
    # Each call's last, partial message counted apart, the steady stream's p99 beside.
    assert 0 <= lat["last_partial_messages"] <= 20 and lat["p99_without_last_partial"] is not None, lat
    assert r["latency_caller_to_bot_read_ms"]["messages"] == lat["messages"], r
# Where the system allows SCHED_FIFO 2 (root), the daemon's media threads ran at it and its ws
# threads at 1 (threads.media_realtime and ws_realtime), and the bot at 1 (run_load.sh -B fifo);
# elsewhere the ws threads keep ordinary scheduling, not the media threads' priority.
import shutil, subprocess
pr = r["params"]
if shutil.which("chrt") and subprocess.run(["chrt", "-f", "2", "true"], capture_output=True).returncode == 0:
    assert pr["media_sched"] == "FIFO 2" and pr["ws_sched"] == "FIFO 1" and pr["bot_sched"] == "FIFO 1", pr
else:
    assert pr["ws_sched"] == "OTHER", pr
# The daemon's own share of it: one observation per media message it wrote to the bot.
bd = r["bridge_delay_ms"]
assert bd and bd["messages"] > 0 and bd["mean"] >= 0 and bd["p99_le"] is not None, bd
# The callers' source reports its own loop's lateness.
sl = r["rtpsource_loop"]
assert sl["turns"] and sl["turns_late"] is not None and sl["packets_skipped"] is not None, sl
assert sl["catch_up_ms"] and sl["catch_up_ms"] >= 20, sl
assert sl["threads"] == 2, sl  # run_load.sh's -G default
# What the daemon received of the callers is what the source sent, less what a stream goes on
# sending after its call ended: until its bridge port has been quiet for --idle-ms (200 ms), by
# the source's clock, which a late or long turn puts behind.
after = (200 + sl["turn_late_max_ms"] + sl["turn_max_ms"]) / 20 + 2
assert 0 <= sl["packets_sent"] - rtp["in"] <= after * streams, (sl, rtp)
# Watching every call (the smoke's), the capture saw each packet once: all the daemon sent
# (counted once the calls had ended, before the capture stopped), and on the way in at least
# what the daemon received, at most what the source sent (it stops after the capture).
if p and p["wire_sample"] == 1 and p["capture_drops"] == 0:
    assert rtp["wire_out"] == rtp["out"], rtp
    assert rtp["in"] <= rtp["wire_in"] <= sl["packets_sent"], (rtp, sl)
# How busy the machine was, and who ran and waited, with the calls up (when they were up for a
# whole sample interval); the daemon's threads by role.
ml = r["machine_load"]
assert ml is None or {"media", "ws", "sip"} <= ml["threads"].keys(), ml
# ... and within it the host's share (steal), from the same samples: 0 % on a machine of its
# own, and counted by every kernel this runs on.
assert ml is None or (ml["steal_pct_mean"] is not None and
                      0 <= ml["steal_pct_mean"] <= ml["steal_pct_max"] <= 100), ml
# The latency without the messages on their way while the machine's probe woke late: read
# from the probe's windows whenever the latency was measured (none late is 0 left out).
assert ml is None or lat["p50"] is None or not r["machine"]["probe_realtime"] or \
    ml["latency_messages_in_machine_stalls"] is not None, ml
# The verdict: every call succeeded and the daemon left as asked, and it says so; a run of 10
# calls at 10 a second is not judged on 2000 calls or 200 set-ups a second; the load asked for
# was 20 calls.
v = r["verdict"]["targets"]
assert v["failed_calls"]["met"] is True and v["failed_calls"]["value"] == 0, v
assert v["daemon_exit"]["met"] is True, v  # it left as asked, no crash
assert v["concurrent_calls"]["met"] is None and v["setup_rate_per_s"]["met"] is None, v
assert v["latency_p99_ms"]["target"] == "< 25 ms", v  # the default adaptive buffer: 20 ms + 5
assert r["verdict"]["load"]["calls_asked"] == 20, r["verdict"]["load"]
# The machine's own wake-up probe ran beside the calls.
m = r["machine"]
assert m["probe_wakeups"] and m["late_wakeups"] is not None and m["late_wakeup_max_ms"] is not None, m
# -a pair with more CPUs than media threads: the kernel's own word on where each placed thread
# may run, read back after placing it (taskset's lists, "0-2,5"): media thread i on the i-th
# CPU this run may use, the source on the first, the ws threads and the bot on the rest.
# Without -a, or without the CPUs, nothing is placed.
import os
def cpu_set(text):
    return {c for part in text.split(",") for a, _, b in [part.partition("-")]
            for c in range(int(a), int(b or a) + 1)}
placed, allowed = pr["placed_cpus"], sorted(os.sched_getaffinity(0))
mt = pr["media_threads"]
if "-a pair" in sys.argv[3] and mt < len(allowed):
    assert pr["placement"] == "pair", pr
    for i in range(mt):
        assert cpu_set(placed["sb-media%d" % i]) == {allowed[i]}, placed
    assert cpu_set(placed["rtpsource"]) == {allowed[0]}, placed
    ws = [v for k, v in placed.items() if k.startswith("sb-ws")]
    assert len(ws) == pr["ws_threads"], placed
    for v in ws + [placed["bot"]]:
        assert cpu_set(v) == set(allowed[mt:]), placed
else:
    assert pr["placement"] == "none" and placed is None, pr
PY
		status=$?
	fi
	if [ "$status" -eq 0 ] && grep -l -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
		-e "runtime error:" "$dir"/run/sipbridged.log "$dir"/run/bot.out "$dir"/run/wirestat.err "$dir"/run/rtpsource.err "$dir"/run/wakeprobe.err; then
		status=1
	fi
	if [ "$status" -eq 0 ]; then
		rm -rf "$dir"
	else
		tail -30 "$dir/report.out"
		echo "load smoke run files: $dir"
	fi
	count "$what" "$status"
}
load_smoke "load tool smoke run"
load_smoke "load tool smoke run over wss" -t -a pair

# ThreadSanitizer: the ring, queue and log writer unit tests, then the daemon's threads under
# real calls (media, bot control, SIP paths, DTMF both ways and transfers, bridged ones
# included, logging in JSON); of the WebSocket tests over wss, whose TLS session lives on the
# ws thread alone, one. As above, two workers share the files whose assertions do not measure
# time, and those that do run afterwards on their own.
tsan=build-tsan
if setup "$tsan" -Db_sanitize=thread -Db_lundef=false && ninja -C "$tsan"; then
	TSAN_OPTIONS=halt_on_error=1 "$tsan/tests/unit/test_ring" >/dev/null &&
		TSAN_OPTIONS=halt_on_error=1 "$tsan/tests/unit/test_mq" >/dev/null &&
		TSAN_OPTIONS=halt_on_error=1 "$tsan/tests/unit/test_log" >/dev/null &&
		TSAN_OPTIONS=halt_on_error=1 "$tsan/tests/unit/test_log_writer" >/dev/null
	count "tsan ring+mq+log" $?
	TSAN_OPTIONS=halt_on_error=0 integration "$tsan" -n 2 --dist loadfile \
		tests/integration/test_sip_misc.py tests/integration/test_dtmf.py \
		tests/integration/test_transfer.py tests/integration/test_webhook.py \
		tests/integration/test_protocols.py tests/integration/test_admin.py \
		tests/integration/test_logging.py tests/integration/test_bot_websocket.py \
		-k "not wss or upgrade_pings"
	# The recorder's write-error test runs the daemon under a file size limit of 32 KB, under
	# which ThreadSanitizer's own runtime dies of a SIGBUS: it runs in the suite above only.
	TSAN_OPTIONS=halt_on_error=0 integration "$tsan" tests/integration/test_audio.py \
		tests/integration/test_bot_control.py tests/integration/test_sip_dialog.py \
		tests/integration/test_recording.py \
		tests/integration/test_load_rtpsource.py::test_threads_split_the_streams_each_whole_from_the_one_port \
		--deselect tests/integration/test_recording.py::test_write_error_leaves_a_valid_file
else
	count "tsan build" 1
fi

# Fuzz targets (clang libFuzzer): replay every corpus, seeds and kept reproducers, once.
fuzz=build-fuzz
if CC=clang setup "$fuzz" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false &&
	ninja -C "$fuzz" >/dev/null; then
	for t in bot_proto json_media sdp_neg rtp config sip media ws; do
		corpora=("tests/fuzz/corpora/$t")
		# The SIP harness also replays the RFC 4475 torture messages.
		[ "$t" = sip ] && corpora+=(tests/integration/data/rfc4475)
		LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp UBSAN_OPTIONS=halt_on_error=1 \
			timeout 300 "$fuzz/tests/fuzz/fuzz_$t" -runs=0 -rss_limit_mb=2048 \
			"${corpora[@]}" >"$fuzz/replay-$t.log" 2>&1
		status=$?
		# An empty or missing corpus would replay nothing and pass.
		n=$(find "${corpora[@]}" -type f | wc -l)
		if [ "$status" -eq 0 ] && [ "$n" -eq 0 ]; then
			echo "fuzz corpus $t is empty"
			status=1
		fi
		[ "$status" -eq 0 ] || tail -20 "$fuzz/replay-$t.log"
		count "fuzz corpus $t" "$status"
	done
else
	count "fuzz build" 1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
