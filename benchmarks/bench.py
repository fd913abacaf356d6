"""Throughput, latency and memory of the whole pipeline, next to its baselines, in one run.

On the real local stack (`newsflow stack up`, or the one NEWSFLOW_* points at), co-located on
this machine's cores, replaying ../shared/corpus pages:

0. (before anything is timed) a warm-up burst through the pipeline: Kafka and Elasticsearch
   are JVMs that compile their hot paths during their first minutes of traffic, and the
   first pipeline run on a freshly started stack was 20-40 % slower than the next ones (13.1
   and 16.4 against 20.6-21.6 articles/s, same command); it is reported, not counted;
1. per page, in one process, interleaved page by page: bare ``trafilatura.extract``, bare
   ``rs_trafilatura.extract(html, page_type="article")``, our clean stage alone, our tagger
   alone (HTML and whole-page text);
2. bare trafilatura and bare rs-trafilatura in 1 and 2 processes (pages/s), once before and
   once after the pipeline runs (the machine is shared: ratios use the same run's numbers);
3. the pipeline, HTML, with 1, then 2, then 1 clean worker again (the 2 / 1 ratio takes the
   mean of both 1-worker runs) and 1 index worker (real
   `newsflow consume` processes on fresh topics): sustained articles/s per stage (produce,
   clean, index, searchable) and end to end, consumer lag over time, peak RSS of every
   worker (its process and its stage child), Kafka and Elasticsearch;
4. produce -> searchable latency (p50/p95/p99) paced at half the measured end-to-end rate;
5. (full mode) the same with whole-page text;
6. the index stage against raw ``elasticsearch.helpers.bulk`` and a Quix Streams application
   with its Elasticsearch sink, on the same finished documents (benchmarks/bench_index.py).

    .venv/bin/python benchmarks/bench.py --quick      # under 3 minutes
    .venv/bin/python benchmarks/bench.py              # full: several minutes of load each

Writes report.json, report.md and report.png to --out (default benchmarks/results/<mode>/).
Prints its progress; it is a measurement, not a test: nothing fails on a slow run (exit 1 only
if a run stalled or failed).
"""

# ruff: noqa: E402  (thread limits must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bench_baselines
import bench_index
import bench_report
from bench_stream import (
    CountWatcher,
    Run,
    Sample,
    Sampler,
    Watcher,
    load1,
    load_pages,
    publish,
    record_times,
    replay,
    run_settings,
    services_status,
)

from newsflow import stack as local_stack
from newsflow.settings import PROJECT_ROOT, Settings


@dataclass(frozen=True)
class Plan:
    """How much of everything one mode does."""

    mode: str
    pages: int  # HTML pages per pipeline run (and for the extractor baselines)
    text_pages: int  # whole-page text pages for the text pipeline run (0: none)
    per_page_html: int
    per_page_text: int
    paced_seconds: float
    index_docs: int
    index_rounds: int
    warmup_pages: int  # HTML pages of the untimed warm-up burst (0: none)


QUICK = Plan("quick", 60, 0, 20, 10, 12.0, 1000, 1, 100)
# The full mode's pipeline runs take every HTML page of wcxb-dev once (793: no page twice, so
# no memo of the tagger is warmer than a stream of new articles would leave it), most of a
# minute of sustained load for each run. Bursts of 400 pages lasted 16-26 s, and a few
# seconds of each went to edges a stream does not have: the producer's own burst competing
# for the cores at the start, and at the end the one clean worker whose partitions held more
# of the work finishing alone (2026-12-04 17:30: one stage child stopped 2 s before the
# other; end to end 24.2 articles/s while the clean and searchable counters rose at 30.9
# between their 10 % and 90 %). The bare extractors take the same pages. Not fundus-news-dev's:
# on one of them (uk-TheMirror_2024_08_05) rs-trafilatura takes 30-80 s, which would be most
# of its baseline's time. Four rounds of the index contenders (order reversed every other
# round): each round is ~7 s, and with two, one contender's rounds were seen 20 % apart on
# this shared machine.
FULL = Plan("full", 793, 793, 100, 50, 60.0, 3000, 4, 400)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {load1()}] {message}", flush=True)


class Stalled(RuntimeError):
    """The pipeline stopped making progress while work was left."""


def wait_until(sampler: Sampler, done: Callable[[Sample], bool], stall: float = 180.0) -> None:
    """Waits until ``done`` holds for the latest sample; Stalled if nothing moves for long."""
    last_change, previous = time.monotonic(), None
    while True:
        sample = sampler.latest()
        if sample is not None:
            if done(sample):
                return
            progress = (sample.clean_committed, sample.index_committed, sample.searchable)
            if progress != previous:
                previous, last_change = progress, time.monotonic()
        if time.monotonic() - last_change > stall:
            raise Stalled(f"no progress for {stall:g} s: {sample}")
        for w in sampler.run_.workers:
            if w.proc.poll() is not None:
                raise Stalled(f"worker {w.name} exited with code {w.proc.returncode}")
        time.sleep(0.2)


def drained(expected_raw: int) -> Callable[[Sample], bool]:
    """Every raw message published, cleaned (or dead-lettered) and indexed, all committed."""

    def check(s: Sample) -> bool:
        return (
            s.raw_end >= expected_raw
            and s.clean_committed >= s.raw_end
            and s.index_committed >= s.clean_end
        )

    return check


def sustained(samples: list[Sample], attr: str, t0: float, t1: float) -> float:
    """A counter's rate between the moments it passed 10% and 90% of its rise in [t0, t1]."""
    window = [s for s in samples if t0 <= s.t <= t1]
    if len(window) < 2:
        return 0.0
    low, high = getattr(window[0], attr), getattr(window[-1], attr)
    if high <= low:
        return 0.0
    a = next(s for s in window if getattr(s, attr) >= low + 0.1 * (high - low))
    b = next(s for s in window if getattr(s, attr) >= low + 0.9 * (high - low))
    if b.t <= a.t:
        return 0.0
    return float(getattr(b, attr) - getattr(a, attr)) / (b.t - a.t)


def cpu_per_page(samples: list[Sample], t0: float, t1: float, pages: int) -> dict[str, float]:
    """CPU milliseconds each process spent per page of the burst (where the cores went)."""
    window = [s for s in samples if t0 <= s.t <= t1]
    if len(window) < 2 or not pages:
        return {}
    first, last = window[0].cpu_s, window[-1].cpu_s
    used = {k: 1000 * (last[k] - first.get(k, 0.0)) / pages for k in last}
    used["total"] = sum(used.values())
    used["wall_ms_x_cores"] = 1000 * (window[-1].t - window[0].t) * (os.cpu_count() or 1) / pages
    return {k: round(v, 1) for k, v in used.items()}


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` busy-loop processes beside the pipeline, as on a busy production host (the
    streaming spine's stall needed one to show)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for h in hogs:
            h.kill()
        for h in hogs:
            h.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Profiles:
    """py-spy attached to every worker process (and stage child) while a burst runs."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def attach(self, run: Run, tag: str) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        py_spy = str(Path(sys.executable).with_name("py-spy"))
        targets = []
        for w in run.workers:
            targets.append((w.name, w.proc.pid))
            targets += [(f"{w.name}-stage", c) for c in w.kids()]
        for name, pid in targets:
            raw = self.out / f"{tag}-{name}.txt"
            cmd = [py_spy, "record", "--pid", str(pid), "--rate", "50", "--format", "raw"]
            cmd += ["--output", str(raw), "--nonblocking"]
            self.procs.append(
                (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), raw)
            )

    def profile_producer(self, tag: str, send: Callable[[], dict[str, float]]) -> dict[str, float]:
        """Runs ``send`` (the burst's publish) under pyinstrument; its text report beside."""
        from pyinstrument import Profiler

        assert self.out is not None
        with Profiler(interval=0.002) as profiler:
            sent = send()
        (self.out / f"{tag}-producer.txt").write_text(profiler.output_text(show_all=False))
        return sent

    def detach(self) -> None:
        for proc, _ in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc, raw in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            if raw.exists():
                bench_report.summarize_profile(raw)
        self.procs = []


def pipeline(
    base: Settings,
    kind: str,
    pages: list[bytes],
    clean_workers: int,
    logs: Path,
    paced_seconds: float = 0.0,
    profiles: Profiles | None = None,
    rate_fraction: float = 0.5,
    keep_clean: bool = False,
) -> dict[str, Any]:
    """One pipeline measurement: a burst of ``pages``, then optionally a paced phase.

    The paced phase publishes at ``rate_fraction`` of the burst's end-to-end rate. With
    ``keep_clean`` the run's clean topic is left in place (its name is in the result) for
    the index-stage comparison.
    """
    settings = run_settings(base, f"e2e{clean_workers}{kind}")
    run = Run(settings, logs)
    es = run.prepare()
    origin = time.monotonic()
    wall_offset = time.time() - origin  # monotonic -> unix time (Kafka's timestamps)
    for n in range(clean_workers):
        run.start("clean", n)
    run.start("index", 0)
    sampler = Sampler(run, origin)
    sampler.start()
    result: dict[str, Any] = {"kind": kind, "clean_workers": clean_workers, "pages": len(pages)}
    counts: CountWatcher | None = None
    try:
        warm = publish(settings, pages[: 4 * clean_workers], kind, "warm-")
        wait_until(sampler, drained(len(warm)))
        result["ready_s"] = round(time.monotonic() - origin, 1)
        # Past the 1 s refresh and the next 1 s sample, so every warm-up page is in ``before``
        # below (they were counted in the burst's "searchable", 301-304 of 300, when not).
        time.sleep(2.5)
        log(f"{kind}, {clean_workers} clean worker(s): burst of {len(pages)} pages")
        result["load1_start"] = load1()
        if profiles is not None:
            profiles.attach(run, f"{kind}{clean_workers}")
        before = sampler.samples[-1].searchable
        counts = CountWatcher(settings, origin)
        counts.start()
        t0 = time.monotonic() - origin
        if profiles is not None and profiles.out is not None:
            sent = profiles.profile_producer(
                f"{kind}{clean_workers}", lambda: publish(settings, pages, kind, "burst-")
            )
        else:
            sent = publish(settings, pages, kind, "burst-")
        t_pub = time.monotonic() - origin
        wait_until(sampler, drained(len(warm) + len(sent)))
        t_drained = time.monotonic() - origin
        if profiles is not None:
            profiles.detach()
        time.sleep(2.5)  # past Elasticsearch's 1 s refresh: the final count is searchable
        final = sampler.samples[-1].searchable
        counts.close()
        t_sampled = next(s.t for s in sampler.samples if s.t >= t0 and s.searchable >= final)
        t_done = counts.first_at_least(final) or t_sampled
        result["count_watch"] = {"errors": counts.errors, "changes": len(counts.changes)}
        result["load1_end"] = load1()
        window = (t0, t_drained)
        result.update(
            sent=len(sent),
            searchable=final - before,
            dead_letters=sampler.samples[-1].dead_letters,
            seconds=round(t_done - t0, 2),
            # The end as the once-a-second samples saw it (what end to end used until
            # 2026-12-04 23:20; CountWatcher says why it moved).
            seconds_sampled=round(t_sampled - t0, 2),
            produce_per_s=round(len(sent) / max(t_pub - t0, 1e-9), 1),
            clean_per_s=round(sustained(sampler.samples, "clean_committed", *window), 2),
            index_per_s=round(sustained(sampler.samples, "index_committed", *window), 2),
            searchable_per_s=round(sustained(sampler.samples, "searchable", *window), 2),
            end_to_end_per_s=round(len(sent) / max(t_done - t0, 1e-9), 2),
            window=[round(t0, 2), round(t_done, 2)],
        )
        result["cpu_ms_per_page"] = cpu_per_page(sampler.samples, t0, t_drained, len(sent))
        if paced_seconds:
            rate = max(0.5, rate_fraction * result["end_to_end_per_s"])
            paced_pages = replay(pages, max(10, int(rate * paced_seconds)))
            log(f"paced: {len(paced_pages)} pages at {rate:.2f}/s ({rate_fraction:g} of the burst)")
            watcher = Watcher(settings, "paced-")
            watcher.start()
            t_p = time.monotonic() - origin
            sent_at = publish(settings, paced_pages, kind, "paced-", rate=rate)
            wait_until(sampler, drained(len(warm) + len(sent) + len(sent_at)))
            time.sleep(2.5)
            watcher.close()
            latency = [watcher.seen[i] - t for i, t in sent_at.items() if i in watcher.seen]
            # Where the time went: produce -> on the clean topic (queueing and the clean
            # stage), then -> searchable (the index batch, the bulk, the refresh).
            cleaned_at = record_times(settings, settings.topics.clean)
            to_clean = [
                cleaned_at[i] - (t + wall_offset)
                for i, t in sent_at.items()
                if i in watcher.seen and i in cleaned_at
            ]
            to_search = [
                watcher.seen[i] + wall_offset - cleaned_at[i]
                for i in sent_at
                if i in watcher.seen and i in cleaned_at
            ]
            result["paced"] = {
                "rate_per_s": round(rate, 2),
                "sent": len(sent_at),
                "searchable": len(latency),
                "p50_s": round(percentile(latency, 0.50), 3),
                "p95_s": round(percentile(latency, 0.95), 3),
                "p99_s": round(percentile(latency, 0.99), 3),
                "max_s": round(max(latency), 3) if latency else None,
                "latencies_s": [round(x, 3) for x in sorted(latency)],
                "to_clean_topic_p50_p99_s": [
                    round(percentile(to_clean, 0.5), 3),
                    round(percentile(to_clean, 0.99), 3),
                ],
                "clean_topic_to_searchable_p50_p99_s": [
                    round(percentile(to_search, 0.5), 3),
                    round(percentile(to_search, 0.99), 3),
                ],
                "window": [round(t_p, 2), round(time.monotonic() - origin, 2)],
            }
    except Stalled as exc:
        result["error"] = f"stalled: {exc} (worker logs in {logs})"
        log(result["error"])
    finally:
        if profiles is not None:
            profiles.detach()
        exits = run.stop()
        sampler.close()
        if counts is not None and counts.is_alive():
            counts.close()
        result["exit_codes"] = exits
        result["rss_mb"] = {
            w.name: {
                "worker": round(w.peak_parent_kb / 1024),
                "stage": round(w.peak_child_kb / 1024),
            }
            for w in run.workers
        }
        result["services_rss_mb"] = {k: round(v / 1024) for k, v in sampler.service_peak_kb.items()}
        result["timeline"] = [asdict(s) for s in sampler.samples]
        run.cleanup(es, keep={settings.topics.clean} if keep_clean else set())
        result["clean_topic"] = settings.topics.clean
        es.close()
    return result


def pipeline_once_more(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """``pipeline``, started again once if its workers never got going (the stall is kept).

    Seen once in about ten starts here: an index worker whose first assignment came before
    the new topic's metadata never got its partitions and spun without exiting (a spine bug,
    reported; kafka-python 3.0.12). The report keeps the first attempt's error.
    """
    result = pipeline(*args, **kwargs)
    if "error" in result and "ready_s" not in result:
        log(f"workers never became ready; starting the run again ({result['error'][:200]})")
        first = result
        result = pipeline(*args, **kwargs)
        result["first_attempt_error"] = first["error"]
    return result


def warm_up(base: Settings, pages: list[bytes], logs: Path) -> dict[str, Any]:
    """An untimed burst of ``pages`` through 2 clean workers and 1 index worker.

    The JVMs of Kafka and Elasticsearch compile their hot paths during their first minutes of
    traffic; on a freshly started stack the first pipeline run was 20-40 % slower than the
    next ones. Returns the burst's numbers, which are reported as the warm-up's, not used.
    """
    log(f"warm-up: {len(pages)} pages through the pipeline (not counted)")
    result = pipeline_once_more(base, "html", pages, 2, logs)
    brief = {k: result.get(k) for k in ("pages", "end_to_end_per_s", "seconds", "error")}
    return {k: v for k, v in brief.items() if v is not None}


def extractor_round(pages: list[str], order: list[tuple[str, int]]) -> list[dict[str, Any]]:
    out = []
    for kind, processes in order:
        out.append(bench_baselines.extract_rate(kind, pages, processes))
        log(f"bare {kind} x{processes}: {out[-1]['pages_per_s']} pages/s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 3 minutes")
    parser.add_argument("--out", type=Path, default=None, help="where the reports go")
    parser.add_argument("--logs", type=Path, default=None, help="keep worker logs here")
    parser.add_argument("--no-quix", action="store_true", help="leave the Quix Streams app out")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy profiles go here")
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-loop processes beside the pipeline"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed warm-up burst (the stack's JVMs are warm already)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    out = args.out or PROJECT_ROOT / "benchmarks" / "results" / plan.mode
    logs = args.logs or Path(f"/tmp/newsflow-bench-{os.getpid()}")
    base = Settings()
    local_stack.ensure_up(base)
    html = load_pages("html", plan.pages)
    html_pages = replay(html, plan.pages)
    html_str = [p.decode("utf-8", "replace") for p in html_pages]
    report: dict[str, Any] = {
        "mode": plan.mode,
        "command": " ".join(["python", "benchmarks/bench.py", *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "uptime_start": _uptime(),
        "stack": services_status(base),
        "busy_loops": args.busy,
        # Runs with other producer settings are not comparable (docs/benchmarks.md).
        "kafka_compression": base.kafka.compression,
    }
    started = time.monotonic()
    with busy_loops(args.busy):
        if plan.warmup_pages and not args.no_warmup:
            report["warmup"] = warm_up(base, replay(html, plan.warmup_pages), logs)
        log("per page: bare extractors, clean stage, tagger")
        text = load_pages("text", plan.per_page_text)
        report["per_page"] = bench_baselines.per_page(html_pages[: plan.per_page_html], text)
        log(f"per page: {_brief(report['per_page'])}")
        orders = [("trafilatura", 1), ("rs_trafilatura", 1)]
        orders += [("trafilatura", 2), ("rs_trafilatura", 2)]
        report["extractors_before"] = extractor_round(html_str, orders)
        profiles = Profiles(args.profile)
        report["pipeline_1"] = pipeline_once_more(base, "html", html_pages, 1, logs)
        report["pipeline_2"] = pipeline_once_more(
            base, "html", html_pages, 2, logs, plan.paced_seconds, profiles, keep_clean=True
        )
        # The 1-worker run again, so that it brackets the 2-worker one: 2 / 1 is a ratio of
        # two runs a minute apart, and a slow spell of this shared machine during either one
        # moved it by 0.4 on its own (1.17-1.77 over five full runs with a single 1-worker run).
        report["pipeline_1_again"] = pipeline_once_more(base, "html", html_pages, 1, logs)
        report["extractors_after"] = extractor_round(html_str, list(reversed(orders)))
        if plan.text_pages:
            text_pages = replay(load_pages("text", plan.text_pages), plan.text_pages)
            report["pipeline_text_2"] = pipeline_once_more(base, "text", text_pages, 2, logs)
        docs = bench_index.read_topic(base, report["pipeline_2"]["clean_topic"])
        log(f"index stage vs helpers.bulk vs Quix Streams: {plan.index_docs} documents")
        report["index"] = bench_index.compare(
            base,
            bench_index.multiply(docs, plan.index_docs),
            plan.index_rounds,
            logs,
            quix_on=not args.no_quix,
        )
        bench_index.drop_topic(base, report["pipeline_2"]["clean_topic"])
    report["seconds"] = round(time.monotonic() - started, 1)
    report["uptime_end"] = _uptime()
    ok = not any(
        "error" in report.get(k, {})
        for k in ("pipeline_1", "pipeline_2", "pipeline_1_again", "pipeline_text_2")
    )
    report["summary"] = bench_report.summary(report)
    paths = bench_report.write(report, out)
    log(f"done in {report['seconds']:.0f} s: {', '.join(str(p) for p in paths)}")
    print(bench_report.markdown(report))
    sys.exit(0 if ok else 1)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _brief(per_page: dict[str, Any]) -> str:
    keys = ["trafilatura", "rs_trafilatura", "html_clean", "html_tag", "text_clean", "text_tag"]
    return ", ".join(
        f"{k} {per_page[k]['mean_ms']} ms" for k in keys if per_page.get(k, {}).get("n")
    )


if __name__ == "__main__":
    main()
