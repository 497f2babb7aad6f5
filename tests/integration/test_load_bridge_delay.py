"""The load tool's reading of the daemon's caller → bot delay histogram (tools/load/report.py
histogram, from the final /metrics scrape): made-up expositions whose quantiles are known."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "load"))

import report  # noqa: E402

NAME = "caller_to_bot_delay_seconds"


def scrape(d, buckets, count, total):
    """metrics.end with the histogram: buckets as (bound, cumulative count), then +Inf."""
    lines = ["# TYPE sipbridge_%s histogram" % NAME]
    lines += ['sipbridge_%s_bucket{le="%g"} %d' % (NAME, b, c) for b, c in buckets]
    lines += ['sipbridge_%s_bucket{le="+Inf"} %d' % (NAME, count),
              "sipbridge_%s_sum %g" % (NAME, total), "sipbridge_%s_count %d" % (NAME, count),
              'sipbridge_queue_drops_total{direction="to_bot"} 0']
    with open(os.path.join(d, "metrics.end"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return report.histogram(report.prom(d), NAME)


def test_quantiles_are_the_bucket_bounds_that_hold_them(tmp_path):
    h = scrape(str(tmp_path), [(0.001, 10), (0.0025, 60), (0.005, 98), (0.01, 99), (0.025, 100)], 100, 0.25)
    assert h == {"messages": 100, "mean": 2.5, "p50_le": 2.5, "p99_le": 10.0}, h


def test_past_the_last_bound_is_no_bound(tmp_path):
    # 3 of 100 observations over 2.5 s: p99 is under no bound the histogram has
    h = scrape(str(tmp_path), [(0.001, 50), (2.5, 97)], 100, 20.0)
    assert h["p50_le"] == 1.0 and h["p99_le"] is None and h["mean"] == 200.0, h


def test_no_observations_no_figure(tmp_path):
    assert scrape(str(tmp_path), [(0.001, 0)], 0, 0) is None
    os.remove(os.path.join(str(tmp_path), "metrics.end"))
    assert report.histogram(report.prom(str(tmp_path)), NAME) is None
