"""The dashboard in a real headless Chromium, against a real daemon (issue 16).

One browser for the module. The apps: ``web`` (runs), ``echo`` (prints what
the test writes to a file: the log-follow latency), ``xss`` (prints markup
that would run if the page ever parsed app output) and ``crashy`` (exits at
once, again and again). Screenshots are taken every run, and saved to
docs/img/ for the README with ``PROCWARD_SCREENSHOTS=1`` (else to the
test's temporary directory: a test run leaves the work tree as it was).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from typing import Any

from bench.chromium import Browser, Page

from procward.cli.dashboard import handoff_page
from procward.dashboard.live import TICK
from procward.kit._client import Client
from procward.kit._paths import InstancePaths
from procward.kit.testing import wait_for

from .conftest import token

IMG = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "img")
XSS = "<img src=x onerror=alert(1)>"

APPS = f"""
[apps.db]
cmd = "sleep 600"

[apps.web]
cmd = "sleep 600"
depends_on = ["db"]

[apps.echo]
cmd = ["sh", "-c", "while true; do if [ -f say ]; then cat say; rm say; fi; sleep 0.05; done"]

[apps.xss]
cmd = ["sh", "-c", "echo '{XSS}'; exec sleep 600"]

[apps.crashy]
cmd = ["sh", "-c", "echo dying; exit 3"]
backoff = {{ initial = "1s", multiplier = 2, max = "5s" }}
"""


def row_state(name: str) -> str:
    return f"document.querySelector('tr[data-app=\"{name}\"] td[data-state]')?.dataset.state"


def row_text(name: str) -> str:
    return f"document.querySelector('tr[data-app=\"{name}\"]')?.textContent"


def opened(browser: Browser, where: tuple[str, int], secret: str, path: str = "/") -> Page:
    page = browser.open_page()
    page.navigate(f"http://{where[0]}:{where[1]}{path}#token={secret}")
    page.wait_for("document.querySelector('#connection')?.textContent === 'live'")
    return page


def open_app(page: Page, name: str) -> None:
    page.evaluate(f"document.querySelector('tr[data-app=\"{name}\"]').click()")
    page.wait_for(f"document.querySelector('#detail-title').textContent === '{name}'")


def button(page: Page, label: str) -> str:
    return (
        "[...document.querySelectorAll('#app-actions button')]"
        f".find(b => b.textContent === '{label}')"
    )


def test_operator_watches_and_acts(
    browser: Browser,
    daemon: Client,
    load_apps: object,
    *,
    http_address: tuple[str, int],
    home: str,
    tmp_path: Any,
) -> None:
    load_apps(APPS)  # type: ignore[operator]
    daemon.call("setMetricsEnabled", enabled=True, interval=0.2)  # the sparklines
    secret = token(daemon, "operator")
    wait_for(lambda: len(daemon.call("getTrends")["times"]) >= 5, 10, what="5 samples")
    page = opened(browser, http_address, secret)
    try:
        # The token left the URL at once, for session storage.
        assert page.evaluate("location.hash") == ""
        assert page.evaluate("sessionStorage.getItem('procward.token')").count(".") == 2
        for name in ("web", "echo", "xss"):
            page.wait_for(f"{row_state(name)} === 'running'")
        page.wait_for(f"['backoff', 'crashed'].includes({row_state('crashy')})")
        assert "exit 3" in page.evaluate(row_text("crashy"))
        shots = IMG if os.environ.get("PROCWARD_SCREENSHOTS") else str(tmp_path)
        page.screenshot(os.path.join(shots, "dashboard-apps.png"))

        # kill -9 of web's process shows live: a new pid, a restart, the event and why.
        open_app(page, "web")
        pid = daemon.call("getApp", name="web")["instances"][0]["pid"]
        page.wait_for(f"{row_text('web')}.includes('{pid}')")
        os.kill(pid, signal.SIGKILL)
        page.wait_for(f"!{row_text('web')}.includes('{pid}') && {row_state('web')} === 'running'")
        page.wait_for("document.querySelector('#events').textContent.includes('SIGKILL')")
        # Its uptime history: a bar per day of the 90 kept, today's up, none before.
        page.wait_for("document.querySelectorAll('#uptime span').length === 90")
        days = page.evaluate("[...document.querySelectorAll('#uptime span')].map(s => s.className)")
        assert set(days[:-1]) == {"day-none"} and days[-1] in ("day-up", "day-partial"), days
        assert page.evaluate("document.querySelector('#uptime-total').textContent").endswith("% up")
        page.screenshot(os.path.join(shots, "dashboard-app.png"))

        # Its log, followed: a line printed now is on the page within a second.
        open_app(page, "echo")
        page.wait_for("document.querySelector('#log').dataset.following === 'yes'")
        line = f"hello {time.monotonic_ns()}"
        said = time.monotonic()
        with open(os.path.join(home, "say.tmp"), "w") as f:
            f.write(line + "\n")
        os.rename(os.path.join(home, "say.tmp"), os.path.join(home, "say"))
        page.wait_for(f"document.querySelector('#log').textContent.includes('{line}')", 5)
        latency = time.monotonic() - said
        assert latency < 1.0, f"the line showed after {latency:.2f}s"
        page.screenshot(os.path.join(shots, "dashboard-logs.png"))

        # Stop and start as operator, through the buttons.
        open_app(page, "web")
        page.evaluate(f"{button(page, 'Stop')}.click()")
        page.wait_for(f"{row_state('web')} === 'stopped'")
        page.wait_for("document.querySelector('#result').textContent.includes('stop web: done')")
        page.evaluate(f"{button(page, 'Start')}.click()")
        page.wait_for(f"{row_state('web')} === 'running'")
        assert page.evaluate(f"{button(page, 'Delete')} === undefined")  # admins only

        # The markup xss prints is text on the page: no element made, nothing run.
        open_app(page, "xss")
        page.wait_for(f"document.querySelector('#log').textContent.includes({json.dumps(XSS)})")
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert page.dialogs() == []
    finally:
        page.close()
    # The token went in a fragment and headers only: no file of the daemon holds it,
    # while the audit log has the operator's actions.
    for root, _, files in os.walk(home):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path):  # not the socket
                with open(path, "rb") as f:
                    assert secret.encode() not in f.read(), path
    audit = daemon.call("getAudit", name="stopApp")
    assert [(e["transport"], e["who"]) for e in audit] == [("http", "test operator")]


def test_a_viewer_sees_no_buttons_and_is_refused(
    browser: Browser, daemon: Client, load_apps: object, http_address: tuple[str, int]
) -> None:
    load_apps(APPS)  # type: ignore[operator]
    viewer = token(daemon, "viewer")
    page = opened(browser, http_address, viewer, "/app/web")  # a deep link
    try:
        page.wait_for(f"{row_state('web')} === 'running'")
        page.wait_for("document.querySelector('#detail-title').textContent === 'web'")
        # Its definition as the daemon resolved it, and its environment.
        page.wait_for("document.querySelector('#spec').textContent.includes('sleep')")
        assert "PATH" in page.evaluate("document.querySelector('#env').textContent")
        shown = "[...document.querySelectorAll('button')].filter(b => !b.closest('[hidden]'))"
        buttons = page.evaluate(f"{shown}.map(b => b.id)")
        assert buttons == ["detail-close", "log-pause"]  # the page's own, no action
        assert page.evaluate("document.querySelector('#who').textContent").endswith("viewer")
        # Keyboard: a row takes the focus and Enter opens it.
        page.evaluate("document.querySelector('tr[data-app=\"echo\"]').focus()")
        for kind in ("keyDown", "keyUp"):
            page.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
            )
        page.wait_for("document.querySelector('#detail-title').textContent === 'echo'")
        # A phone's width: the page does not overflow it (the tables scroll in their box).
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=390,
            height=844,
            deviceScaleFactor=2,
            mobile=True,
        )
        page.wait_for("document.documentElement.scrollWidth <= 390")
        pid_header = "document.querySelector('#apps th.wide')"
        assert page.evaluate(f"getComputedStyle({pid_header}).display") == "none"
    finally:
        page.close()
    # A token the daemon refuses (expired, revoked, made up) leads back to `procward dashboard`.
    page = browser.open_page()
    try:
        page.navigate(f"http://{http_address[0]}:{http_address[1]}/#token=made.up.token")
        page.wait_for("document.querySelector('#login')?.hidden === false")
        assert page.evaluate("sessionStorage.getItem('procward.token')") is None
    finally:
        page.close()
    conn = http.client.HTTPConnection(*http_address, timeout=10)
    call = {"jsonrpc": "2.0", "id": 1, "method": "stopApp", "params": {"name": "web"}}
    headers = {"Authorization": f"Bearer {viewer}", "Content-Type": "application/json"}
    conn.request("POST", "/rpc", json.dumps(call), headers)
    reply = json.loads(conn.getresponse().read())
    conn.close()
    assert reply["error"]["code"] == -32002  # forbidden
    assert daemon.call("getApp", name="web")["instances"][0]["state"] == "running"


def test_the_browser_is_handed_the_link_by_a_private_page_not_its_command_line(
    browser: Browser,
    daemon: Client,
    http_address: tuple[str, int],
    load_apps: Any,
    paths: InstancePaths,
) -> None:
    """Any local user may read a process's command line for as long as it runs."""
    load_apps('[apps.web]\ncmd = ["sleep", "1000"]\n')
    secret = token(daemon, "viewer")
    url = f"http://{http_address[0]}:{http_address[1]}/#token={secret}"
    opened = handoff_page(url, paths)
    assert opened.startswith("file://") and secret not in opened
    handoff = opened.removeprefix("file://")
    assert os.stat(handoff).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(handoff)).st_mode & 0o077 == 0
    page = browser.open_page()
    try:
        page.navigate(opened)
        page.wait_for("document.querySelector('#connection')?.textContent === 'live'")
        page.wait_for(row_text("web"))
        assert secret not in page.evaluate("location.href")  # moved to session storage
    finally:
        page.close()


def test_an_admin_sees_the_audit_log_the_others_do_not(
    browser: Browser, daemon: Client, http_address: tuple[str, int], load_apps: Any
) -> None:
    load_apps('[apps.web]\ncmd = ["sleep", "1000"]\n')
    operator = token(daemon, "operator")
    conn = http.client.HTTPConnection(*http_address, timeout=10)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "stopApp", "params": {"name": "web"}})
    conn.request("POST", "/rpc", body, {"Authorization": f"Bearer {operator}"})
    assert "error" not in json.loads(conn.getresponse().read())
    conn.close()
    page = opened(browser, http_address, token(daemon, "admin"))
    try:
        page.wait_for("!document.querySelector('#audit-panel').hidden")
        page.wait_for("document.querySelector('#audit').textContent.includes('stopApp')")
        row = page.evaluate(
            "[...document.querySelectorAll('#audit tbody tr')]"
            ".map(r => r.textContent).find(t => t.includes('stopApp'))"
        )
        assert "test operator" in row and "http" in row and "ok" in row, row
    finally:
        page.close()
    page = opened(browser, http_address, operator)
    try:
        page.wait_for(f"{row_state('web')} === 'stopped'")
        assert page.evaluate("document.querySelector('#audit-panel').hidden") is True
    finally:
        page.close()


GRAPH = """
[apps.db]
cmd = "sleep 600"

[apps.api]
cmd = "sleep 600"
depends_on = ["db"]

[apps.worker]
cmd = "sleep 600"
depends_on = ["api"]
"""


def bulk(label: str) -> str:
    return (
        "[...document.querySelectorAll('#bulk-actions button')]"
        f".find(b => b.textContent === '{label}')"
    )


def test_an_app_shows_what_it_needs_and_what_needs_it(
    browser: Browser, daemon: Client, load_apps: Any, http_address: tuple[str, int]
) -> None:
    load_apps(GRAPH)
    page = opened(browser, http_address, token(daemon, "viewer"), "/app/api")
    try:
        nodes = "[...document.querySelectorAll('#graph g.node')]"
        page.wait_for(f"{nodes}.length === 3")
        # Started first to the left: db, then api (outlined), then worker.
        xs = page.evaluate(
            f"Object.fromEntries({nodes}.map(g => [g.dataset.app, "
            "Number(g.querySelector('rect').getAttribute('x'))]))"
        )
        assert xs["db"] < xs["api"] < xs["worker"], xs
        assert page.evaluate("document.querySelector('#graph g.this').dataset.app") == "api"
        label = page.evaluate("document.querySelector('#graph svg').getAttribute('aria-label')")
        assert label == "api needs db; needed by worker"
        page.wait_for(
            "document.querySelector('#graph g[data-app=\"db\"]').classList"
            ".contains('state-running')"
        )
        daemon.call("stopApp", name="worker")  # the graph follows the states live
        page.wait_for(
            "document.querySelector('#graph g[data-app=\"worker\"]').classList"
            ".contains('state-stopped')"
        )
        page.evaluate(
            "document.querySelector('#graph g[data-app=\"db\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        page.wait_for("document.querySelector('#detail-title').textContent === 'db'")
        page.wait_for(f"{nodes}.length === 3")  # db's own: needed by api, through it worker
    finally:
        page.close()


def test_an_admin_adds_an_app_and_reloads_the_config_from_the_page(
    browser: Browser,
    daemon: Client,
    load_apps: Any,
    http_address: tuple[str, int],
    paths: InstancePaths,
) -> None:
    result = load_apps('[apps.web]\ncmd = ["sleep", "1000"]\n')
    config = result["files"][0]["source"]
    page = opened(browser, http_address, token(daemon, "operator"))
    try:
        page.wait_for(f"{bulk('Stop all')} !== undefined")
        assert page.evaluate(
            f"{bulk('Add app…')} === undefined && {bulk('Reload config')} === undefined"
        )
    finally:
        page.close()
    page = opened(browser, http_address, token(daemon, "admin"))
    try:
        page.wait_for(f"{bulk('Add app…')} !== undefined")
        page.evaluate(f"{bulk('Add app…')}.click()")
        assert page.evaluate("document.querySelector('#add-app').hidden") is False
        fill = (
            "(() => {{ const f = document.querySelector('#add-app');"
            " f.elements.name.value = {name}; f.elements.cmd.value = {cmd};"
            " f.elements.instances.value = '2'; f.requestSubmit(); }})()"
        )
        # The daemon's refusal is said, and the form stays, to be mended.
        page.evaluate(fill.format(name=json.dumps("web"), cmd=json.dumps("sleep 700")))
        page.wait_for("document.querySelector('#result').textContent.startsWith('add web: ')")
        assert "already" in page.evaluate("document.querySelector('#result').textContent")
        assert page.evaluate("document.querySelector('#add-app').hidden") is False
        page.evaluate(fill.format(name=json.dumps("extra"), cmd=json.dumps("sleep 700")))
        page.wait_for("document.querySelector('#result').textContent === 'add extra: done'")
        page.wait_for(f"{row_text('extra')}?.includes('2/2')")
        assert page.evaluate("document.querySelector('#add-app').hidden") is True
        assert daemon.call("getApp", name="extra")["source"] != config  # kept, not in the file
        # The file changes; the admin reloads it from the page.
        with open(config, "a") as f:
            f.write('\n[apps.later]\ncmd = ["sleep", "1000"]\n')
        page.evaluate(f"{bulk('Reload config')}.click()")
        page.wait_for("document.querySelector('#result').textContent.includes('added later')")
        page.wait_for(f"{row_state('later')} === 'running'")
        # A broken file changes nothing, and the page says why.
        with open(config, "a") as f:
            f.write("\n[apps.broken]\ninstances = -1\n")
        page.evaluate(f"{bulk('Reload config')}.click()")
        page.wait_for("document.querySelector('#result').classList.contains('error')")
        assert "broken" in page.evaluate("document.querySelector('#result').textContent")
        assert sorted(a["name"] for a in daemon.call("list")) == ["extra", "later", "web"]
    finally:
        page.close()


def test_sampling_on_the_table_draws_the_last_minutes(
    browser: Browser, daemon: Client, load_apps: Any, http_address: tuple[str, int]
) -> None:
    load_apps('[apps.web]\ncmd = ["sleep", "1000"]\ninstances = 2\n')
    daemon.call("setMetricsEnabled", enabled=True, interval=0.1)
    wait_for(lambda: len(daemon.call("getTrends")["times"]) >= 10, 10, what="10 samples")
    page = opened(browser, http_address, token(daemon, "viewer"))
    try:
        lines = "document.querySelectorAll('tr[data-app=\"web\"] svg.spark polyline')"
        page.wait_for(f"{lines}.length === 2")  # CPU and memory
        title = page.evaluate(
            "[...document.querySelectorAll('tr[data-app=\"web\"] svg.spark title')]"
            ".map(t => t.textContent).join(' / ')"
        )
        assert "CPU, last minutes: " in title and "memory, last minutes: " in title, title
        assert "KiB to" in title or "MiB to" in title, title
        # Sampling off: the lines go with the next frame of all the apps.
        daemon.call("setMetricsEnabled", enabled=False)
        page.wait_for(f"{lines}.length === 0", timeout=TICK + 5)
    finally:
        page.close()


DEMO = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "procward.toml")


def test_the_demo_as_make_run_starts_it(
    browser: Browser, daemon: Client, http_address: tuple[str, int]
) -> None:
    """`make run`'s apps (examples/procward.toml), each in the state the demo shows."""
    daemon.call("loadConfig", path=os.path.abspath(DEMO))
    page = opened(browser, http_address, token(daemon, "viewer"))
    try:
        # Two web servers, ready (their HTTP answers), and the worker that waited for them.
        page.wait_for(f"{row_state('web')} === 'running'", 20)
        page.wait_for(f"{row_text('web')}.includes('2/2') && {row_text('web')}.includes('ready')")
        page.wait_for(f"{row_state('worker')} === 'running'")
        # flaky: exit 3, backoff, and past its crash budget it is left crashed, saying so.
        page.wait_for(f"{row_state('flaky')} === 'crashed'", 20)
        # From the event on, before its summary comes: a process that ended has no pid.
        pid = "document.querySelector('tr[data-app=\"flaky\"] td.wide').textContent"
        assert page.evaluate(pid) == ""
        page.wait_for(f"{row_text('flaky')}.includes('exit 3')")  # its summary follows the event
        assert page.evaluate(row_text("flaky")).endswith("failing")
        open_app(page, "worker")
        page.wait_for(
            "document.querySelector('#graph svg')?.getAttribute('aria-label') "
            "=== 'worker needs web; needed by no app'"
        )
        page.wait_for("document.querySelector('#log').textContent.includes('tick from worker')")
    finally:
        page.close()
