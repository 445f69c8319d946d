"""A raw SMTP client for hostile-input tests: sends exact bytes, reads
replies, and tells a closed connection apart from silence."""

import socket

from conftest import TRUSTED_IP, tls_context


class RawClient:
    def __init__(self, port, source=TRUSTED_IP, timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.buffer = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by server")
        self.buffer += chunk

    def reply(self):
        """One (possibly multi-line) reply: (code, text of the last line)."""
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                self._fill()
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), line[4:].decode("utf-8", "replace")

    def command(self, line: str):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def is_closed(self):
        """True when the server has closed the connection (after any replies)."""
        try:
            self.sock.settimeout(10)
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def starttls(self):
        context = tls_context()
        self.sock = context.wrap_socket(self.sock, server_hostname="mail.anon.test")
        self.buffer = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def trusted_session(port):
    """A greeted session from the trusted address on the plain listener."""
    client = RawClient(port)
    assert client.reply()[0] == 220
    assert client.command("EHLO client.test")[0] == 250
    return client


MESSAGE = (b"From: Someone <someone@anon.test>\r\nTo: bob@example.test\r\n"
           b"Subject: hello\r\n\r\nJust a friendly note.\r\n")
