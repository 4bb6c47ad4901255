#!/usr/bin/env python3
"""Send one command to a QEMU monitor (QMP) on a Unix socket and print its answer.

Usage: qmp.py SOCKET COMMAND [JSON_ARGUMENTS]
       qmp.py SOCKET wait-gone DEVICE_ID SECONDS

The first form prints the command's "return" value as JSON and exits 0, or prints QEMU's error
and exits 1. wait-gone polls until the device DEVICE_ID (a -device id=...) no longer exists, that
is until the guest let go of it after device_del; exits 0 when it is gone, 1 at the limit.
"""

import json
import socket
import sys
import time


class Monitor:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.recv()  # the greeting
        self.call("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("QEMU closed the monitor")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.recv()
            if "return" in reply or "error" in reply:
                return reply
            # Asynchronous events (DEVICE_DELETED...) come in between: skip them.


def device_exists(mon, dev_id):
    reply = mon.call("qom-list", {"path": "/machine/peripheral/" + dev_id})
    return "return" in reply


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    mon = Monitor(sys.argv[1])
    if sys.argv[2] == "wait-gone":
        deadline = time.monotonic() + float(sys.argv[4])
        while device_exists(mon, sys.argv[3]):
            if time.monotonic() > deadline:
                print("device %s still there after %s s" % (sys.argv[3], sys.argv[4]))
                return 1
            time.sleep(0.2)
        return 0
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    reply = mon.call(sys.argv[2], args)
    if "error" in reply:
        print("QMP error: %s" % reply["error"].get("desc", reply["error"]))
        return 1
    print(json.dumps(reply["return"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
