"""The load generator's tally, and one request against a real socket."""

from __future__ import annotations

import socket
import threading

from bench.httpload import Load, Outcome, Sample, get, tally

from procward.kit.testing import free_port, wait_for


def samples(*pairs: tuple[Outcome, float]) -> list[Sample]:
    return [Sample(at=float(i), seconds=s, outcome=o) for i, (o, s) in enumerate(pairs)]


def test_tally_counts_failures_by_kind_and_times_only_the_good_requests() -> None:
    ok = [(Outcome.OK, i / 1000) for i in range(1, 101)]  # 1 ms .. 100 ms
    bad = [(Outcome.TIMEOUT, 2.0), (Outcome.REFUSED, 0.0), (Outcome.REFUSED, 0.0)]
    t = tally(samples(*ok, *bad))
    assert t.total == 103
    assert t.failed == 3
    assert dict(t.failures) == {Outcome.REFUSED: 2, Outcome.TIMEOUT: 1}
    assert t.failures_label() == "3 (refused 2, timeout 1)"  # in Outcome's order
    assert t.p99 == 0.099  # nearest rank of the 100 good ones: the 2 s timeout is not in it
    assert t.max == 0.1
    assert round(t.failed_percent, 3) == round(300 / 103, 3)


def test_tally_without_requests_or_without_good_ones() -> None:
    empty = tally([])
    assert (empty.total, empty.failed, empty.failed_percent, empty.p99) == (0, 0, 0.0, None)
    assert empty.failures_label() == "0"
    all_bad = tally(samples((Outcome.RESET, 0.01)))
    assert (all_bad.failed_percent, all_bad.p99, all_bad.max) == (100.0, None, None)


def test_get_sees_refused_good_and_bad_answers() -> None:
    port = free_port()
    assert get(port) is Outcome.REFUSED
    for answer, expected in [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", Outcome.OK),
        (b"HTTP/1.1 503 Busy\r\n\r\nok", Outcome.BAD),
        (b"", Outcome.RESET),
    ]:
        with socket.create_server(("127.0.0.1", 0)) as server:
            replier = threading.Thread(target=reply_once, args=(server, answer))
            replier.start()
            assert get(server.getsockname()[1]) is expected
            replier.join()


def test_load_stops_and_returns_every_request() -> None:
    answered: list[int] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        replier = threading.Thread(target=reply_ok, args=(server, answered), daemon=True)
        replier.start()
        with Load(port, clients=3) as load:
            wait_for(lambda: len(answered) >= 6, what="six requests answered")
            done = load.stop()
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the replier
        replier.join()
    assert len(done) >= 6
    assert {s.outcome for s in done} == {Outcome.OK}


def reply_ok(server: socket.socket, answered: list[int]) -> None:
    """Answer ``200 ok`` until the server socket is shut down."""
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        answered.append(1)


def reply_once(server: socket.socket, answer: bytes) -> None:
    conn, _ = server.accept()
    with conn:
        conn.recv(4096)
        conn.sendall(answer)
