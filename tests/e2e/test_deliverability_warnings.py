"""End to end: `leak check-config` warns (and still passes) when
`server.hostname` is not a fully qualified name or no RSA DKIM key is
configured; `leak serve` logs the same at start."""

import re

from conftest import leak

RSA_BLOCK = re.compile(r'\[\[dkim\.key\]\]\nselector = "leak-rsa"\nalgorithm = "rsa"\nprivate_key = "[^"]*"\n')


def warnings_of(daemon):
    result = leak("check-config", config=daemon.config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def test_hostname_and_rsa_warnings(make_daemon):
    daemon = make_daemon(start=False)
    assert not any("server.hostname" in w or "warning: dkim:" in w for w in warnings_of(daemon))

    text = daemon.config.read_text()
    for bad in ("localhost", "mail"):
        daemon.config.write_text(text.replace('hostname = "mail.anon.test"', f'hostname = "{bad}"', 1))
        found = [w for w in warnings_of(daemon) if w.startswith("warning: server.hostname:")]
        assert len(found) == 1 and f"`{bad}` is not a fully qualified domain name" in found[0], found

    ed25519_only = RSA_BLOCK.sub("", text)
    assert ed25519_only != text
    daemon.config.write_text(ed25519_only)
    found = [w for w in warnings_of(daemon) if w.startswith("warning: dkim:")]
    assert len(found) == 1 and "no RSA key configured" in found[0], found

    # The daemon starts anyway and logs the warning.
    daemon.start()
    assert any("no RSA key configured" in line for line in daemon.log)
