"""A persistent circusd connection for the bench, run by *Circus's own* interpreter.

The bench's interpreter has no ZeroMQ; this script runs under the venv that
holds Circus (``bench/.peers/circus``) and keeps one ``CircusClient`` open.
It reads one JSON request a line on stdin and answers one JSON line on stdout:

- ``{"command": NAME, "properties": {...}}``: forwarded to circusd as is; the
  answer is circusd's reply, or ``{"error": TEXT}`` if it did not answer.
- ``{"pids": [NAME, ...]}``: one ``list`` call per watcher (Circus has no cheap call
  that lists every watcher's pids: ``stats`` asks psutil about each process), answered
  as ``{"status": "ok", "pids": {NAME: [PID, ...]}}``, or ``{"error": TEXT}``.
- ``{"rtt": [CALLS, WARMUP]}``: that many ``numwatchers`` round trips, timed
  here (ns), answered as ``{"samples": [...]}``.

It imports nothing of the bench and exits at the end of its stdin.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from circus.client import CircusClient

    endpoint, timeout = sys.argv[1], float(sys.argv[2])
    client = CircusClient(endpoint=endpoint, timeout=timeout)
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if "rtt" in request:
                calls, warmup = request["rtt"]
                message = {"command": "numwatchers", "properties": {}}
                for _ in range(warmup):
                    client.call(message)
                samples = [0] * calls
                clock = time.perf_counter_ns
                for i in range(calls):
                    t0 = clock()
                    client.call(message)
                    samples[i] = clock() - t0
                answer: object = {"samples": samples}
            elif "pids" in request:
                try:
                    pids = {}
                    for name in request["pids"]:
                        reply = client.call({"command": "list", "properties": {"name": name}})
                        pids[name] = reply.get("pids", []) if reply.get("status") == "ok" else []
                    answer = {"status": "ok", "pids": pids}
                except Exception as exc:  # CallError: no answer within the timeout
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                try:
                    answer = client.call(request)
                except Exception as exc:  # CallError: no answer within the timeout
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        client.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
