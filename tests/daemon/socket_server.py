"""An app for reload tests: ``socket_server.py HOME``.

It serves on the first of the daemon's sockets (LISTEN_FDS). It exits 3 at
start when HOME/broken exists, logs "start <instance> <time>" and "stop
<instance> <time>" to HOME/events, waits HOME/warmup seconds (if that file
exists) before saying READY=1, and answers every connection with its pid; on
SIGTERM it stops accepting and exits.
"""

import os
import signal
import sys
import time

from procward.kit.notify import listen_fds, notify

home = sys.argv[1]
index = os.environ.get("PROCWARD_INSTANCE", "0")


def event(what: str) -> None:
    with open(os.path.join(home, "events"), "a") as f:
        f.write(f"{what} {index} {time.time()!r}\n")


if os.path.exists(os.path.join(home, "broken")):
    sys.exit(3)
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
notify("READY=1")
server.settimeout(0.02)
while not stopping:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        continue
    conn.settimeout(None)
    conn.recv(100)
    conn.sendall(str(os.getpid()).encode())
    conn.close()
event("stop")
