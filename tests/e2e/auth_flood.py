"""An AUTH flood, run as its own process so that it does not compete for the
GIL with the test that times a legitimate login, and on asyncio rather than
threads so that 200 clients do not mean 200 threads fighting over a GIL:
`python3 auth_flood.py PORT SECONDS` prints a JSON count of the answers.

Each client connects to the implicit-TLS listener from 127.0.1.(1..100),
says EHLO and sends AUTH PLAIN with a wrong password for its own username
until refused, then reconnects, until the time is up."""

import asyncio
import base64
import collections
import json
import ssl
import sys

CLIENTS = 200
ADDRESSES = 100


async def reply(reader):
    """The last line of one (possibly multi-line) reply, b"" when closed."""
    while True:
        line = await reader.readline()
        if len(line) < 4 or line[3:4] != b"-":
            return line


async def client(port, source, user, deadline, outcomes):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    token = base64.b64encode(b"\0" + user.encode() + b"\0wrong password").decode()
    loop = asyncio.get_running_loop()
    for _ in range(100):
        if loop.time() > deadline:
            return
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="mail.anon.test",
                local_addr=(source, 0)), 30)
            assert (await reply(reader)).startswith(b"220")
            writer.write(b"EHLO flood.test\r\n")
            await reply(reader)
            # At least one attempt per connection, then until the deadline.
            while True:
                writer.write(f"AUTH PLAIN {token}\r\n".encode())
                line = await asyncio.wait_for(reply(reader), 30)
                outcomes.append(line[:3].decode() or "closed")
                if not line or line.startswith(b"421") or loop.time() > deadline:
                    break
        except (OSError, AssertionError, asyncio.TimeoutError, ssl.SSLError):
            outcomes.append("error")
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(0.2)


async def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    deadline = asyncio.get_running_loop().time() + seconds
    outcomes = []
    clients = [client(port, f"127.0.1.{i % ADDRESSES + 1}", f"nobody{i}", deadline, outcomes)
               for i in range(CLIENTS)]
    await asyncio.wait_for(asyncio.gather(*clients), seconds + 90)
    print(json.dumps(collections.Counter(outcomes)))


if __name__ == "__main__":
    asyncio.run(main())
