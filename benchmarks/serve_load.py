"""Load test of `claude-usage serve`: many concurrent scrapers against an empty cache, on loopback.

    python benchmarks/serve_load.py                     # 50 scrapers, 20 s, as fast as each can
    python benchmarks/serve_load.py --interval 1        # each scraper once a second

It starts a TLS upstream on loopback (tests/loopback_server.py, which counts requests), then
`claude-usage serve` on a free loopback port with an empty cache, then the scrapers: threads
spread over a few processes (so the load generator's own GIL does not become the server's
latency), each on a keep-alive connection as Prometheus keeps one. It prints the upstream
requests (the goal: exactly 1), the failed scrapes (not 200, or `claude_usage_up` not 1),
latency percentiles (all scrapes, and "warm": those started after the first second), and the
server's resident memory after its first answer and at the end. Exit 1 when a count is wrong;
latency and memory are reported, not judged (a shared machine's noise is not a regression).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

ACCEPT = "application/openmetrics-text; version=1.0.0"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def scrape_worker(port: int, threads: int, start: float, stop: float, interval: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """``threads`` scrapers until ``stop`` (a time.time()); puts (latencies, failures) on ``results``."""
    latencies: list[tuple[float, float]] = []  # (started, seconds)
    failures: list[str] = []
    lock = threading.Lock()

    def scraper() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[float, float]] = []
        bad: list[str] = []
        next_tick = start
        while True:
            now = time.time()
            if now >= stop:
                break
            if interval and now < next_tick:
                time.sleep(min(next_tick, stop) - now)
                continue
            next_tick += interval
            began = time.perf_counter()
            wall = time.time()
            try:
                connection.request("GET", "/metrics", headers={"Accept": ACCEPT})
                response = connection.getresponse()
                body = response.read()
                took = time.perf_counter() - began
                if response.status != 200 or b"\nclaude_usage_up 1.0\n" not in body:
                    bad.append(f"{response.status} {body[:60]!r}")
            except (OSError, http.client.HTTPException) as error:
                took = time.perf_counter() - began
                bad.append(repr(error))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((wall, took))
        connection.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    workers = [threading.Thread(target=scraper) for _ in range(threads)]
    while time.time() < start:
        time.sleep(0.001)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, failures))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=5, help="processes the scrapers are spread over")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between one scraper's scrapes (0: back to back)")
    options = parser.parse_args()

    import trustme

    from conftest import fixture_body, write_credentials
    from loopback_server import LoopbackServer, respond

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with tempfile.TemporaryDirectory() as temporary, LoopbackServer(context) as upstream:
        root = Path(temporary)
        write_credentials(root)
        ca.cert_pem.write_to_path(str(root / "ca.pem"))
        upstream.answer = respond(200, fixture_body("pro_max.json"))
        env = {
            "HOME": str(root),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CLAUDE_USAGE_API_URL": upstream.url,
            "CLAUDE_USAGE_CA_BUNDLE": str(root / "ca.pem"),
            "CLAUDE_USAGE_CACHE_DIR": str(root / "cache"),  # empty: the first scrapes find nothing
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "claude_usage", "serve", "--listen", "127.0.0.1:0"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            assert server.stderr is not None
            banner = server.stderr.readline()
            port = int(banner.rsplit(":", 1)[1].split("/", 1)[0])
            rss_idle = rss_kib(server.pid)
            # The workers start scraping at ``start``; the server reads the cache (an empty one:
            # a fetch, which loads the HTTP stack) at once, so "ready" is measured just before.
            start = time.time() + 1.5
            stop = start + options.seconds
            results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            per_process = [options.scrapers // options.processes + (i < options.scrapers % options.processes) for i in range(options.processes)]
            workers = [
                multiprocessing.Process(target=scrape_worker, args=(port, count, start, stop, options.interval, results))
                for count in per_process
                if count
            ]
            for worker in workers:
                worker.start()
            time.sleep(max(0.0, start - 0.1 - time.time()))
            rss_ready = rss_kib(server.pid)
            # Resident memory once the first answer has been made (the cache read, the first
            # rendering, the scrapers' threads started), then at the end.
            time.sleep(max(0.0, start + 1.0 - time.time()))
            rss_warm = rss_kib(server.pid)
            latencies: list[tuple[float, float]] = []
            failures: list[str] = []
            for _ in workers:
                got_latencies, got_failures = results.get(timeout=options.seconds + 120)
                latencies += got_latencies
                failures += got_failures
            for worker in workers:
                worker.join(timeout=30)
            rss_end = rss_kib(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            status = server.wait(timeout=30)
        requests = upstream.request_count
    seconds = [took for _started, took in latencies]
    warm = [took for started, took in latencies if started >= start + 1.0]
    print(f"serve load test: {options.scrapers} scrapers in {len(workers)} processes, {options.seconds:g} s, "
          f"interval {options.interval:g} s, empty cache at the start")
    print(f"  scrapes {len(seconds)} ({len(seconds) / options.seconds:.0f}/s), failed {len(failures)}, upstream requests {requests}")
    print(f"  latency all:  p50 {percentile(seconds, 0.5) * 1000:.2f} ms, p99 {percentile(seconds, 0.99) * 1000:.2f} ms, max {max(seconds) * 1000:.1f} ms")
    print(f"  latency warm: p50 {percentile(warm, 0.5) * 1000:.2f} ms, p99 {percentile(warm, 0.99) * 1000:.2f} ms")
    print(f"  RSS: {rss_idle / 1024:.1f} MB at start, {rss_ready / 1024:.1f} MB after the first fetch, {rss_warm / 1024:.1f} MB after "
          f"the first second of scrapes, {rss_end / 1024:.1f} MB at the end")
    print(f"  RSS growth under load: {(rss_end - rss_ready) / 1024:+.2f} MB from before the first scrape, "
          f"{(rss_end - rss_warm) / 1024:+.2f} MB from the first second")
    print(f"  serve exit status on SIGTERM: {status}")
    for failure in failures[:5]:
        print(f"  failure: {failure}")
    return 0 if (requests, failures, status) == (1, [], 0) else 1


if __name__ == "__main__":
    sys.exit(main())
