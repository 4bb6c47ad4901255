#!/usr/bin/env python3
"""Deleting what sessions use while they run I/O.

Usage: delete_busy.py HOST PORT PORT3 TARGET_A TARGET_B PID RPC_SOCK. Target A is mapped
through portal groups 1 (PORT) and 3 (PORT3), target B through group 1. Every session runs a
WRITE/READ loop and logs out when the target asks it to (AsyncEvent 1). Portal group 3 loses its
map and is deleted, then target A is deleted: their sessions are asked to log out and go, the
session of target B runs on untouched, and memory does not grow.
"""

import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'common'))
import iscsi_client as ic  # noqa: E402

HOST, PORT, PORT3, TARGET_A, TARGET_B, PID, RPC_SOCK = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]),
    sys.argv[7])
RPC_PY = os.path.join(HERE, '..', '..', '..', 'scripts', 'rpc.py')
failed = 0


def check(name, ok, detail=''):
    global failed
    if ok:
        print('PASS: %s' % name)
    else:
        failed += 1
        print('FAIL: %s %s' % (name, detail))
    sys.stdout.flush()


def rpc(*args):
    return subprocess.run(['python3', RPC_PY, '-s', RPC_SOCK, '-t', '60'] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)


def rss_kb():
    with open('/proc/%d/status' % PID) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class Initiator(ic.Connection):
    """A connection that notes the target's logout requests while it runs commands."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.logout_requested = False

    def recv_pdu(self):
        pdu = super().recv_pdu()
        if pdu.opcode == ic.OP_ASYNC and pdu.bhs[36] == 1:
            self.logout_requested = True
        return pdu


class Worker(threading.Thread):
    """WRITE/READ/compare loop on one session until stopped or asked to log out."""

    def __init__(self, port, target, name, lba):
        super().__init__()
        self.c = Initiator(HOST, port)
        self.c.login(initiator='iqn.2016-06.io.keel:' + name, target=target)
        self.c.scsi(ic.test_unit_ready())
        self.lba = lba
        self.stop = threading.Event()
        self.ios = 0
        self.bad = 0
        self.error = None
        self.logout_rsp = None
        self.logged_out = threading.Event()

    def run(self):
        data = os.urandom(32 * 1024)
        try:
            while not self.stop.is_set():
                s1, _, _ = self.c.scsi(ic.write10(self.lba, 64), data=data)
                s2, _, rd = self.c.scsi(ic.read10(self.lba, 64), read_len=len(data))
                self.ios += 2
                if s1 != 0 or s2 != 0 or rd != data:
                    self.bad += 1
                if self.c.logout_requested:
                    self.logout_rsp = self.c.logout()
                    self.logged_out.set()
                    break
        except Exception as e:  # noqa: BLE001 - reported by the checks
            self.error = repr(e)
        finally:
            self.c.close()


def main():
    # Warm up the pools (pages are touched on first use) as many sessions at once as below.
    warm = [Worker(PORT, TARGET_B, 'warm%d' % i, 256 * i) for i in range(5)]
    for w in warm:
        w.start()
    time.sleep(2)
    for w in warm:
        w.stop.set()
    for w in warm:
        w.join()
    time.sleep(0.5)
    before = rss_kb()

    a1 = Worker(PORT, TARGET_A, 'a1', 0)
    a3 = Worker(PORT3, TARGET_A, 'a3', 1024)
    b1 = Worker(PORT, TARGET_B, 'b1', 0)
    for w in (a1, a3, b1):
        w.start()
    time.sleep(1.5)

    # Portal group 3 loses its map: its session is asked to log out; then the group goes.
    r = rpc('iscsi_target_node_remove_pg_ig_maps', TARGET_A, '3:2')
    check('remove the only map of portal group 3 with a session running I/O there',
          r.returncode == 0, r.stdout)
    check('...its session is asked to log out and does', a3.logged_out.wait(20) and
          a3.logout_rsp == 0, 'rsp %r error %r' % (a3.logout_rsp, a3.error))
    a3.join(10)
    r = rpc('iscsi_delete_portal_group', '3')
    check('then portal group 3 is deleted', r.returncode == 0, r.stdout)
    check('...no more logins through it', 'connection refused' in (
        subprocess.run(['python3', '-c', 'import socket; socket.create_connection(("%s", %d), 2)'
                        % (HOST, PORT3)], stderr=subprocess.PIPE, text=True).stderr.lower()))
    check('the session of target A through portal group 1 still runs', a1.is_alive() and
          not a1.c.logout_requested and a1.error is None, repr(a1.error))

    # Target A deleted with I/O running: the call answers once its session has logged out.
    ios_a1 = a1.ios
    t0 = time.time()
    r = rpc('iscsi_delete_target_node', TARGET_A)
    took = time.time() - t0
    check('iscsi_delete_target_node with a session running I/O', r.returncode == 0, r.stdout)
    check('...its session ran I/O until asked to log out', a1.ios > ios_a1 and a1.bad == 0,
          'ios %d bad %d' % (a1.ios, a1.bad))
    check('...and logged out cleanly (logout response 0)', a1.logged_out.is_set() and
          a1.logout_rsp == 0, 'rsp %r error %r' % (a1.logout_rsp, a1.error))
    check('...the delete answered within seconds, not at the 30 s limit', took < 20,
          '%.1f s' % took)
    a1.join(10)
    r = rpc('iscsi_get_target_nodes')
    check('target A is gone, target B stays', TARGET_A not in r.stdout and TARGET_B in r.stdout)

    # Target B's session ran all along.
    ios_b1 = b1.ios
    time.sleep(1)
    check('the other target\'s session kept running I/O', b1.is_alive() and b1.ios > ios_b1 and
          b1.bad == 0 and b1.error is None and not b1.c.logout_requested,
          'ios %d bad %d error %r' % (b1.ios, b1.bad, b1.error))
    r = rpc('iscsi_get_connections')
    check('iscsi_get_connections lists only its connection', r.stdout.count('"id"') == 1,
          r.stdout)
    b1.stop.set()
    b1.join(30)
    check('...which logs out normally', b1.error is None, repr(b1.error))

    # A bdev of a target with many sessions, deleted under I/O: the LUN goes, sessions stay.
    workers = [Worker(PORT, TARGET_B, 'b%d' % i, 256 * i) for i in range(4)]
    for w in workers:
        w.start()
    time.sleep(1)
    r = rpc('bdev_malloc_delete', 'Malloc1')
    check('deleting the bdev of target B\'s LUN 0 under four sessions\' I/O', r.returncode == 0,
          r.stdout)
    time.sleep(1)
    for w in workers:
        w.stop.set()
    for w in workers:
        w.join(30)
    check('...the sessions end their commands with a status, none is dropped',
          all(w.error is None for w in workers), repr([w.error for w in workers]))
    check('...and the target has no connection left after their logouts',
          rpc('iscsi_get_connections').stdout.strip() == '[]')
    time.sleep(0.5)
    after = rss_kb()
    print('resident memory: %d KiB before, %d KiB after' % (before, after))
    check('resident memory flat after the deletions', after - before < 8192,
          '%d KiB growth' % (after - before))
    return failed


if __name__ == '__main__':
    try:
        sys.exit(1 if main() else 0)
    except Exception as e:  # noqa: BLE001 - report any crash of the client as a failure
        print('FAIL: delete_busy client stopped: %r' % e)
        sys.exit(1)
