"""A real browser for the tests: Debian's headless Chromium driven over the
Chrome DevTools Protocol (a websocket; the `websockets` package), so a test
opens a page, presses a button and reads the result as a person would."""

import asyncio
import itertools
import json
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websockets

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--remote-allow-origins=*", "--remote-debugging-port=0"]


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One Chromium process with a fresh profile; `run(coroutine)` drives it."""

    def __init__(self, timeout=60):
        self.profile = pathlib.Path(tempfile.mkdtemp(prefix="leak-chromium-"))
        self.process = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (active.exists() and active.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        self.port = int(active.read_text().split()[0])

    def page_socket(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """A CDP session on one page."""

    def __init__(self, socket):
        self.socket = socket
        self.ids = itertools.count(1)

    async def call(self, method, **params):
        ident = next(self.ids)
        await self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), 30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result", {})

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"never true in the browser: {expression}")


def open_and_click(url, button_selector, done_expression):
    """Opens `url`, clicks the button, returns the value of `done_expression`
    once it is truthy on the page that follows, and the first page's text."""
    browser = Browser()

    async def drive():
        async with websockets.connect(browser.page_socket(), max_size=None) as socket:
            page = Page(socket)
            await page.call("Page.enable")
            await page.call("Page.navigate", url=url)
            before = await page.wait_for(
                f"document.readyState === 'complete' && document.querySelector({json.dumps(button_selector)})"
                " && document.body.innerText")
            await page.evaluate(f"document.querySelector({json.dumps(button_selector)}).click()")
            after = await page.wait_for(done_expression)
            return before, after

    try:
        return asyncio.run(drive())
    finally:
        browser.close()
