"""Initiators that vanish mid-transfer: the socket closes during login, while the target waits
for Data-Out after an R2T, while it sends Data-In, and inside a PDU. After each kind, the
target's PDU, task and buffer pools, sessions and connections must be back to their values at
start (iscsi_get_pool_stats), and a new initiator must still log in and read.
Usage: vanish.py HOST PORT TARGET RPC_SOCK PID [ROUNDS]"""

import socket
import struct
import sys
import time

import faults_common as fc
import iscsi_client as ic

host, port, target, sock, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], \
    int(sys.argv[5])
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 30
BS = 512


def login(cls=fc.Pipeline, **kw):
    c = cls(host, port, timeout=10)
    c.login(target=target, **kw)
    return c


def hard_close(c):
    # RST instead of FIN: nothing more is read or sent on our side.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()


def during_login(i):
    c = ic.Connection(host, port, timeout=10)
    keys = ic.encode_text([('InitiatorName', 'iqn.2016-06.io.keel:vanish%d' % i),
                           ('SessionType', 'Normal'), ('TargetName', target),
                           ('AuthMethod', 'None')])
    bhs = c.login_bhs(0, 1, itt=1)
    if i % 3 == 0:
        c.send_raw(bytes(bhs[:20]))          # half a header
    elif i % 3 == 1:
        c.send_pdu(bhs, keys)                # a whole first request, answer unread
    else:
        c.send_pdu(bhs, keys)
        c.recv_pdu()                         # the answer, then gone before the next stage
    hard_close(c) if i % 2 else c.close()


def during_r2t(i):
    c = login()
    blocks = 2048                            # 1 MiB: several R2Ts of MaxBurstLength
    c.submit(8 * i, blocks, BS, data=b'\xab' * (blocks * BS))
    pdu = c.recv_pdu()
    while pdu.opcode != ic.OP_R2T:
        pdu = c.recv_pdu()
    # Half of what the R2T asked for, then gone.
    ttt, off, length = pdu.u32(20), pdu.u32(40), pdu.u32(44)
    c._send_data_out(pdu.itt, ttt, b'\xcd' * (blocks * BS), off, length // 2, 0)
    hard_close(c) if i % 2 else c.close()


def during_data_in(i):
    c = login()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for k in range(8):
        c.submit(8192 * k, 8192, BS)         # eight 4 MiB reads
    c.recv_pdu()                             # Data-In flows; stop reading
    hard_close(c) if i % 2 else c.close()


def inside_a_pdu(i):
    c = login()
    c.immediate_data = True
    cdb = struct.pack('>BBQIBB', 0x8a, 0, 0, 128, 0, 0)
    bhs, _ = c.scsi_bhs(cdb, 128 * BS, write=True)
    struct.pack_into('>I', bhs, 4, 65536)    # says 64 KiB of immediate data ...
    c.send_raw(bytes(bhs) + b'\0' * 1000)    # ... sends 1000 bytes
    hard_close(c) if i % 2 else c.close()


start = fc.pool_stats(sock)
print('pools at start: %s' % start, flush=True)
fc.check('no session or connection at start', start['sessions'] == 0 and
         start['connections'] == 0, str(start))
for name, fn in (('during login', during_login), ('during R2T', during_r2t),
                 ('during Data-In', during_data_in), ('inside a PDU', inside_a_pdu)):
    errors = 0
    for i in range(rounds):
        try:
            fn(i)
        except (OSError, ic.ProtocolError) as e:
            errors += 1
            print('%s round %d: %s' % (name, i, e), flush=True)
    fc.check('%d initiators vanished %s without an error on our side' % (rounds, name),
             errors == 0)
    t0 = time.time()
    got = fc.wait_pools(sock, start, timeout=60)
    print('pools back %.1f s after the last one vanished %s' % (time.time() - t0, name),
          flush=True)
    if not fc.check('pools, sessions and connections back to their start values after '
                    'vanishing %s' % name, got == start,
                    'now %s, at start %s' % (got, start)):
        print('connections left: %s' % fc.rpc(sock, 'iscsi_get_connections'), flush=True)
    fc.check('target alive after vanishing %s' % name, fc.alive(pid))

c = login()
status, _, data = c.scsi(ic.read10(0, 8), read_len=8 * BS)
fc.check('a new initiator logs in and reads afterwards', status == 0 and len(data) == 8 * BS)
c.logout()
c.close()
fc.check('pools back after the last logout', fc.wait_pools(sock, start) == start)
sys.exit(fc.exit_status())
