#!/usr/bin/env python3
"""Protocol edge cases against a running keel target, from a PDU client of our own.

Usage: protocol.py HOST PORT TARGET PID. Prints one PASS:/FAIL: line per check. Each bad
behaviour must get the answer RFC 7143 gives, and the target must keep serving other sessions.
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'common'))
import iscsi_client as ic  # noqa: E402

HOST, PORT, TARGET, PID = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
failed = 0


def check(name, ok, detail=''):
    global failed
    if ok:
        print('PASS: %s' % name)
    else:
        failed += 1
        print('FAIL: %s %s' % (name, detail))
    sys.stdout.flush()


def connect(**kw):
    c = ic.Connection(HOST, PORT, timeout=kw.pop('timeout', 10.0))
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def logged_in(**kw):
    digests = kw.pop('digests', False)
    c = connect(**kw)
    d = 'CRC32C' if digests else 'None'
    c.login(target=TARGET, header_digest=d, data_digest=d)
    return c


def closed_by_target(c, timeout=5.0):
    c.sock.settimeout(timeout)
    try:
        while True:
            data = c.sock.recv(65536)
            if not data:
                return True
    except (ConnectionError, socket.timeout, OSError) as e:
        return not isinstance(e, socket.timeout)


def rss_kb():
    with open('/proc/%d/status' % PID) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def still_serving():
    c = logged_in()
    status, _, _ = c.scsi(ic.test_unit_ready())
    c.logout()
    c.close()
    return status == 0


def expect_reject(c, bhs, data=b'', reason=None):
    c.send_pdu(bhs, data)
    while True:
        rsp = c.recv_pdu()
        if rsp.opcode == ic.OP_REJECT:
            return reason is None or rsp.bhs[2] == reason, rsp
        if rsp.opcode in (ic.OP_NOP_IN, ic.OP_ASYNC, ic.OP_R2T):
            continue
        return False, rsp


def send_bad_data_digest(c, bhs, data):
    """A PDU whose header digest is right and whose data digest is not."""
    bhs = bytearray(bhs)
    struct.pack_into('>I', bhs, 4, len(data) & 0xFFFFFF)
    bhs[4] = 0
    pad = (4 - len(data) % 4) % 4
    padded = data + b'\0' * pad
    bad = bytes(b ^ 0xff for b in ic.crc32c(padded))
    c.send_raw(bytes(bhs) + ic.crc32c(bhs) + padded + bad)


def main():
    # A session that stays logged in through every test below, and must be served at the end.
    bystander = logged_in(digests=True)
    bystander.scsi(ic.test_unit_ready())

    # The data path with immediate data, unsolicited data and R2Ts.
    for immediate, initial_r2t in ((True, True), (False, True), (True, False), (False, False)):
        c = connect(immediate_data=immediate, initial_r2t=initial_r2t)
        c.login(target=TARGET)
        data = os.urandom(1024 * 1024)
        status, sense, _ = c.scsi(ic.write10(2048, 2048), data=data)
        check('1 MiB WRITE(10), ImmediateData=%s InitialR2T=%s' % (immediate, initial_r2t),
              status == 0, 'status %d sense %s' % (status, sense.hex()))
        status, _, rd = c.scsi(ic.read10(2048, 2048), read_len=len(data))
        check('read back compares (ImmediateData=%s InitialR2T=%s)' % (immediate, initial_r2t),
              status == 0 and rd == data)
        c.logout()
        c.close()

    # Header and data digests.
    c = logged_in(digests=True)
    check('digests negotiated', c.header_digest and c.data_digest)
    data = os.urandom(65536)
    status, _, _ = c.scsi(ic.write10(0, 128), data=data)
    status2, _, rd = c.scsi(ic.read10(0, 128), read_len=65536)
    check('I/O with digests', status == 0 and status2 == 0 and rd == data)
    # A wrong header digest: the PDU cannot be trusted, nor the stream after it.
    bhs, _ = c.scsi_bhs(ic.test_unit_ready(), 0)
    c.send_raw(bytes(bhs) + b'\xde\xad\xbe\xef')
    check('wrong header digest drops the connection', closed_by_target(c))
    c.close()
    check('target serves other sessions after a digest error', still_serving())

    # A wrong data digest: on a NOP-Out, Reject (data digest error) and the session goes on;
    # on a command's immediate data (which cannot be recovered at ErrorRecoveryLevel 0),
    # Reject and the connection ends.
    c = logged_in(digests=True)
    bhs = bytearray(48)
    bhs[0] = ic.OP_NOP_OUT | 0x40
    bhs[1] = 0x80
    struct.pack_into('>I', bhs, 16, 55)
    struct.pack_into('>I', bhs, 20, 0xFFFFFFFF)
    struct.pack_into('>I', bhs, 24, c.cmdsn)
    struct.pack_into('>I', bhs, 28, c.exp_statsn)
    send_bad_data_digest(c, bhs, b'ping with a bad digest')
    rsp = c.recv_pdu()
    check('a wrong data digest on a NOP-Out gets Reject (data digest error)',
          rsp.opcode == ic.OP_REJECT and rsp.bhs[2] == 0x02, repr(rsp))
    check('...and the session goes on', c.nop(b'again').data == b'again')
    bhs, _ = c.scsi_bhs(ic.write10(0, 8), 4096, write=True)
    send_bad_data_digest(c, bhs, os.urandom(4096))
    rsp = c.recv_pdu()
    check('a wrong data digest on immediate data gets Reject (data digest error)',
          rsp.opcode == ic.OP_REJECT and rsp.bhs[2] == 0x02, repr(rsp))
    check('...and then the connection ends', closed_by_target(c))
    c.close()

    # Solicited Data-Out past what the R2T asked for: Reject; the right data then completes.
    c = connect(immediate_data=False, initial_r2t=True)
    c.login(target=TARGET)
    c.scsi(ic.test_unit_ready())  # the new nexus's unit attention first
    bhs, itt = c.scsi_bhs(ic.write10(0, 8), 4096, write=True)
    c.send_pdu(bhs)
    r2t = c.recv_pdu()
    check('a WRITE without immediate data gets an R2T for all of it',
          r2t.opcode == ic.OP_R2T and r2t.u32(40) == 0 and r2t.u32(44) == 4096, repr(r2t))
    dbhs = bytearray(48)
    dbhs[0] = ic.OP_DATA_OUT
    dbhs[1] = 0x80
    struct.pack_into('>I', dbhs, 16, itt)
    struct.pack_into('>I', dbhs, 20, r2t.u32(20))
    struct.pack_into('>I', dbhs, 40, 4096)
    ok, rsp = expect_reject(c, dbhs, b'\0' * 512)
    check('Data-Out past the R2T\'s Desired Data Transfer Length gets Reject', ok, repr(rsp))
    c._send_data_out(itt, r2t.u32(20), os.urandom(4096), 0, 4096, 0)
    rsp = c.recv_pdu()
    check('...the data asked for then completes the command', rsp.opcode == ic.OP_SCSI_RSP and
          rsp.bhs[3] == 0, repr(rsp))
    c.logout()
    c.close()

    # A PDU longer than the negotiated MaxRecvDataSegmentLength.
    c = logged_in()
    mrdsl = c.max_send_dsl
    bhs = bytearray(48)
    bhs[0] = ic.OP_NOP_OUT | 0x40
    bhs[1] = 0x80
    struct.pack_into('>I', bhs, 16, 77)
    struct.pack_into('>I', bhs, 20, 0xFFFFFFFF)
    struct.pack_into('>I', bhs, 24, c.cmdsn)
    c.send_pdu(bhs, b'x' * (mrdsl + 4096))
    check('PDU longer than MaxRecvDataSegmentLength ends the connection', closed_by_target(c))
    c.close()

    # An unknown opcode: Reject, reason "command not supported"; the session goes on.
    c = logged_in()
    bhs = bytearray(48)
    bhs[0] = 0x1c | 0x40
    bhs[1] = 0x80
    struct.pack_into('>I', bhs, 16, 99)
    ok, rsp = expect_reject(c, bhs, b'0123456789', reason=0x05)
    check('unknown opcode (with a data segment) gets Reject (command not supported)', ok,
          repr(rsp))
    check('session goes on after the Reject', c.nop(b'ping').data == b'ping')

    # A CmdSN outside the window is ignored; the session goes on.
    bhs, _ = c.scsi_bhs(ic.test_unit_ready(), 0)
    struct.pack_into('>I', bhs, 24, (c.cmdsn + 100000) & 0xFFFFFFFF)
    c.cmdsn = (c.cmdsn - 1) & 0xFFFFFFFF
    c.send_pdu(bhs)
    rsp = c.nop(b'after')
    check('CmdSN outside the window is ignored', rsp.data == b'after')

    # Data-Out for an unknown TTT / task.
    bhs = bytearray(48)
    bhs[0] = ic.OP_DATA_OUT
    bhs[1] = 0x80
    struct.pack_into('>I', bhs, 16, 0x12345)
    struct.pack_into('>I', bhs, 20, 0x777)
    ok, rsp = expect_reject(c, bhs, b'\0' * 512)
    check('Data-Out for an unknown task gets Reject', ok, repr(rsp))
    check('session goes on after it', c.nop(b'x').data == b'x')

    # Unsolicited data past FirstBurstLength.
    c2 = connect(immediate_data=False, initial_r2t=False, first_burst=65536)
    c2.login(target=TARGET)
    bhs, itt = c2.scsi_bhs(ic.write10(0, 512), 512 * 512, write=True)
    c2.send_pdu(bhs)
    dbhs = bytearray(48)
    dbhs[0] = ic.OP_DATA_OUT
    dbhs[1] = 0x80
    struct.pack_into('>I', dbhs, 16, itt)
    struct.pack_into('>I', dbhs, 20, 0xFFFFFFFF)
    struct.pack_into('>I', dbhs, 40, c2.first_burst)
    ok, rsp = expect_reject(c2, dbhs, b'\0' * 4096)
    check('unsolicited Data-Out past FirstBurstLength gets Reject', ok, repr(rsp))
    c2.close()
    c.logout()
    c.close()

    # Login errors.
    c = connect()
    keys = ic.encode_text([('InitiatorName', 'iqn.x:y'), ('SessionType', 'Normal'),
                           ('TargetName', TARGET), ('AuthMethod', 'None'),
                           ('AuthMethod', 'None')])
    c.send_pdu(c.login_bhs(0, 1), keys)
    rsp = c.recv_pdu()
    check('a key offered twice fails the login (initiator error)',
          rsp.opcode == ic.OP_LOGIN_RSP and rsp.bhs[36] == 2, 'class %d' % rsp.bhs[36])
    c.close()

    c = connect()
    keys = ic.encode_text([('InitiatorName', 'iqn.x:y'), ('SessionType', 'Normal'),
                           ('TargetName', TARGET)])
    bhs = c.login_bhs(1, 0)
    c.send_pdu(bhs, keys)
    rsp = c.recv_pdu()
    check('a login going back from operational to security stage fails',
          rsp.opcode == ic.OP_LOGIN_RSP and rsp.bhs[36] == 2, 'class %d' % rsp.bhs[36])
    c.close()

    c = connect()
    keys = ic.encode_text([('InitiatorName', 'iqn.x:y'), ('TargetName', TARGET)])[:-1]
    c.send_pdu(c.login_bhs(0, 1), keys)
    rsp = c.recv_pdu()
    check('a text segment without its NUL fails the login',
          rsp.opcode == ic.OP_LOGIN_RSP and rsp.bhs[36] == 2, 'class %d' % rsp.bhs[36])
    c.close()

    c = connect()
    keys = ic.encode_text([('InitiatorName', 'iqn.x:y'), ('TargetName', 'iqn.no.such:target')])
    c.send_pdu(c.login_bhs(0, 1), keys)
    rsp = c.recv_pdu()
    check('an unknown target fails the login with 02/03',
          rsp.bhs[36] == 2 and rsp.bhs[37] == 3, 'status %d/%d' % (rsp.bhs[36], rsp.bhs[37]))
    c.close()

    # A connection cut in the middle of a PDU.
    c = logged_in()
    bhs, _ = c.scsi_bhs(ic.write10(0, 8), 4096, write=True)
    c.send_raw(bytes(bhs)[:20])
    c.close()
    check('target serves others after a connection cut mid-PDU', still_serving())

    # 500 connections opened and dropped at once; memory does not grow.
    before = rss_kb()
    for rnd in range(2):
        socks = []
        for _ in range(250):
            try:
                socks.append(socket.create_connection((HOST, PORT), timeout=5))
            except OSError:
                break
        for s in socks:
            s.close()
        time.sleep(0.5)
    check('500 connections opened and dropped: target still serves', still_serving())
    for _ in range(200):
        c = logged_in()
        c.logout()
        c.close()
    after = rss_kb()
    status, _, _ = bystander.scsi(ic.test_unit_ready())
    status2, _, rd = bystander.scsi(ic.read10(0, 128), read_len=65536)
    check('the session logged in all along is still served', status == 0 and status2 == 0 and
          len(rd) == 65536)
    bystander.logout()
    bystander.close()
    print('resident memory: %d KiB before, %d KiB after' % (before, after))
    check('resident memory flat after 500 dropped connections and 200 logins',
          after - before < 8192, '%d KiB growth' % (after - before))
    return failed


if __name__ == '__main__':
    try:
        sys.exit(1 if main() else 0)
    except Exception as e:  # noqa: BLE001 - report any crash of the client as a failure
        print('FAIL: protocol client stopped: %r' % e)
        sys.exit(1)
