"""`leak queue list` filters, `leak queue summary`, and retry/delete by
filter, through the real binary against a daemon whose mail stays queued
(DNS never answers)."""

import json
import re

from test_operators import NOTE, queue, submit


def listed(daemon, *flags):
    result = daemon.cli("queue", "list", "--json", *flags)
    assert result.returncode == 0, result.stderr
    return {entry["id"] for entry in json.loads(result.stdout)}


def test_list_filters_select_by_held_domain_state_and_age(daemon):
    to_example = submit(daemon, NOTE, rcpt="bob@example.test")
    to_other = submit(daemon, NOTE, rcpt="carol@Other.TEST")
    assert daemon.cli("queue", "hold", to_other).returncode == 0

    assert listed(daemon) == {to_example, to_other}
    assert listed(daemon, "--held") == {to_other}
    assert listed(daemon, "--domain", "other.test") == {to_other}
    assert listed(daemon, "--domain", "example.test", "--held") == set()
    assert listed(daemon, "--state", "queued") == {to_example, to_other}
    assert listed(daemon, "--state", "delivered") == set()
    assert listed(daemon, "--older-than", "1h") == set()
    assert listed(daemon, "--older-than", "0s") == {to_example, to_other}

    table = daemon.cli("queue", "list", "--domain", "other.test")
    assert table.returncode == 0 and to_other in table.stdout and to_example not in table.stdout

    bad = daemon.cli("queue", "list", "--state", "lost")
    assert bad.returncode != 0 and "lost" in bad.stderr


def test_summary_counts_pending_recipients_per_domain(daemon):
    submit(daemon, NOTE, rcpt="bob@example.test")
    submit(daemon, NOTE, rcpt="dave@example.test")
    submit(daemon, NOTE, rcpt="carol@other.test")
    result = daemon.cli("queue", "summary")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    assert rows["TOTAL"][0] == "3"
    assert rows["example.test"][:2] == ["2", "2"]  # total, and all younger than 5 minutes
    assert rows["other.test"][0] == "1"
    order = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert order.index("example.test") < order.index("other.test")


def test_delete_and_retry_by_filter(daemon):
    keep = submit(daemon, NOTE, rcpt="bob@example.test")
    drop = submit(daemon, NOTE, rcpt="carol@other.test")
    held = submit(daemon, NOTE, rcpt="erin@other.test")
    assert daemon.cli("queue", "hold", held).returncode == 0

    retried = daemon.cli("queue", "retry", "--held")
    assert retried.returncode == 0, retried.stderr
    assert re.search(rf"^message {held} due now$", retried.stdout, re.M), retried.stdout
    assert "1 message due now" in retried.stdout

    deleted = daemon.cli("queue", "delete", "--domain", "other.test")
    assert deleted.returncode == 0, deleted.stderr
    assert "2 messages deleted" in deleted.stdout
    assert {entry["id"] for entry in queue(daemon)} == {keep}
    assert f"message {drop} deleted" in deleted.stdout and f"message {held} deleted" in deleted.stdout


def test_selection_must_be_one_of_id_all_or_filter(daemon):
    neither = daemon.cli("queue", "delete")
    assert neither.returncode == 1 and "--all" in neither.stderr
    both = daemon.cli("queue", "delete", "--all", "--held")
    assert both.returncode == 1
