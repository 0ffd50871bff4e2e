#!/usr/bin/env python3
"""A stand-in for qemu-system-x86_64 for the machine layer's unit tests.

It understands just enough of QEMU's command line (the console and QMP
unix socket chardevs, -S) to serve a fake console and a QMP monitor.
FAKE_QEMU_SCENARIO picks what the "guest" does after `cont`:
  ready      prints a boot log and ORCHESTRATOR-READY, then idles
  panic      prints a kernel panic, then exits (as -no-reboot does)
  oops       prints an oops and stays
  silent     prints nothing at all
  exit       exits with status 1 right after `cont`
  nostart    fails before creating any socket, with an error on stderr
  bootfail   prints the init's failure marker
  qmpdrop    closes the QMP connection after `cont`
FAKE_QEMU_QMP_LOG, if set, names a file that gets each QMP command's name.
More monitors (chardev ids `watch`, the freeze watch's, and `spare`) are served too;
`stop` and `cont` on any monitor set the run state query-status reports.
"""

import json
import os
import socket
import sys
import threading
import time

scenario = os.environ.get("FAKE_QEMU_SCENARIO", "ready")
argv = sys.argv[1:]


def chardev_path(ident, required=True):
    for i, a in enumerate(argv):
        if a == "-chardev" and f"id={ident}," in argv[i + 1]:
            for part in argv[i + 1].split(","):
                if part.startswith("path="):
                    return part[5:]
    if required:
        raise SystemExit(f"fake qemu: no chardev {ident}")
    return None


if scenario == "nostart":
    print("qemu-system-x86_64: -nic user: Could not set up host forwarding rule", file=sys.stderr)
    raise SystemExit(1)

listeners = {}
for ident in ("console", "qmp", "watch", "spare"):
    path = chardev_path(ident, required=ident in ("console", "qmp"))
    if path is None:
        continue
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    listeners[ident] = s
run_state = ["prelaunch"]

console_conn = []
started = threading.Event()


def console_thread():
    conn, _ = listeners["console"].accept()
    console_conn.append(conn)
    started.wait()
    say = lambda text: conn.sendall(text.encode())
    if scenario == "silent":
        return
    say("[    0.000000] Linux version 6.1.0 (fake)\r\n[    0.100000] Booting\r\n")
    time.sleep(0.2)
    if scenario == "panic":
        say("[    1.000000] Kernel panic - not syncing: VFS: Unable to mount root fs\r\n")
        time.sleep(0.2)
        os._exit(0)
    if scenario == "oops":
        say("[    1.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000\r\n")
        return
    if scenario == "bootfail":
        say("ORCHESTRATOR-BOOT-FAILED: sshd: did not start\r\n")
        return
    say("orchestrator-init: up\r\nORCHESTRATOR-READY\r\n")


def qmp_thread(ident="qmp"):
    while True:  # QEMU takes one client at a time, then listens again
        conn, _ = listeners[ident].accept()
        serve_qmp(conn)


def messages(conn):
    """QMP is a JSON stream: clients need not end a command with a newline."""
    decoder, buf = json.JSONDecoder(), ""
    while True:
        data = conn.recv(4096)
        if not data:
            return
        buf += data.decode()
        while buf.strip():
            try:
                msg, end = decoder.raw_decode(buf.lstrip())
            except json.JSONDecodeError:
                break
            buf = buf.lstrip()[end:]
            yield msg


def serve_qmp(conn):
    f = conn.makefile("rwb", buffering=0)
    def send(obj):
        if obj.get("id", 0) is None:
            del obj["id"]  # a command without an id gets a reply without one
        f.write((json.dumps(obj) + "\r\n").encode())

    send({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "fake"}, "capabilities": []}})
    for msg in messages(conn):
        cmd, ident = msg.get("execute"), msg.get("id")
        if os.environ.get("FAKE_QEMU_QMP_LOG"):  # the commands it got, for tests to check
            with open(os.environ["FAKE_QEMU_QMP_LOG"], "a") as log:
                log.write(f"{cmd}\n")
        if cmd == "stop":
            run_state[0] = "paused"
            send({"return": {}, "id": ident})
        elif cmd == "cont":
            run_state[0] = "running"
            send({"return": {}, "id": ident})
            started.set()
            if scenario == "exit":
                time.sleep(0.1)
                os._exit(1)
            if scenario == "qmpdrop":
                time.sleep(0.1)
                conn.close()
                return
        elif cmd == "query-status":
            send({"return": {"status": run_state[0], "running": run_state[0] == "running", "singlestep": False}, "id": ident})
        elif cmd in ("system_powerdown", "quit"):
            send({"return": {}, "id": ident})
            if cmd == "quit" or scenario != "silent":  # a hung guest ignores the power button
                time.sleep(0.1)
                os._exit(0)
        else:
            send({"return": {}, "id": ident})


threading.Thread(target=console_thread, daemon=True).start()
threading.Thread(target=qmp_thread, daemon=True).start()
for extra in ("watch", "spare"):
    if extra in listeners:
        threading.Thread(target=qmp_thread, args=(extra,), daemon=True).start()
while True:
    time.sleep(1)
