"""Ready once it says so: READY=1 on $NOTIFY_SOCKET, which replaced process.send('ready')."""

import os
import signal
import socket
import sys

signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
address = os.environ["NOTIFY_SOCKET"]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"READY=1", "\0" + address[1:] if address.startswith("@") else address)
signal.pause()
