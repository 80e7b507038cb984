"""A tiny server for the import tests: it answers on a listening socket it inherited.

    python3 serve.py --fd N    the fd that Circus's $(circus.sockets.x) names
    python3 serve.py --stdin   the socket on fd 0, as FastCGI programs take it

Each connection gets one line, GREETING (default hello), the instance index and
the fd, and is closed.
"""

import os
import socket
import sys

fd = 0 if sys.argv[1] == "--stdin" else int(sys.argv[2])
listener = socket.socket(fileno=fd)
listener.setblocking(True)
greeting = os.environ.get("GREETING", "hello")
while True:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(f"{greeting} {os.environ.get('PROCWARD_INDEX')} fd={fd}\n".encode())
