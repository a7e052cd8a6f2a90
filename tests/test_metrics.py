"""`claude-usage metrics` and `serve`: the exposition read back by real parsers (prometheus_client's
OpenMetrics parser, promtool), the textfile, and the HTTP endpoint against a loopback upstream."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import fixture_body
from loopback_server import LoopbackServer, reset_before_headers, respond
from test_cli import RATE_LIMIT_BODY, T0, assert_no_secrets, at, command_env, invoke, run

# Fixtures shared with test_cli, which pytest finds by their names in this module.
SHARED_FIXTURES = (command_env,)

EXTRA_ON = {"is_enabled": True, "monthly_limit": 2000, "used_credits": 763, "utilization": 38.15, "currency": "EUR"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an OpenMetrics text as {(name, sorted labels): value}, through prometheus_client's parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def with_extra_and_limits() -> bytes:
    body = json.loads(fixture_body("with_limits.json"))
    body["extra_usage"] = EXTRA_ON
    return json.dumps(body).encode()


# -- metrics -----------------------------------------------------------------------------------


def test_openmetrics_read_back_has_the_values_the_command_shows(command_env: dict[str, str]) -> None:
    """Each family parses, and its values are the --json document's numbers (ratios of its percents)."""
    status, out, err = invoke(["metrics"], command_env)
    document = json.loads(invoke(["--json"], command_env)[1])
    window = lambda name, key: (f"claude_usage_window_{name}", (("window", key),))  # noqa: E731
    expected = {
        ("claude_usage_up", ()): 1.0,
        ("claude_usage_info", (("plan", "max"), ("rate_limit_tier", "default_claude_max_5x"), ("version", cli_version()))): 1.0,
        ("claude_usage_last_success_timestamp_seconds", ()): float(T0),
        ("claude_usage_data_age_seconds", ()): 0.0,
        ("claude_usage_data_stale", ()): 0.0,
        ("claude_usage_blocked_until_timestamp_seconds", ()): 0.0,
        ("claude_usage_problems", ()): 0.0,
        ("claude_usage_extra_usage_enabled", ()): 0.0,
        **{window("used_ratio", key): document[key]["utilization"] / 100 for key in ("five_hour", "seven_day", "seven_day_sonnet")},
        window("resets_timestamp_seconds", "five_hour"): 1772449200.521744,
        window("resets_timestamp_seconds", "seven_day"): 1772776800.521764,
        window("resets_timestamp_seconds", "seven_day_sonnet"): 1772780400.521773,
        # 2h 14m of 5 h left: the 55% of time the default view shows.
        window("elapsed_ratio", "five_hour"): pytest.approx((5 * 3600 - (1772449200.521744 - T0)) / (5 * 3600), rel=1e-9),
        window("elapsed_ratio", "seven_day"): pytest.approx((168 * 3600 - (1772776800.521764 - T0)) / (168 * 3600), rel=1e-9),
        window("elapsed_ratio", "seven_day_sonnet"): pytest.approx((168 * 3600 - (1772780400.521773 - T0)) / (168 * 3600), rel=1e-9),
    }
    assert (0, expected, "", True) == (status, samples(out), err, out.endswith("# EOF\n"))


def cli_version() -> str:
    from claude_usage import __version__

    return __version__


def test_extra_usage_in_major_units_and_limits_by_model(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Extra usage is in euros (not cents) with a currency label; `limits` entries by kind and model."""
    https_server.answer = respond(200, with_extra_and_limits())
    found = samples(invoke(["metrics"], {**command_env, "CLAUDE_USAGE_TEST_NOW": "1784040000"})[1])
    extra = {key: value for key, value in found.items() if key[0].startswith(("claude_usage_extra", "claude_usage_limit_used"))}
    assert {
        ("claude_usage_extra_usage_enabled", ()): 1.0,
        ("claude_usage_extra_usage_used", (("currency", "EUR"),)): 7.63,
        ("claude_usage_extra_usage_limit", (("currency", "EUR"),)): 20.0,
        ("claude_usage_limit_used_ratio", (("kind", "session"), ("model", ""))): 0.23,
        ("claude_usage_limit_used_ratio", (("kind", "weekly_all"), ("model", ""))): 0.41,
        ("claude_usage_limit_used_ratio", (("kind", "weekly_scoped"), ("model", "Opus"))): 0.575,
        ("claude_usage_limit_used_ratio", (("kind", "weekly_scoped"), ("model", "Sonnet"))): 0.0,
    } == extra


def test_a_part_not_understood_has_no_series_rather_than_a_wrong_value(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A window and an extra-usage amount the server sent in a form not understood are left out
    (a 0 would read as "nothing used"), and counted in claude_usage_problems."""
    body = json.loads(fixture_body("pro_max.json"))
    body["five_hour"]["utilization"] = None
    body["extra_usage"] = {**EXTRA_ON, "used_credits": "763"}
    https_server.answer = respond(200, json.dumps(body))
    status, out, err = invoke(["metrics"], command_env)
    found = samples(out)
    windows = sorted(dict(labels)["window"] for name, labels in found if name == "claude_usage_window_used_ratio")
    extra = sorted(name for name, _labels in found if name.startswith("claude_usage_extra_usage"))
    assert (0, 2.0, ["seven_day", "seven_day_sonnet"], ["claude_usage_extra_usage_enabled", "claude_usage_extra_usage_limit"], 2) == (
        status,
        found[("claude_usage_problems", ())],
        windows,
        extra,
        err.count("not understood, left out"),
    )


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
@pytest.mark.parametrize("case", ["fresh", "extra and limits", "stale after a 429", "no data"])
def test_promtool_finds_no_problem(command_env: dict[str, str], https_server: LoopbackServer, case: str) -> None:
    """`promtool check metrics` (Prometheus's own linter) accepts the Prometheus text of every case,
    from the real command; the OpenMetrics text of the same case parses too."""
    env = command_env
    if case == "extra and limits":
        https_server.answer = respond(200, with_extra_and_limits())
    elif case == "stale after a 429":
        run([], env)
        https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
        env = at(env, 3600)
    elif case == "no data":
        https_server.answer = reset_before_headers()
    prometheus = run(["metrics", "--prometheus"], env)
    openmetrics = run(["metrics"], env)
    assert PROMTOOL is not None
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=prometheus.stdout, capture_output=True, text=True, timeout=60)
    # The families promtool saw are the ones the OpenMetrics parser reads back (info as a gauge).
    prometheus_names = {line.split()[2] for line in prometheus.stdout.splitlines() if line.startswith("# TYPE")}
    openmetrics_names = {f"{f.name}_info" if f.type == "info" else f.name for f in text_string_to_metric_families(openmetrics.stdout)}
    assert (0, "", "", True, prometheus_names) == (
        checked.returncode,
        checked.stdout,
        checked.stderr,
        "claude_usage_up" in prometheus_names,
        openmetrics_names,
    )


def test_failed_request_with_older_data_is_up_0_stale_and_says_the_kind(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """A 429 after data was cached: the older data, up 0, stale 1, the error's kind, the block's end."""
    invoke([], command_env)
    https_server.answer = respond(429, RATE_LIMIT_BODY, {"Retry-After": "3600"})
    status, out, err = invoke(["metrics"], at(command_env, 600))
    found = samples(out)
    block_end = found[("claude_usage_blocked_until_timestamp_seconds", ())]
    assert (0, 0.0, 1.0, 1.0, 600.0, 0.48, float(T0), True, True) == (
        status,
        found[("claude_usage_up", ())],
        found[("claude_usage_data_stale", ())],
        found[("claude_usage_error_info", (("kind", "RateLimited"),))],
        found[("claude_usage_data_age_seconds", ())],
        found[("claude_usage_window_used_ratio", (("window", "five_hour"),))],
        found[("claude_usage_last_success_timestamp_seconds", ())],
        T0 + 600 + 3600 + 900 <= block_end <= T0 + 600 + 3600 + 900 + 5,  # 15 min margin, up to 5 s of jitter
        "showing data from 10m ago" in err,
    )


def test_no_data_at_all_still_writes_up_0_and_exits_with_the_errors_code(command_env: dict[str, str], https_server: LoopbackServer, tmp_path: Path) -> None:
    """A textfile must say "down" rather than keep the last good values: the file is written, then
    the command exits with the error's code (9, network) so a cron job's status says so too."""
    https_server.answer = reset_before_headers()
    target = tmp_path / "claude_usage.prom"
    status, out, err = invoke(["metrics", "--write", str(target)], command_env)
    found = samples(target.read_text())
    assert (9, "", 0.0, 1.0, True) == (
        status,
        out,
        found[("claude_usage_up", ())],
        found[("claude_usage_error_info", (("kind", "Network"),))],
        err.startswith("claude-usage: "),
    )


def test_write_replaces_the_file_atomically_and_readably(command_env: dict[str, str], tmp_path: Path) -> None:
    """--write puts exactly what stdout would show into FILE (mode 0644, for node_exporter's user),
    by rename: an old file's inode is replaced, not rewritten, and no temporary file is left."""
    target = tmp_path / "textfile" / "claude_usage.prom"
    target.parent.mkdir()
    target.write_text("old\n")
    before = target.stat().st_ino
    status, out, err = invoke(["metrics", "--write", str(target)], command_env)
    printed = invoke(["metrics"], command_env)[1]
    assert (0, "", "", printed, 0o644, True, ["claude_usage.prom"]) == (
        status,
        out,
        err,
        target.read_text(),
        stat.S_IMODE(target.stat().st_mode),
        target.stat().st_ino != before,
        os.listdir(target.parent),
    )


def test_write_into_a_missing_directory_is_a_clear_error(command_env: dict[str, str], tmp_path: Path) -> None:
    status, out, err = invoke(["metrics", "--write", str(tmp_path / "missing" / "x.prom")], command_env)
    assert (2, "", f"claude-usage: cannot write {tmp_path / 'missing' / 'x.prom'}: No such file or directory\n") == (status, out, err)


def test_account_label_only_when_asked_and_never_a_secret(command_env: dict[str, str]) -> None:
    """No label names the account by default; --account-label adds account=NAME to every sample."""
    plain = samples(invoke(["metrics"], command_env)[1])
    labelled = samples(invoke(["metrics", "--account-label", "work"], command_env)[1])
    assert ([], True) == (
        [key for key in plain if any(name == "account" for name, _ in key[1])],
        all(("account", "work") in key[1] for key in labelled),
    )


HIDE_PROMETHEUS_CLIENT = (
    "import sys; sys.modules['prometheus_client'] = None; "
    "from claude_usage import cli; sys.exit(cli.main(sys.argv[1:]))"
)


@pytest.mark.parametrize("command", ["metrics", "serve"])
def test_without_prometheus_client_says_how_to_install_it(command_env: dict[str, str], https_server: LoopbackServer, command: str) -> None:
    """A real process where prometheus_client cannot be imported: exit 2 with the pip line, no request."""
    done = subprocess.run(
        [sys.executable, "-c", HIDE_PROMETHEUS_CLIENT, command], env=command_env, capture_output=True, text=True, timeout=60
    )
    expected = "claude-usage: this needs prometheus_client, an optional extra: pip install 'claude-usage-client[metrics]'\n"
    assert (2, "", expected, 0) == (done.returncode, done.stdout, done.stderr, https_server.request_count)


# -- serve -------------------------------------------------------------------------------------


class Served:
    """A `claude-usage serve` child process on a free loopback port."""

    def __init__(self, env: dict[str, str], *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "claude_usage", "serve", "--listen", "127.0.0.1:0", *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self.banner = self.process.stderr.readline()
        self.port = int(self.banner.rsplit(":", 1)[1].split("/", 1)[0])

    def get(self, path: str, accept: str | None = None) -> tuple[int, str, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path, headers={} if accept is None else {"Accept": accept})
            response = connection.getresponse()
            body = response.read().decode()
            assert_no_secrets(body)
            return response.status, response.headers["Content-Type"], body
        finally:
            connection.close()

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


@pytest.fixture
def served(command_env: dict[str, str]) -> Iterator[Served]:
    server = Served(command_env)
    yield server
    if server.process.poll() is None:
        server.stop()


OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def test_serve_negotiates_the_format_and_serves_the_json_document(served: Served, command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """/metrics: OpenMetrics when Accept asks for it, else the Prometheus text; /usage.json: the --json document."""
    status, content_type, openmetrics = served.get("/metrics", OPENMETRICS)
    plain = served.get("/metrics")
    json_status, json_type, document = served.get("/usage.json")
    expected_document = json.loads(invoke(["--json"], command_env)[1])
    assert (
        (200, True, 1.0),
        (200, "text/plain; version=0.0.4; charset=utf-8", True),
        (200, "application/json", expected_document),
        404,
        1,
    ) == (
        (status, content_type.startswith(OPENMETRICS), samples(openmetrics)[("claude_usage_up", ())]),
        (plain[0], plain[1], "# TYPE claude_usage_up gauge" in plain[2]),
        (json_status, json_type, json.loads(document)),
        served.get("/")[0],
        https_server.request_count,
    )


def test_serve_shows_stale_data_and_up_0_when_the_upstream_fails(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """Data cached, then the server fails (500) once it is older than the max age: /metrics still
    answers, with the older data, up 0, stale 1 and the kind; /usage.json says stale."""
    invoke([], command_env)
    https_server.answer = respond(500, b'{"error":{"type":"api_error","message":"Internal server error"}}')
    server = Served(at(command_env, 600))
    try:
        found = samples(server.get("/metrics", OPENMETRICS)[2])
        document = json.loads(server.get("/usage.json")[2])
    finally:
        status = server.stop()[0]
    assert (0, 0.0, 1.0, 1.0, 0.48, True, 2) == (
        status,
        found[("claude_usage_up", ())],
        found[("claude_usage_data_stale", ())],
        found[("claude_usage_error_info", (("kind", "Server"),))],
        found[("claude_usage_window_used_ratio", (("window", "five_hour"),))],
        document["stale"],
        https_server.request_count,  # the first fetch, then one failed attempt, then backoff
    )


def test_serve_without_any_data_answers_up_0_and_json_503(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    https_server.answer = reset_before_headers()
    server = Served(command_env)
    try:
        found = samples(server.get("/metrics", OPENMETRICS)[2])
        json_status, _, body = server.get("/usage.json")
    finally:
        server.stop()
    assert (0.0, 1.0, 503, "Network") == (
        found[("claude_usage_up", ())],
        found[("claude_usage_error_info", (("kind", "Network"),))],
        json_status,
        json.loads(body)["error"]["kind"],
    )


def test_serve_exits_0_on_sigterm_and_frees_the_port(served: Served) -> None:
    served.get("/metrics")
    status, out, err = served.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", served.port))  # free again: the listener was closed
    assert (0, "", "") == (status, out, err)


def test_serve_on_a_busy_port_is_a_clear_error(command_env: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        done = run(["serve", "--listen", f"127.0.0.1:{port}"], command_env)
    expected = (
        f"claude-usage: cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(hint: another program holds it? choose another with --listen HOST:PORT)\n"
    )
    assert (1, "", expected) == (done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", ":9464", "[::]:9464"])
def test_serve_refuses_a_non_loopback_address_without_allow_remote(command_env: dict[str, str], listen: str) -> None:
    done = run(["serve", "--listen", listen], command_env)
    expected = f"claude-usage: --listen {listen} is not a loopback address; add --allow-remote to serve other machines\n"
    assert (2, "", expected) == (done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("listen", "remote"),
    [("127.0.0.1:9464", False), ("localhost:9464", False), ("[::1]:9464", False), ("127.0.0.2:9464", False),
     ("0.0.0.0:9464", True), (":9464", True), ("[::]:9464", True), ("192.0.2.1:9464", True)],
)
def test_which_listen_addresses_are_loopback(listen: str, remote: bool) -> None:
    """A name counts as loopback only when every address it resolves to is (resolved, not bound)."""
    from claude_usage.cli.serve import _listen_address

    assert remote == _listen_address(listen)[3]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "9464"], "argument --listen: expected HOST:PORT (e.g. 127.0.0.1:9464), not '9464'"),
        (["--listen", "127.0.0.1:99999"], "argument --listen: expected HOST:PORT (e.g. 127.0.0.1:9464), not '127.0.0.1:99999'"),
        (["--max-age", "5"], "serve needs --max-age of at least 30 s (the rate budget is about 30 requests an hour)"),
    ],
)
def test_serve_mistakes_exit_2(command_env: dict[str, str], https_server: LoopbackServer, argv: list[str], message: str) -> None:
    status, out, err = invoke(["serve", *argv], command_env)
    assert (2, "", f"claude-usage: {message}\n", 0) == (status, out, err, https_server.request_count)


def test_many_scrapers_cost_one_upstream_request(command_env: dict[str, str], https_server: LoopbackServer) -> None:
    """50 concurrent scrapers on an empty cache for a bounded time: exactly one upstream request
    and no failed scrape. Only counts are asserted; the latencies are printed (benchmarks/serve_load.py
    is the 20-second measurement). On the real clock: under the fixed test clock a refetch would
    look as new as the data and never be sent, so the test could not see one."""
    server = Served({name: value for name, value in command_env.items() if name != "CLAUDE_USAGE_TEST_NOW"})
    failures: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 3.0

    def scrape() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                connection.request("GET", "/metrics", headers={"Accept": OPENMETRICS})
                response = connection.getresponse()
                body = response.read().decode()
                took = time.perf_counter() - started
                ok = response.status == 200 and "claude_usage_up 1.0" in body
                with lock:
                    latencies.append(took)
                    if not ok:
                        failures.append(f"{response.status}: {body[:80]}")
        except OSError as error:
            with lock:
                failures.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=scrape) for _ in range(50)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        server.stop()
    latencies.sort()
    print(f"{len(latencies)} scrapes, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms")
    assert (1, [], True) == (https_server.request_count, failures, len(latencies) >= 50)
