#!/usr/bin/env python3
"""Multiple connections per session (RFC 7143 4.4, 6.3) from our PDU client.

Usage: mcs.py HOST PORT TARGET. Prints one PASS:/FAIL: line per check. Two connections join one
session (the second login carries the ISID and the TSIH of the first); commands run on both in
one CmdSN order; the R2T, the Data-In and the status of a command come on the connection that
carried it (connection allegiance); MaxConnections is enforced; one connection logs out (reason
"close the connection", from itself or from the other) while the other goes on; a login with a
CID in use replaces that connection.
"""

import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'common'))
import iscsi_client as ic  # noqa: E402

HOST, PORT, TARGET = sys.argv[1], int(sys.argv[2]), sys.argv[3]
INITIATOR = 'iqn.2016-06.io.keel:mcs'
failed = 0


def check(name, ok, detail=''):
    global failed
    if ok:
        print('PASS: %s' % name)
    else:
        failed += 1
        print('FAIL: %s %s' % (name, detail))
    sys.stdout.flush()


class Session:
    """The session-wide CmdSN, shared by the connections of one session."""

    def __init__(self, lead):
        self.lead = lead
        self.cmdsn = lead.cmdsn

    def use(self, c):
        c.cmdsn = self.cmdsn
        return c

    def done(self, c):
        self.cmdsn = c.cmdsn


def join(sess, cid, expect_status=0):
    """A non-leading login into sess with CID cid."""
    c = ic.Connection(HOST, PORT)
    c.isid = sess.lead.isid
    c.tsih = sess.lead.tsih
    c.cid = cid
    c.cmdsn = sess.cmdsn
    c.immediate_data = sess.lead.immediate_data
    c.initial_r2t = sess.lead.initial_r2t
    c.first_burst = sess.lead.first_burst
    c.max_burst = sess.lead.max_burst
    status = c.login(initiator=INITIATOR, target=TARGET, expect_status=expect_status)
    return c, status


def quiet(c, timeout=0.5):
    """True if nothing arrives on c within timeout."""
    c.sock.settimeout(timeout)
    try:
        pdu = c.recv_pdu()
        print('  unexpected on CID %d: %r' % (c.cid, pdu))
        return False
    except socket.timeout:
        return True
    finally:
        c.sock.settimeout(10.0)


def closed_by_target(c, timeout=5.0):
    c.sock.settimeout(timeout)
    try:
        while True:
            if not c.sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def run(sess, c, cdb, **kw):
    sess.use(c)
    r = c.scsi(cdb, **kw)
    sess.done(c)
    return r


def main():
    lead = ic.Connection(HOST, PORT)
    lead.immediate_data = False
    lead.initial_r2t = True
    lead.login(initiator=INITIATOR, target=TARGET, extra=[('MaxConnections', '4')])
    check('leading login offers MaxConnections=4, the target answers 2',
          lead.rsp_keys.get('MaxConnections') == '2', repr(lead.rsp_keys))
    sess = Session(lead)
    c1 = lead
    c2, status = join(sess, 1)
    check('second connection joins the session (same ISID and TSIH, CID 1)',
          status == 0 and c2.tsih == c1.tsih, 'status 0x%04x' % status)

    # Commands on both connections, one CmdSN order.
    run(sess, c1, ic.test_unit_ready())
    data = os.urandom(256 * 1024)
    status, _, _ = run(sess, c1, ic.write10(0, 512), data=data)
    check('WRITE on the first connection', status == 0)
    status, _, rd = run(sess, c2, ic.read10(0, 512), read_len=len(data))
    check('READ on the second connection sees it', status == 0 and rd == data)
    data2 = os.urandom(128 * 1024)
    status, _, _ = run(sess, c2, ic.write10(1024, 256), data=data2)
    status2, _, rd = run(sess, c1, ic.read10(1024, 256), read_len=len(data2))
    check('WRITE on the second, READ on the first', status == 0 and status2 == 0 and rd == data2)

    # Allegiance: the R2T of a write on c1 comes on c1 while c2 runs a read of its own.
    sess.use(c1)
    bhs, itt = c1.scsi_bhs(ic.write10(2048, 8), 4096, write=True)
    c1.send_pdu(bhs)
    sess.done(c1)
    r2t = c1.recv_pdu()
    check('the R2T of a command comes on its connection', r2t.opcode == ic.OP_R2T and
          r2t.itt == itt, repr(r2t))
    status, _, rd = run(sess, c2, ic.read10(0, 512), read_len=len(data))
    check('the other connection runs its own READ meanwhile', status == 0 and rd == data)
    blk = os.urandom(4096)
    c1._send_data_out(itt, r2t.u32(20), blk, 0, 4096, 0)  # noqa: SLF001
    rsp = c1.recv_pdu()
    check('the status of the write comes on its connection', rsp.opcode == ic.OP_SCSI_RSP and
          rsp.itt == itt and rsp.bhs[3] == 0, repr(rsp))
    check('nothing of it arrives on the other connection', quiet(c2))

    # CmdSN order across connections: CmdSN N+1 on c2 waits for N on c1.
    n = sess.cmdsn
    c2.cmdsn = (n + 1) & 0xFFFFFFFF
    bhs2, itt2 = c2.scsi_bhs(ic.read10(2048, 8), 4096, read=True)
    c2.send_pdu(bhs2)
    check('a command ahead of the CmdSN order waits', quiet(c2, 1.0))
    c1.cmdsn = n
    bhs1, itt1 = c1.scsi_bhs(ic.test_unit_ready(), 0)
    c1.send_pdu(bhs1)
    sess.cmdsn = (n + 2) & 0xFFFFFFFF
    rsp1 = c1.recv_pdu()
    got2 = None
    while True:
        p = c2.recv_pdu()
        if p.opcode == ic.OP_DATA_IN and p.flags & 0x01:
            got2 = p
            break
        if p.opcode == ic.OP_SCSI_RSP:
            got2 = p
            break
    check('once the missing CmdSN comes on the other connection, both run, each answered on '
          'its own connection', rsp1.itt == itt1 and got2.itt == itt2 and
          got2.data == blk, '%r %r' % (rsp1, got2))

    # MaxConnections (2) is enforced.
    c3, status = join(sess, 2, expect_status=0x0206)
    check('a third connection is refused: too many connections (02/06)', status == 0x0206,
          'status 0x%04x' % status)
    c3.close()

    # One connection logs out; the other goes on.
    sess.use(c2)
    resp = c2.logout(reason=1)
    sess.done(c2)
    check('logout "close the connection" on the second connection', resp == 0, 'resp %d' % resp)
    check('...the target closes that connection', closed_by_target(c2))
    c2.close()
    status, _, rd = run(sess, c1, ic.read10(0, 512), read_len=len(data))
    check('the first connection goes on', status == 0 and rd == data)

    # A connection may join again, and may be closed from the other one.
    c2, status = join(sess, 1)
    check('a connection joins again after the logout', status == 0, 'status 0x%04x' % status)
    status, _, _ = run(sess, c2, ic.test_unit_ready())
    check('...and runs commands', status == 0)
    sess.use(c1)
    resp = c1.logout(reason=1, cid=1)
    sess.done(c1)
    check('logout of CID 1 sent on CID 0 is answered there', resp == 0, 'resp %d' % resp)
    check('...and the target closes CID 1', closed_by_target(c2))
    c2.close()
    status, _, _ = run(sess, c1, ic.test_unit_ready())
    check('CID 0 goes on after closing CID 1', status == 0)
    sess.use(c1)
    resp = c1.logout(reason=1, cid=7)
    sess.done(c1)
    check('logout of a CID not in the session: "CID not found"', resp == 1, 'resp %d' % resp)

    # Connection reinstatement: a login with a CID in use replaces that connection.
    c2, status = join(sess, 1)
    run(sess, c2, ic.test_unit_ready())
    c2b, status = join(sess, 1)
    check('a login with CID 1 in use is accepted', status == 0, 'status 0x%04x' % status)
    check('...and the old CID 1 connection is closed', closed_by_target(c2))
    c2.close()
    status, _, rd = run(sess, c2b, ic.read10(0, 512), read_len=len(data))
    check('...the new one serves', status == 0 and rd == data)

    # A non-leading login with a TSIH that does not exist.
    bogus = ic.Connection(HOST, PORT)
    bogus.isid = lead.isid
    bogus.tsih = (lead.tsih + 1000) & 0xFFFF or 1
    bogus.cid = 5
    status = bogus.login(initiator=INITIATOR, target=TARGET, expect_status=0x020a)
    check('a login into a session that does not exist: 02/0a', status == 0x020a,
          'status 0x%04x' % status)
    bogus.close()

    # Closing the session closes every connection.
    sess.use(c1)
    resp = c1.logout(reason=0)
    check('logout "close the session"', resp == 0)
    check('...closes the connection it came on', closed_by_target(c1))
    check('...and the other connection too', closed_by_target(c2b))
    c1.close()
    c2b.close()
    time.sleep(0.2)
    c = ic.Connection(HOST, PORT)
    c.login(initiator=INITIATOR, target=TARGET)
    status, _, _ = c.scsi(ic.test_unit_ready())
    check('a new session after that', status == 0)
    c.logout()
    c.close()
    return failed


if __name__ == '__main__':
    try:
        sys.exit(1 if main() else 0)
    except Exception as e:  # noqa: BLE001 - report any crash of the client as a failure
        print('FAIL: mcs client stopped: %r' % e)
        sys.exit(1)
