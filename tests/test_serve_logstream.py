"""The service's log stream: a reader that stops reading costs lines, never the service."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from hookline.serve._logstream import MAX_PENDING, LogStream


def test_lines_come_out_in_order_and_all_at_close() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as inner:
        stream = LogStream(inner, interval=0.01)
        for n in range(100):
            stream.write(f"line {n}\n")
        stream.close()
    with os.fdopen(read_end) as reader:
        assert reader.read().splitlines() == [f"line {n}" for n in range(100)]


def test_a_stalled_reader_drops_the_oldest_lines_and_says_how_many() -> None:
    read_end, write_end = os.pipe()
    inner = os.fdopen(write_end, "w")
    stream = LogStream(inner, interval=0.01)
    line = "x" * 99 + "\n"
    stream.write(line * 1000)  # 100 KB: more than the pipe holds, the writer blocks
    time.sleep(0.2)
    started = time.monotonic()
    for n in range(MAX_PENDING + 500):  # never blocks, though nobody reads
        stream.write(f"line {n}\n")
    assert time.monotonic() - started < 5
    out: list[str] = []

    def read() -> None:
        with os.fdopen(read_end) as f:
            out.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    stream.close()
    inner.close()
    reader.join(10)
    lines = out[0].splitlines()
    assert "warning: 500 log lines dropped: the log was not read" in lines
    assert lines[-1] == f"line {MAX_PENDING + 499}"
    assert "line 499" not in lines and "line 500" in lines


def test_a_closed_reader_is_ignored() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    inner = os.fdopen(write_end, "w")
    stream = LogStream(inner, interval=0.01)
    stream.write("nobody reads this\n")
    stream.close()  # EPIPE inside: swallowed
    with contextlib.suppress(BrokenPipeError):
        inner.close()
