#!/usr/bin/env python3
"""A stand-in for `perf stat`/`perf record` for the collector scripts' unit
tests: just enough of the `-D -1 --control fifo:CTL,ACK` protocol.

It opens the fifos as perf does (ctl read-write, ack write-only), prints
"Events disabled", acknowledges each command with "ack\\n" and a NUL, and
on SIGINT writes every command it saw, one per line, to the `-o` file and
exits. FAKE_PERF picks a misbehaviour:
  exit     exits at once, before it is set up
  mute     never reads its control fifo
"""

import os
import signal
import sys
import time

argv = sys.argv[1:]
mode = os.environ.get("FAKE_PERF", "")
out = argv[argv.index("-o") + 1]
ctl, ack = argv[argv.index("--control") + 1].removeprefix("fifo:").split(",")
if mode == "exit":
    print("fake perf: cannot attach", file=sys.stderr)
    sys.exit(1)
ctl_fd = os.open(ctl, os.O_RDWR | os.O_NONBLOCK)
ack_fd = os.open(ack, os.O_WRONLY)
print("Events disabled", flush=True)
seen: list[str] = []


def finish(*_):
    with open(out, "w") as f:
        f.write("".join(f"{c}\n" for c in seen))
    sys.exit(0)


signal.signal(signal.SIGINT, finish)
buf = b""
while True:
    if mode == "mute":
        time.sleep(0.05)
        continue
    try:
        buf += os.read(ctl_fd, 256)
    except BlockingIOError:
        time.sleep(0.01)
        continue
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        seen.append(line.decode())
        os.write(ack_fd, b"ack\n\0")
