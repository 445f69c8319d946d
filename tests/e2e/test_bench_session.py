"""End to end: `leak-bench session` (the benchmark's session mode) against
the real daemon: each session connects, STARTTLS, AUTH PLAIN, one message,
QUIT. Checks that every session completes and the JSON summary carries the
figures scripts/bench.sh prints, with the credential cache warm and off."""

import json
import pathlib
import subprocess

import pytest

from conftest import LEAK, PASSWORD

BENCH = pathlib.Path(LEAK).parent / "leak-bench"


def run_sessions(daemon, sessions):
    result = subprocess.run(
        [str(BENCH), "session", "--server", f"127.0.0.1:{daemon.ports['starttls']}",
         "--sessions", str(sessions), "--concurrency", "4", "--user", "alice",
         "--password", PASSWORD, "--size", "2000", "--to", "bob@example.test", "--timeout", "60"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("ttl", ["5m", "0s"])
def test_session_mode_completes_every_session(make_daemon, ttl):
    assert BENCH.exists(), f"build leak-bench first ({BENCH})"
    # The per-client AUTH rate (30 a minute) bounds a run from one address.
    daemon = make_daemon(limits={"auth_cache_ttl": ttl})
    summary = run_sessions(daemon, 20)
    assert summary["completed"] == 20 and summary["errors"] == 0, summary
    assert summary["sessions_per_second"] > 0
    to_250 = summary["time_to_250_ms"]
    assert 0 < to_250["p50"] <= to_250["p99"] <= to_250["max"], summary
    assert 0 < summary["auth_ms"]["p50"] <= to_250["p50"], summary
    print(f"\nauth_cache_ttl={ttl}: {json.dumps(summary)}")
