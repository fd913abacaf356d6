"""The benchmark harness's arithmetic and outputs (benchmarks/bench.py, bench_report.py).

The harness itself needs the stack and minutes of load; what it computes from its samples
(sustained rates, percentiles, CPU per page, the targets' ratios) and the files it writes are
checked here on a small made-up run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from newsflow.settings import PROJECT_ROOT, ElasticSettings, Settings

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import bench
import bench_report
from bench_stream import Sample, services_status


def _sample(t: float, searchable: int, cpu: float) -> Sample:
    return Sample(
        t=t,
        raw_end=100,
        clean_committed=min(100, int(10 * t)),
        clean_end=searchable,
        index_committed=searchable,
        dead_letters=0,
        searchable=searchable,
        rss_kb={},
        cpu_s={"clean-0-stage": cpu, "kafka": cpu / 4},
    )


def test_sustained_rate_is_the_slope_between_10_and_90_percent_of_the_rise() -> None:
    # Idle for 5 s, then 10 articles/s for 10 s, then idle: the idle ends do not dilute it.
    samples = [_sample(t / 2, max(0, min(100, int(10 * (t / 2 - 5)))), 0.0) for t in range(40)]
    assert bench.sustained(samples, "searchable", 0.0, 20.0) == pytest.approx(10.0, rel=0.05)
    assert bench.sustained(samples[:3], "searchable", 0.0, 1.0) == 0.0


def test_percentiles_and_cpu_per_page() -> None:
    assert bench.percentile([0.1 * i for i in range(1, 101)], 0.99) == pytest.approx(10.0)
    samples = [_sample(0.0, 0, 10.0), _sample(5.0, 50, 12.0), _sample(10.0, 100, 15.0)]
    cpu = bench.cpu_per_page(samples, 0.0, 10.0, 100)
    assert cpu["clean-0-stage"] == pytest.approx(50.0)  # 5 CPU seconds over 100 pages
    assert cpu["kafka"] == pytest.approx(12.5)
    assert cpu["total"] == pytest.approx(62.5)


def _report() -> dict[str, Any]:
    timeline = [asdict(_sample(t / 2, min(100, 5 * t), t / 4)) for t in range(30)]

    def run(workers: int, rate: float) -> dict[str, Any]:
        return {
            "kind": "html",
            "clean_workers": workers,
            "pages": 100,
            "sent": 100,
            "dead_letters": 3,
            "end_to_end_per_s": rate,
            "produce_per_s": 300.0,
            "clean_per_s": rate,
            "index_per_s": rate,
            "searchable_per_s": rate,
            "load1_start": 2.0,
            "load1_end": 2.5,
            "window": [0.0, 14.5],
            "timeline": timeline,
            "rss_mb": {f"clean-{n}": {"worker": 120, "stage": 380 + n * 30} for n in range(workers)}
            | {"index-0": {"worker": 150, "stage": 0}},
            "services_rss_mb": {"kafka": 500, "elasticsearch": 1100},
        }

    rates = [("trafilatura", 1, 20.0), ("trafilatura", 2, 40.0), ("rs_trafilatura", 2, 80.0)]
    extractors = [
        {"extractor": e, "processes": p, "pages": 100, "pages_per_s": r, "load1": 2.0}
        for e, p, r in rates
    ]
    p2 = run(2, 30.0)
    p2["paced"] = {
        "rate_per_s": 15.0,
        "sent": 300,
        "searchable": 300,
        "p50_s": 0.8,
        "p95_s": 1.4,
        "p99_s": 1.9,
        "max_s": 2.2,
        "latencies_s": [0.5 + i / 200 for i in range(300)],
    }
    return {
        "mode": "quick",
        "command": "python benchmarks/bench.py --quick",
        "started": "2026-11-30 12:00:00",
        "seconds": 170.0,
        "cpus": 2,
        "uptime_start": "12:00 up 1 day, load average: 2.0, 2.1, 2.2",
        "uptime_end": "12:03 up 1 day, load average: 2.5, 2.1, 2.2",
        "per_page": {
            "trafilatura": {"n": 10, "median_ms": 40.0, "mean_ms": 50.0},
            "html_clean_tag": {"mean_ms": 60.0},
        },
        "extractors_before": extractors[:2],
        "extractors_after": [{**extractors[1], "pages_per_s": 44.0}, extractors[2]],
        "pipeline_1": run(1, 18.0),
        "pipeline_2": p2,
        "index": {
            "docs": 1000,
            "warmup": {"docs": 1000, "docs_per_s": 700.0, "load1": 2.0},
            "rounds": {
                "ours": [{"docs": 1000, "docs_per_s": 950.0, "load1": 2.0}],
                "bulk": [{"docs": 1000, "docs_per_s": 1000.0, "load1": 2.0}],
                "quix": [{"docs": 1000, "error": "exited with code 1", "load1": 2.0}],
            },
        },
    }


def test_targets_are_ratios_within_the_run() -> None:
    report = _report()
    summary = bench_report.summary(report)
    targets = {t["what"]: t for t in summary["targets"]}
    e2e = targets["end to end HTML, 2 clean + 1 index / bare trafilatura x2"]
    assert e2e["measured"] == pytest.approx(30.0 / 42.0, abs=1e-3)  # mean of before and after
    assert e2e["met"] is True
    assert targets["index stage / raw helpers.bulk"]["measured"] == pytest.approx(0.95)
    assert targets["index stage / Quix Streams ES sink"]["met"] is None  # quix failed: n/a
    assert targets["2 clean workers / 1 (end to end)"]["met"] is True
    assert targets["largest stage child (MB RSS)"]["measured"] == 410
    assert targets["largest stage child (MB RSS)"]["met"] is False
    assert summary["memory"]["total_mb"] == 120 * 2 + 380 + 410 + 150 + 500 + 1100
    assert targets["clean + tag per page / bare trafilatura (HTML)"]["measured"] == 1.2


def test_two_workers_against_one_use_both_one_worker_runs() -> None:
    report = _report()
    report["pipeline_1_again"] = _report()["pipeline_1"] | {"end_to_end_per_s": 22.0}
    summary = bench_report.summary(report)
    targets = {t["what"]: t for t in summary["targets"]}
    two_vs_one = targets["2 clean workers / 1 (end to end)"]
    assert two_vs_one["measured"] == pytest.approx(30.0 / 20.0, abs=1e-3)  # (18 + 22) / 2
    assert two_vs_one["met"] is False
    assert summary["rates"]["pipeline_1_clean"] == 20.0
    assert "1 clean + 1 index (again, after the 2-worker run): end to end" in (
        bench_report.markdown(report | {"summary": summary})
    )


def test_a_target_is_judged_on_the_unrounded_ratio() -> None:
    # 27.96 / 17.48 = 1.59954: three decimals would make it 1.6 and meet ">= 1.6".
    report = _report()
    report["pipeline_2"] = report["pipeline_2"] | {"end_to_end_per_s": 27.96}
    report["pipeline_1"] = report["pipeline_1"] | {"end_to_end_per_s": 17.48}
    summary = bench_report.summary(report)
    two_vs_one = {t["what"]: t for t in summary["targets"]}["2 clean workers / 1 (end to end)"]
    assert two_vs_one["met"] is False
    assert two_vs_one["measured"] == pytest.approx(1.59954, abs=1e-5)
    table = bench_report.markdown(report | {"summary": summary})
    assert "| 2 clean workers / 1 (end to end) | 1.5995 | >= 1.6 | **no** |" in table


def test_the_limits_of_the_cpu_targets_come_from_the_run_s_cpu_a_page() -> None:
    report = _report()
    report["per_page"] |= {
        "trafilatura": {"n": 10, "median_ms": 40.0, "mean_ms": 50.0, "mean_cpu_ms": 40.0},
        "html_floor": {"mean_ms": 48.0, "mean_cpu_ms": 42.0},
        "html_floor_extract": {"mean_ms": 30.0, "mean_cpu_ms": 30.0},
        "html_tag": {"mean_ms": 20.0, "mean_cpu_ms": 22.0},
    }
    # The 2-worker burst: stage children 30 + 30 ms a page, everything else 15.
    report["pipeline_2"]["cpu_ms_per_page"] = {
        "clean-0-stage": 30.0,
        "clean-1-stage": 30.0,
        "kafka": 6.0,
        "elasticsearch": 9.0,
        "total": 75.0,
    }
    # The lone worker: 18 pages/s at 50 ms of its child's CPU each, its core 90 % busy.
    report["pipeline_1"]["cpu_ms_per_page"] = {"clean-0-stage": 50.0, "total": 65.0}
    summary = bench_report.summary(report)
    lim = summary["limits"]
    assert lim["floor_vs_trafilatura"] == pytest.approx(42.0 / 40.0, abs=1e-3)
    # trafilatura's pass (30) and the whole tagger (22), no cleaning rule of ours.
    assert lim["rules_free_vs_trafilatura"] == pytest.approx(52.0 / 40.0, abs=1e-3)
    assert (lim["stage_cpu_ms"], lim["other_cpu_ms"]) == (60.0, 15.0)
    assert lim["lone_stage_cpu_ms"] == 50.0
    # One worker cleans a page per 50 ms of its core (C1), two share both cores with the
    # rest: 2 * C1 / (C + O), not 2 * C / (C + O), which took the burst's CPU a page for the
    # lone worker's.
    assert lim["two_workers_bound"] == pytest.approx(2 * 50 / 75, abs=1e-3)
    # At the target the burst's stage costs bare trafilatura's 40 ms, and alone 50/60 of it.
    assert lim["two_workers_bound_at_target"] == pytest.approx(2 * 40 * (50 / 60) / 55, abs=1e-3)
    assert lim["lone_worker_busy"] == pytest.approx(0.9)
    assert lim["end_to_end_bound_at_floor"] == pytest.approx(40 / 57, abs=1e-3)
    # _report's bare trafilatura: 20 pages/s in one process, 40 and 44 in two.
    assert lim["extractor_two_process_scaling"] == pytest.approx(42.0 / 20.0, abs=1e-3)
    text = bench_report.markdown(report | {"summary": summary})
    assert "clean + tag / trafilatura cannot come under 1.05" in text
    assert "- clean + tag / trafilatura = 1.3 with every cleaning rule beyond" in text
    assert "2 clean workers / 1 at most 2·C1/(C+O) = 1.33 " in text
    assert "C1, the lone worker's child: 50 ms" in text
    assert "- bare trafilatura x2 / x1 = 2.1: what the two cores gave" in text


def test_a_report_without_cpu_samples_states_no_limits() -> None:
    summary = bench_report.summary(_report())
    assert summary["limits"]["two_workers_bound"] is None
    assert "What bounds the CPU targets" not in bench_report.markdown(
        _report() | {"summary": summary}
    )


def test_the_warm_up_is_reported_and_counts_for_no_target() -> None:
    report = _report()
    plain = bench_report.summary(report)
    report["warmup"] = {"pages": 400, "end_to_end_per_s": 9.0, "seconds": 44.4}
    summary = bench_report.summary(report)
    assert summary == plain
    text = bench_report.markdown(report | {"summary": summary})
    assert (
        "  \nwarm-up (not counted): 400 HTML pages through 2 clean + 1 index workers first, "
        "9.0 articles/s\n" in text
    )
    assert "warm-up" not in bench_report.markdown(_report() | {"summary": plain})


def test_a_quick_report_says_its_ratios_are_rough() -> None:
    report = _report()
    report["summary"] = bench_report.summary(report)
    assert "Quick mode: each pipeline run lasts a few seconds" in bench_report.markdown(report)
    full = report | {"mode": "full"}
    assert "Quick mode" not in bench_report.markdown(full)


def test_report_files(tmp_path: Path) -> None:
    report = _report()
    report["summary"] = bench_report.summary(report)
    paths = bench_report.write(report, tmp_path)
    assert json.loads(paths[0].read_text())["summary"] == report["summary"]
    table = paths[1].read_text()
    assert "| index stage / raw helpers.bulk | 0.95 | >= 0.9 | yes |" in table
    # The untimed bulk before the rounds is shown, and not in the ratio (950 / 1000, not 700).
    assert "| raw helpers.bulk before the rounds, untimed (1000 docs) | 700.0 | 2.0 |" in table
    assert "| largest stage child (MB RSS) | 410 | <= 400 | **no** |" in table
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_names_the_producers_compression() -> None:
    # Runs with and without compression on produce are not comparable; older reports did not
    # record it and say nothing.
    report = _report()
    report["summary"] = bench_report.summary(report)
    assert "compress" not in bench_report.markdown(report).splitlines()[0]
    first = bench_report.markdown(report | {"kafka_compression": "zstd"}).splitlines()[0]
    assert "CPUs shared with the stack; producers compress with zstd)" in first


def test_a_baseline_that_exits_is_reported_with_the_error_its_client_gave() -> None:
    import bench_index

    log = (
        "starting the sink\n"
        "Traceback (most recent call last):\n"
        '  File "sink.py", line 102, in setup\n'
        "    self._client.info()\n"
        "elasticsearch.ApiError: ApiError(405, 'Incorrect HTTP method for uri [/]')\n"
    )
    assert bench_index.last_error_line(log) == (
        "elasticsearch.ApiError: ApiError(405, 'Incorrect HTTP method for uri [/]')"
    )
    assert bench_index.last_error_line("all fine\nsink stopped\n") is None


def test_the_report_names_the_services_without_their_logins() -> None:
    """report.json (committed under benchmarks/results/) held NEWSFLOW_ES_URL as it was set,
    a password in it included (security review)."""
    settings = Settings(es=ElasticSettings(url="http://elastic:BenchSecret-1f3a@127.0.0.1:9"))
    stack = services_status(settings)
    assert stack["es_url"] == "http://elastic:***@127.0.0.1:9"
    assert "BenchSecret" not in json.dumps(stack)


def test_the_quix_app_gets_elasticsearch_s_url_by_environment_not_command_line() -> None:
    """Every local user can read a command line; the URL may hold a password."""
    import bench_index
    from bench_stream import Run

    settings = Settings(es=ElasticSettings(url="http://elastic:BenchSecret-2c4d@127.0.0.1:9"))
    command = bench_index.quix_command(settings, "bench.topic", probe=False)
    assert "BenchSecret" not in " ".join(command)
    assert command[1].endswith("quix_es_sink.py") and "--no-info-probe" in command
    assert "--es-url" not in command
    # The environment Run.start hands the app carries it instead.
    env = Run(settings, Path("unused")).env()
    assert env["NEWSFLOW_ES_URL"] == "http://elastic:BenchSecret-2c4d@127.0.0.1:9"


def test_a_bursts_end_is_when_the_count_was_first_seen_at_its_final_value() -> None:
    from bench_stream import CountWatcher

    counts = CountWatcher(Settings(), origin=0.0)  # not started: no request is made
    for t, n in [(0.1, 8), (0.2, 8), (1.3, 40), (1.4, 40), (2.35, 801), (2.45, 801)]:
        counts.record(t, n)
    # Only changes are kept; the end is the first time the final count was seen.
    assert counts.changes == [(0.1, 8), (1.3, 40), (2.35, 801)]
    assert counts.first_at_least(801) == 2.35 and counts.first_at_least(9) == 1.3
    assert counts.first_at_least(802) is None
