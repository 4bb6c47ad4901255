#!/usr/bin/env python3
"""Timers and session limits of a running target, with the PDU client playing live and dead
initiators.

Usage: timers.py HOST PORT TARGET TARGET2 RPC_SOCK. The target runs with NopInInterval 1 s,
Timeout 3 s, MaxSessions 4, DefaultTime2Wait 5 and DefaultTime2Retain 7. Checks: an idle
session is pinged (NOP-In asking for an answer) and lives on while it answers; a dead one is
dropped; a connection that never finishes its login is dropped after the login timeout (30 s);
a session asked to log out that does not is dropped after 30 s; MaxSessions is 03/02 and a
session reinstatement is allowed at the limit; the Logout Response carries the negotiated
Time2Wait and Time2Retain.
"""

import os
import select
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'common'))
import iscsi_client as ic  # noqa: E402

HOST, PORT, TARGET, TARGET2, RPC_SOCK = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
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


def rpc(*args):
    return subprocess.run(['python3', RPC_PY, '-s', RPC_SOCK, '-t', '30'] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)


def login(name, target=TARGET, isid=None, expect_status=0, extra=()):
    c = ic.Connection(HOST, PORT)
    if isid is not None:
        c.isid = isid
    status = c.login(initiator='iqn.2016-06.io.keel:' + name, target=target,
                     expect_status=expect_status, extra=extra)
    return c, status


def is_closed(c):
    """True if the target closed c (whatever it sent before is read and dropped)."""
    c.sock.setblocking(False)
    try:
        while True:
            data = c.sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        c.sock.setblocking(True)
        c.sock.settimeout(10.0)


def answer_pings(conns, seconds):
    """Live initiators: answer every NOP-In ping on conns for that long. Returns the pings."""
    pings = 0
    conns = list(conns)
    end = time.time() + seconds
    while time.time() < end and conns:
        r, _, _ = select.select([c.sock for c in conns], [], [], max(0.0, end - time.time()))
        for c in list(conns):
            if c.sock not in r:
                continue
            try:
                pdu = c.recv_pdu()
            except (ConnectionError, OSError):
                c.dropped = True
                conns.remove(c)
                continue
            if pdu.opcode != ic.OP_NOP_IN or pdu.itt != 0xFFFFFFFF:
                continue
            pings += 1
            ttt = pdu.u32(20)
            if ttt != 0xFFFFFFFF:
                bhs = bytearray(48)
                bhs[0] = ic.OP_NOP_OUT | 0x40
                bhs[1] = 0x80
                struct.pack_into('>I', bhs, 16, 0xFFFFFFFF)
                struct.pack_into('>I', bhs, 20, ttt)
                struct.pack_into('>I', bhs, 24, c.cmdsn)
                struct.pack_into('>I', bhs, 28, c.exp_statsn)
                c.send_pdu(bhs)
    return pings


def main():
    t0 = time.time()
    # A connection that never logs in, and a session that will not log out when asked.
    stalled = socket.create_connection((HOST, PORT), timeout=10)
    half = ic.Connection(HOST, PORT)
    half.send_raw(bytes(half.login_bhs(0, 1))[:30])
    stubborn, _ = login('stubborn', target=TARGET2)
    r = rpc('iscsi_target_node_request_logout', TARGET2)
    check('iscsi_target_node_request_logout', r.returncode == 0, r.stdout)

    # NOP-In pings: a live session answers and stays, a dead one is dropped.
    live, _ = login('live')
    dead, _ = login('dead')
    pings = answer_pings([live, stubborn], 7)
    check('an idle session is pinged with NOP-In (TTT asks for an answer)', pings >= 4,
          '%d pings' % pings)
    check('a session that answers the pings stays', not getattr(live, 'dropped', False) and
          not is_closed(live))
    check('a session that does not answer is dropped after Timeout', is_closed(dead))
    check('a session asked to log out is not dropped before its 30 s',
          not getattr(stubborn, 'dropped', False))
    dead.close()
    status, _, _ = live.scsi(ic.test_unit_ready())
    check('the live session runs commands', status == 0)

    # MaxSessions 4: live and stubborn, then two more; the fifth is refused.
    s1, _ = login('s1')
    # DefaultTime2Wait is the larger offer, DefaultTime2Retain the smaller (RFC 7143 13.15).
    s2, _ = login('s2', extra=[('DefaultTime2Wait', '1'), ('DefaultTime2Retain', '20')])
    check('DefaultTime2Wait and DefaultTime2Retain negotiate to 5 and 7',
          s2.rsp_keys.get('DefaultTime2Wait') == '5' and
          s2.rsp_keys.get('DefaultTime2Retain') == '7', repr(s2.rsp_keys))
    s5, status = login('s5', expect_status=0x0302)
    check('a session beyond MaxSessions is refused: out of resources (03/02)',
          status == 0x0302, 'status 0x%04x' % status)
    s5.close()
    # Session reinstatement is allowed at the limit: same initiator, ISID and target.
    s1b, status = login('s1', isid=s1.isid)
    check('a login with the ISID of a session reinstates it, even at MaxSessions',
          status == 0, 'status 0x%04x' % status)
    time.sleep(0.5)
    check('...the old session\'s connection is closed', is_closed(s1))
    s1.close()
    status, _, _ = s1b.scsi(ic.test_unit_ready())
    check('...the new one serves', status == 0)
    # The Logout Response carries DefaultTime2Wait and DefaultTime2Retain.
    bhs = bytearray(48)
    bhs[0] = ic.OP_LOGOUT_REQ | 0x40
    bhs[1] = 0x80
    struct.pack_into('>I', bhs, 16, 4242)
    struct.pack_into('>I', bhs, 24, s2.cmdsn)
    struct.pack_into('>I', bhs, 28, s2.exp_statsn)
    s2.send_pdu(bhs)
    rsp = s2.recv_pdu()
    while rsp.opcode != ic.OP_LOGOUT_RSP:
        rsp = s2.recv_pdu()
    t2w, t2r = struct.unpack_from('>HH', rsp.bhs, 40)
    check('the Logout Response carries the negotiated Time2Wait 5 and Time2Retain 7', (t2w, t2r) == (5, 7),
          '%d %d' % (t2w, t2r))
    s2.close()
    time.sleep(0.5)
    s6, status = login('s6')
    check('a session fits again after a logout', status == 0, 'status 0x%04x' % status)

    # The 30 s timers; the live sessions keep answering pings meanwhile.
    answer_pings([live, s1b, s6, stubborn], 31.5 - (time.time() - t0))
    answer_pings([live, s1b, s6], 3)
    check('a session asked to log out that does not is dropped after 30 s',
          getattr(stubborn, 'dropped', False) or is_closed(stubborn))
    stalled.setblocking(False)
    try:
        gone = stalled.recv(1) == b''
    except BlockingIOError:
        gone = False
    except OSError:
        gone = True
    check('a connection that never logs in is dropped after the login timeout', gone)
    check('a login stalled halfway is dropped too', is_closed(half))
    check('the live session is still there', not is_closed(live))
    status, _, _ = live.scsi(ic.test_unit_ready())
    check('...and runs commands', status == 0)
    for c in (live, s1b, s6):
        c.logout()
        c.close()
    for c in (stubborn, half):
        c.close()
    stalled.close()
    return failed


if __name__ == '__main__':
    try:
        sys.exit(1 if main() else 0)
    except Exception as e:  # noqa: BLE001 - report any crash of the client as a failure
        print('FAIL: timers client stopped: %r' % e)
        sys.exit(1)
