"""An AUTH flood, run as its own process so that its 200 threads do not
compete for the GIL with the test that times a legitimate login:
`python3 auth_flood.py PORT SECONDS` prints a JSON count of the answers.

Each thread connects to the implicit-TLS listener from 127.0.1.(1..100),
says EHLO and sends AUTH PLAIN with a wrong password for its own username
until refused, then reconnects, until the time is up."""

import base64
import collections
import json
import socket
import ssl
import sys
import threading
import time

CLIENTS = 200
ADDRESSES = 100


def attempt_loop(port, source, user, start, stop, outcomes):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    token = base64.b64encode(b"\0" + user.encode() + b"\0wrong password").decode()
    start.wait(60)
    for _ in range(100):
        if stop.is_set():
            return
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
            with context.wrap_socket(raw, server_hostname="mail.anon.test") as sock:
                reader = sock.makefile("rb")
                assert reader.readline().startswith(b"220")
                sock.sendall(b"EHLO flood.test\r\n")
                while not reader.readline()[3:4] == b" ":
                    pass
                while not stop.is_set():
                    sock.sendall(f"AUTH PLAIN {token}\r\n".encode())
                    line = reader.readline()
                    if not line:
                        outcomes.append("closed")
                        break
                    outcomes.append(line[:3].decode())
                    if line.startswith(b"421"):
                        break
        except (OSError, AssertionError):
            outcomes.append("error")
        stop.wait(0.2)


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    start, stop, outcomes = threading.Event(), threading.Event(), []
    threads = [threading.Thread(target=attempt_loop, daemon=True,
                                args=(port, f"127.0.1.{i % ADDRESSES + 1}", f"nobody{i}", start, stop, outcomes))
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.set()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    print(json.dumps(collections.Counter(outcomes)))


if __name__ == "__main__":
    main()
