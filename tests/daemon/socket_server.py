"""An app for reload tests: ``socket_server.py HOME``.

It serves on the first of the daemon's sockets (LISTEN_FDS). It exits 3 at
start when HOME/broken exists (a broken new version; when the file holds a
number, it first serves that many seconds without ever saying READY=1),
logs "start <instance> <time>" and "stop <instance> <time>" to HOME/events,
waits HOME/warmup seconds (if that file
exists) before saying READY=1, and answers every connection with its pid; on
SIGTERM it stops accepting and exits.
"""

import os
import signal
import sys
import time

from procward.kit._notify import listen_fds, notify

home = sys.argv[1]
index = os.environ.get("PROCWARD_INDEX", "0")


def event(what: str) -> None:
    with open(os.path.join(home, "events"), "a") as f:
        f.write(f"{what} {index} {time.time()!r}\n")


broken = os.path.join(home, "broken")
lifetime = None
if os.path.exists(broken):
    with open(broken) as f:
        text = f.read().strip()
    if not text:
        sys.exit(3)
    lifetime = float(text)
event("start")
held = listen_fds()
with open(os.path.join(home, f"fds.{index}"), "w") as f:
    name, sock = held[0]
    f.write(f"{name} {sock.fileno()} {sock.getsockname()}\n")
server = held[0][1]
stopping = False


def stop(*_: object) -> None:
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
try:
    with open(os.path.join(home, "warmup")) as f:
        time.sleep(float(f.read()))
except FileNotFoundError:
    pass
if lifetime is None:
    notify("READY=1")
end = time.monotonic() + lifetime if lifetime is not None else None
server.settimeout(0.02)
while not stopping:
    if end is not None and time.monotonic() > end:
        sys.exit(3)
    try:
        conn, _ = server.accept()
    except TimeoutError:
        continue
    conn.settimeout(None)
    conn.recv(100)
    conn.sendall(str(os.getpid()).encode())
    conn.close()
event("stop")
