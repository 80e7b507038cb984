"""A tiny HTTP server for probe tests: ``probe_server.py PORT DELAY STATUS_FILE STAMP_FILE``.

Sleeps ``DELAY`` seconds, listens on 127.0.0.1:PORT, writes the time it began
listening to STAMP_FILE, then answers every request with the status code
read from STATUS_FILE (200 when the file is missing).
"""

import socket
import sys
import time

port, delay, status_file, stamp_file = int(sys.argv[1]), float(sys.argv[2]), *sys.argv[3:5]
time.sleep(delay)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen()
with open(stamp_file, "w") as f:
    f.write(f"{time.time()!r}\n")
while True:
    conn, _ = server.accept()
    conn.recv(4096)
    try:
        with open(status_file) as f:
            code = f.read().strip() or "200"
    except FileNotFoundError:
        code = "200"
    conn.sendall(f"HTTP/1.0 {code} Test\r\nContent-Length: 0\r\n\r\n".encode())
    conn.close()
