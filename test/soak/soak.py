"""Soak: for DURATION seconds, several clients run mixed traffic against one target while the
target is reconfigured under them. Writers (pipelined, queue depth 8) write blocks that name
their writer, generation and LBA and read them back to verify; they disconnect at random (a
clean logout or a dropped socket) and come back. libiscsi's iscsi-perf reads alongside and is
killed at random. Every few seconds an RPC adds a LUN (a new malloc bdev) or removes one, or
adds a portal group. Prints operations, errors (data mismatches are errors) and the target's
resident memory at start and end; fails on any data error or if the target dies.
Usage: soak.py HOST PORT TARGET RPC_SOCK PID DURATION"""

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'faults'))
import faults_common as fc  # noqa: E402
import iscsi_client as ic  # noqa: E402

host, port, target, sock, pid, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
BS = 512
REGION = 8192                 # blocks per writer on LUN 0
stop_at = time.time() + duration
lock = threading.Lock()
stats = {'writes': 0, 'reads': 0, 'verified': 0, 'mismatches': 0, 'disconnects': 0,
         'io_errors': 0, 'unit_attentions': 0, 'perf_runs': 0, 'rpc_changes': 0, 'rpc_errors': 0}


def bump(key, n=1):
    with lock:
        stats[key] += n


def writer(idx):
    rng = random.Random(idx)
    known = {}                # lba -> tag of the last acknowledged write
    gen = 0
    while time.time() < stop_at:
        c = fc.Pipeline(host, port, timeout=10)
        try:
            c.login(initiator='iqn.2016-06.io.keel:soak%d' % idx, target=target)
            c.scsi(ic.test_unit_ready())
            for _ in range(rng.randrange(20, 200)):
                if time.time() >= stop_at:
                    break
                tags = {}
                for _ in range(8):
                    lba = idx * REGION + rng.randrange(REGION // 8) * 8
                    if lba in tags.values():
                        continue
                    tag = 's%d-%d' % (idx, gen)
                    gen += 1
                    data = b''.join(fc.pattern(tag, lba + k, BS) for k in range(8))
                    tags[c.submit(lba, 8, BS, data=data)] = (lba, tag)
                while c.inflight:
                    itt, status, _ = c.complete_one()
                    if status != 0:  # a unit attention: the write did not happen
                        bump('unit_attentions')
                        known.pop(tags[itt][0], None)
                        continue
                    bump('writes')
                    known[tags[itt][0]] = tags[itt][1]
                for lba in rng.sample(sorted(known), min(4, len(known))):
                    for _ in range(3):  # unit attentions (LUNs added or removed) first
                        c.submit(lba, 8, BS)
                        _, status, info = c.complete_one()
                        if status != 2:
                            break
                    bump('reads')
                    expect = b''.join(fc.pattern(known[lba], lba + k, BS) for k in range(8))
                    if status == 0 and bytes(info['in']) == expect:
                        bump('verified')
                    else:
                        bump('mismatches')
                        print('MISMATCH writer %d lba %d status %d' % (idx, lba, status),
                              flush=True)
            bump('disconnects')
            if rng.random() < 0.5:
                c.logout()
            else:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  b'\x01\0\0\0\0\0\0\0')
        except (OSError, ic.ProtocolError) as e:
            bump('io_errors')
            print('writer %d: %s' % (idx, e), flush=True)
            # Writes in flight when the connection broke may or may not have landed.
            known.clear()
            time.sleep(0.2)
        finally:
            c.close()


def perf():
    rng = random.Random(99)
    url = 'iscsi://%s:%d/%s/0' % (host, port, target)
    while time.time() < stop_at:
        p = subprocess.Popen(['iscsi-perf', '-b', '8', '-m', '8', url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 3.0))
        p.send_signal(signal.SIGKILL)     # the initiator vanishes
        p.wait()
        bump('perf_runs')


def reconfigure():
    rng = random.Random(7)
    extra = []
    pg = 10
    n = 0
    while time.time() < stop_at:
        time.sleep(rng.uniform(1.0, 3.0))
        try:
            r = rng.random()
            if r < 0.4 or not extra:
                name = 'SoakLun%d' % n
                n += 1
                lun = 1 + n % 60
                fc.rpc(sock, 'bdev_malloc_create', {'name': name, 'num_blocks': 8192,
                                                    'block_size': 512})
                fc.rpc(sock, 'iscsi_target_node_add_lun', {'name': target, 'bdev_name': name,
                                                           'lun_id': lun})
                extra.append(name)
            elif r < 0.8:
                fc.rpc(sock, 'bdev_malloc_delete', {'name': extra.pop(0)})
            else:
                p = socket.socket()
                p.bind(('127.0.0.1', 0))
                free = p.getsockname()[1]
                p.close()
                fc.rpc(sock, 'iscsi_create_portal_group',
                       {'tag': pg, 'portals': [{'host': '127.0.0.1', 'port': str(free)}]})
                pg += 1
            bump('rpc_changes')
        except (OSError, RuntimeError) as e:
            bump('rpc_errors')
            print('rpc: %s' % e, flush=True)


rss_start = fc.rss_kb(pid)
threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=perf), threading.Thread(target=reconfigure)]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
rss_end = fc.rss_kb(pid) if fc.alive(pid) else 0
print('soak: %.0f s; %s' % (time.time() - t0, ', '.join('%s %d' % kv for kv in stats.items())))
print('soak: target resident memory %d KiB at start, %d KiB at the end' % (rss_start, rss_end))
fc.check('soak: the target is alive after %.0f s' % duration, fc.alive(pid))
fc.check('soak: every block read back matched what was written (%d verified)' %
         stats['verified'], stats['mismatches'] == 0 and stats['verified'] > 0)
fc.check('soak: RPC changes all answered (%d)' % stats['rpc_changes'], stats['rpc_errors'] == 0)
sys.exit(fc.exit_status())
