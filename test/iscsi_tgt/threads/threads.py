#!/usr/bin/env python3
"""Placement of connections on cores, seen through iscsi_get_connections.

Usage: threads.py HOST PORT PORT_CORE1 TARGET RPC_SOCK. The target runs with -m 0x3; PORT is a
portal of every core, PORT_CORE1 a portal with cpumask 0x2. Sessions to one busy target spread
over both cores (least loaded first); a portal's cpumask keeps its connections on its cores;
each connection is reported with its core and thread, and I/O runs on both cores at once.
"""

import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'common'))
import iscsi_client as ic  # noqa: E402

HOST, PORT, PORT1, TARGET, RPC_SOCK = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                       sys.argv[4], sys.argv[5])
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


def connections():
    out = subprocess.run(['python3', RPC_PY, '-s', RPC_SOCK, 'iscsi_get_connections'],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out)


def login(port, i):
    c = ic.Connection(HOST, port)
    c.login(initiator='iqn.2016-06.io.keel:threads%d' % i, target=TARGET)
    c.scsi(ic.test_unit_ready())
    return c


def by_core(conns, port):
    count = {}
    for c in conns:
        if c['target_port'] == port:
            count[c['lcore_id']] = count.get(c['lcore_id'], 0) + 1
    return count


def io(c, lba, result, idx):
    data = os.urandom(64 * 1024)
    ok = True
    for _ in range(20):
        s1, _, _ = c.scsi(ic.write10(lba, 128), data=data)
        s2, _, rd = c.scsi(ic.read10(lba, 128), read_len=len(data))
        ok = ok and s1 == 0 and s2 == 0 and rd == data
    result[idx] = ok


def main():
    sessions = [login(PORT, i) for i in range(6)]
    conns = connections()
    mine = [c for c in conns if c['target_port'] == PORT]
    check('iscsi_get_connections lists the six sessions', len(mine) == 6, repr(conns))
    check('each connection names its core and thread',
          all('lcore_id' in c and c.get('thread_name', '').startswith('iscsi_poll_group_')
              and c['thread_name'].endswith('_%d' % c['lcore_id']) for c in mine), repr(mine))
    count = by_core(conns, PORT)
    check('the sessions of one target spread over both cores, three each',
          count == {0: 3, 1: 3}, repr(count))

    # Least loaded first: close two sessions of core 0, the next two go there.
    ordered = sorted(mine, key=lambda c: c['id'])
    gone = [s for s, c in zip(sessions, ordered) if c['lcore_id'] == 0][:2]
    for s in gone:
        s.logout()
        s.close()
        sessions.remove(s)
    time.sleep(0.5)  # the target frees a connection once its logout response is sent
    new = [login(PORT, 10 + i) for i in range(2)]
    sessions += new
    count = by_core(connections(), PORT)
    check('new connections go to the least loaded core', count == {0: 3, 1: 3}, repr(count))

    # I/O on all sessions at once, on both cores.
    result = {}
    threads = [threading.Thread(target=io, args=(s, 4096 * i, result, i))
               for i, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    check('I/O on six sessions over two cores at once', len(result) == 6 and
          all(result.values()), repr(result))

    # A portal with cpumask 0x2 keeps its connections on core 1.
    pinned = [login(PORT1, 20 + i) for i in range(3)]
    count = by_core(connections(), PORT1)
    check('a portal with cpumask 0x2 puts its connections on core 1', count == {1: 3},
          repr(count))
    for s in sessions + pinned:
        s.logout()
        s.close()
    return failed


if __name__ == '__main__':
    try:
        sys.exit(1 if main() else 0)
    except Exception as e:  # noqa: BLE001 - report any crash of the client as a failure
        print('FAIL: threads client stopped: %r' % e)
        sys.exit(1)
