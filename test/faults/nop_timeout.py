"""NOP-In timeout: with nop_in_interval 1 s and nop_timeout 2 s, an initiator that stops
answering is dropped (its session and resources freed) within a few seconds, while one that
answers the target's pings while idle stays, and one that keeps reading is never disturbed.
Usage: nop_timeout.py HOST PORT TARGET RPC_SOCK PID"""

import socket
import sys
import threading
import time

import faults_common as fc
import iscsi_client as ic

host, port, target, sock, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], \
    int(sys.argv[5])
BS = 512


def names():
    return [c['initiator_name'] for c in fc.rpc(sock, 'iscsi_get_connections')]


start = fc.pool_stats(sock)
silent = fc.Pipeline(host, port, timeout=10)
silent.login(initiator='iqn.2016-06.io.keel:silent', target=target)
pinged = fc.Pipeline(host, port, timeout=10)
pinged.login(initiator='iqn.2016-06.io.keel:pinged', target=target)
busy = fc.Pipeline(host, port, timeout=10)
busy.login(initiator='iqn.2016-06.io.keel:busy', target=target)
fc.check('three sessions logged in', fc.pool_stats(sock)['sessions'] == 3)

stop = threading.Event()
pings = [0]
pinged_error = []


def answer_pings():
    pinged.sock.settimeout(0.2)
    while not stop.is_set():
        try:
            pdu = pinged.recv_pdu()
        except socket.timeout:
            continue
        except (OSError, ic.ProtocolError) as e:
            pinged_error.append(str(e))
            return
        if pdu.opcode == ic.OP_NOP_IN and pdu.u32(20) != 0xFFFFFFFF:
            pinged.nop_reply(pdu)
            pings[0] += 1


t = threading.Thread(target=answer_pings)
t.start()
t0 = time.time()
dropped_after = None
busy_errors = 0
reads = 0
while time.time() - t0 < 8:
    try:
        busy.submit(reads % 1000, 8, BS)
        _, status, _ = busy.complete_one()
        reads += status == 0
    except (OSError, ic.ProtocolError) as e:
        busy_errors += 1
        print('busy: %s' % e)
        break
    if dropped_after is None and 'iqn.2016-06.io.keel:silent' not in names():
        dropped_after = time.time() - t0
    time.sleep(0.1)
stop.set()
t.join()

fc.check('the initiator that stopped answering is dropped', dropped_after is not None)
if dropped_after is not None:
    print('dropped after %.1f s' % dropped_after)
    fc.check('... within nop_in_interval + nop_timeout + 3 s of polling', dropped_after < 6.0,
             '%.1f s' % dropped_after)
fc.check('an idle initiator that answers the pings stays logged in',
         'iqn.2016-06.io.keel:pinged' in names() and not pinged_error and pings[0] >= 2,
         'pings %d, errors %s' % (pings[0], pinged_error))
fc.check('the busy initiator was never disturbed (%d reads)' % reads,
         busy_errors == 0 and reads > 20)
try:
    silent.nop()
    fc.check('the dropped connection is closed by the target', False)
except (OSError, ic.ProtocolError):
    fc.check('the dropped connection is closed by the target', True)
silent.close()
pinged.sock.settimeout(10)
for c in (busy, pinged):
    c.logout()
    c.close()
got = fc.wait_pools(sock, start)
fc.check('pools, sessions and connections back to their start values', got == start,
         'now %s, at start %s' % (got, start))
sys.exit(fc.exit_status())
