"""A real headless Chromium driven over the DevTools protocol: the dashboard's tests and bench.

No Node, no Playwright: Debian's ``chromium`` and a small synchronous CDP
client over ``websocket-client`` (decision 0046). One browser per test
module; each test opens its own page. Chromium is ended by its pid and its
profile directory removed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

from procward.kit.testing import wait_for

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One Chromium process and its DevTools endpoint."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="procward-chromium-")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        wait_for(lambda: os.path.exists(port_file) and os.path.getsize(port_file) > 0, 30)
        with open(port_file) as f:
            self.port = int(f.readline())

    def open_page(self) -> Page:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as reply:
            target = json.load(reply)
        return Page(target["webSocketDebuggerUrl"], target["id"], self.port)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: its helpers too
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab: send a CDP command and get its result; events kept in ``events``."""

    def __init__(self, url: str, target: str, port: int) -> None:
        import websocket  # dev-only: the tests' CDP client

        self.socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.target = target
        self.port = port
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ask = self.next_id
        self.socket.send(json.dumps({"id": ask, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ask:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)
            if message.get("method") == "Page.javascriptDialogOpening":  # never left open
                self.next_id += 1
                dismiss = {"accept": False}
                self.socket.send(
                    json.dumps(
                        {
                            "id": self.next_id,
                            "method": "Page.handleJavaScriptDialog",
                            "params": dismiss,
                        }
                    )
                )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout}s: {expression}")
            time.sleep(0.02)

    def dialogs(self) -> list[dict[str, Any]]:
        self.evaluate("1")  # read the events sent so far
        return [e for e in self.events if e["method"] == "Page.javascriptDialogOpening"]

    def screenshot(self, path: str, width: int = 1280, height: int = 800) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        data = self.send("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self) -> None:
        self.socket.close()
        url = f"http://127.0.0.1:{self.port}/json/close/{self.target}"
        with urllib.request.urlopen(url, timeout=10):
            pass
