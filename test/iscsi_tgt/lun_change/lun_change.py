#!/usr/bin/env python3
"""LUNs added to and removed from a target while sessions are logged in.

Usage: lun_change.py HOST PORT TARGET PID RPC_SOCK. Prints one PASS:/FAIL: line per check.
A session that logged in before a LUN was added must see it (REPORT LUNS, I/O), get the SCSI
Asynchronous Event and the REPORTED LUNS DATA HAS CHANGED unit attention; a LUN whose bdev is
deleted (with I/O running to it) must disappear cleanly, the session and the target going on.
"""

import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'common'))
import iscsi_client as ic  # noqa: E402

HOST, PORT, TARGET, PID, RPC_SOCK = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                     int(sys.argv[4]), sys.argv[5])
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


def rss_kb():
    with open('/proc/%d/status' % PID) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def sense_key_asc(sense):
    """(sense key, ASC << 8 | ASCQ) of fixed or descriptor sense data."""
    if len(sense) >= 14 and (sense[0] & 0x7f) in (0x70, 0x71):
        return sense[2] & 0x0f, (sense[12] << 8) | sense[13]
    if len(sense) >= 4 and (sense[0] & 0x7f) in (0x72, 0x73):
        return sense[1] & 0x0f, (sense[2] << 8) | sense[3]
    return None, None


def report_luns_cdb(alloc=4096):
    return struct.pack('>BBBBBBIBB', 0xa0, 0, 0, 0, 0, 0, alloc, 0, 0)


def report_luns(c):
    status, _, data = c.scsi(report_luns_cdb(), read_len=4096)
    if status != 0:
        return None
    n = struct.unpack('>I', data[:4])[0] // 8
    return sorted(((data[8 + 8 * i] & 0x3f) << 8) | data[9 + 8 * i] for i in range(n))


def scsi_once(c, cdb, read_len=0, data=b'', lun=0):
    """One command, without the client's unit attention retries."""
    return c._scsi_once(cdb, read_len, data, lun)  # noqa: SLF001 - the raw path on purpose


def wait_async(c, timeout=5.0):
    """The next Asynchronous Message PDU, or None."""
    c.sock.settimeout(timeout)
    try:
        while True:
            pdu = c.recv_pdu()
            if pdu.opcode == ic.OP_ASYNC:
                return pdu
    except (socket.timeout, ConnectionError, OSError):
        return None
    finally:
        c.sock.settimeout(10.0)


def login(name):
    c = ic.Connection(HOST, PORT)
    c.login(initiator='iqn.2016-06.io.keel:' + name, target=TARGET)
    # Take the first unit attentions (power on) of LUN 0.
    c.scsi(ic.test_unit_ready())
    return c


def ua_is_luns_changed(status, sense):
    key, asc = sense_key_asc(sense)
    return status == 2 and key == 6 and asc == 0x3f0e


def io_loop(c, lun, stop, result):
    """WRITE then READ on lun until told to stop or a command fails; counts the outcomes."""
    blk = os.urandom(4096)
    while not stop.is_set():
        try:
            status, sense, _ = c.scsi(ic.write10(0, 8), data=blk, lun=lun)
        except (ConnectionError, OSError, ic.ProtocolError) as e:
            result['error'] = repr(e)
            return
        if status == 0:
            result['good'] += 1
        else:
            result['sense'].append(sense_key_asc(sense))
            if len(result['sense']) > 20:
                return


def main():
    a = login('a')
    b = login('b')
    check('before: REPORT LUNS lists LUN 0 only', report_luns(a) == [0], repr(report_luns(a)))
    scsi_once(b, ic.test_unit_ready())

    # A LUN added while both sessions are logged in.
    r = rpc('iscsi_target_node_add_lun', TARGET, 'Malloc1', '-i', '1')
    check('iscsi_target_node_add_lun with sessions logged in', r.returncode == 0, r.stdout)
    ev = wait_async(a)
    check('the session gets a SCSI Asynchronous Event', ev is not None and ev.bhs[36] == 0,
          repr(ev))
    if ev is not None and len(ev.data) > 2:
        slen = struct.unpack('>H', ev.data[:2])[0]
        key, asc = sense_key_asc(ev.data[2:2 + slen])
        check('...with REPORTED LUNS DATA HAS CHANGED sense data', key == 6 and asc == 0x3f0e,
              '%r %r' % (key, asc))
    status, sense, _ = scsi_once(a, ic.test_unit_ready())
    check('the next command gets the REPORTED LUNS DATA HAS CHANGED unit attention',
          ua_is_luns_changed(status, sense), 'status %d sense %s' % (status, sense.hex()))
    check('REPORT LUNS lists the new LUN', report_luns(a) == [0, 1], repr(report_luns(a)))
    status, sense, _ = scsi_once(a, ic.test_unit_ready())
    check('after REPORT LUNS the unit attention is gone', status == 0, sense.hex())
    data = os.urandom(64 * 1024)
    status, sense, _ = a.scsi(ic.write10(100, 128), data=data, lun=1)
    check('WRITE to the new LUN', status == 0, 'status %d sense %s' % (status, sense.hex()))
    status, _, rd = a.scsi(ic.read10(100, 128), read_len=len(data), lun=1)
    check('READ from the new LUN compares', status == 0 and rd == data)
    # The other session, which did not read the event, learns it from the unit attention.
    status, sense, _ = scsi_once(b, ic.test_unit_ready())
    check('a second session gets the unit attention too', ua_is_luns_changed(status, sense),
          'status %d sense %s' % (status, sense.hex()))
    check('...and sees the new LUN', report_luns(b) == [0, 1], repr(report_luns(b)))
    status, _, rd = b.scsi(ic.read10(100, 128), read_len=len(data), lun=1)
    check('...and reads what the first wrote', status == 0 and rd == data)

    # The LUN's bdev deleted while the second session writes to it.
    stop = threading.Event()
    result = {'good': 0, 'sense': [], 'error': None}
    t = threading.Thread(target=io_loop, args=(b, 1, stop, result))
    t.start()
    time.sleep(1.0)
    r = rpc('bdev_malloc_delete', 'Malloc1')
    check('bdev_malloc_delete of a LUN with I/O running', r.returncode == 0, r.stdout)
    t.join(timeout=20)
    stop.set()
    t.join(timeout=5)
    check('I/O was running when the bdev went', result['good'] > 0, repr(result))
    check('commands to the removed LUN end with a SCSI status, not a dropped connection',
          result['error'] is None and result['sense'], repr(result))
    ev = wait_async(a)
    check('a session is told by an Asynchronous Event that the LUN went', ev is not None)
    status, sense, _ = scsi_once(a, ic.test_unit_ready())
    check('...and by the unit attention', ua_is_luns_changed(status, sense),
          'status %d sense %s' % (status, sense.hex()))
    check('REPORT LUNS no longer lists it', report_luns(a) == [0], repr(report_luns(a)))
    status, sense, _ = a.scsi(ic.read10(0, 8), read_len=4096, lun=1)
    key, asc = sense_key_asc(sense)
    check('a command to the removed LUN: LOGICAL UNIT NOT SUPPORTED',
          status == 2 and key == 5 and asc == 0x2500, 'status %d sense %s' % (status, sense.hex()))
    status, _, _ = a.scsi(ic.read10(0, 8), read_len=4096, lun=0)
    check('LUN 0 still serves the session', status == 0)
    b.scsi(ic.test_unit_ready())
    status, _, _ = b.scsi(ic.read10(0, 8), read_len=4096, lun=0)
    check('...and the session that was writing to the removed LUN', status == 0)

    # The same LUN id again, on another bdev.
    r = rpc('iscsi_target_node_add_lun', TARGET, 'Malloc2', '-i', '1')
    check('a new bdev as LUN 1 again', r.returncode == 0, r.stdout)
    wait_async(a)
    a.scsi(ic.test_unit_ready())
    check('REPORT LUNS lists LUN 1 again', report_luns(a) == [0, 1], repr(report_luns(a)))
    status, sense, _ = a.scsi(ic.write10(0, 128), data=data, lun=1)
    status2, _, rd = a.scsi(ic.read10(0, 128), read_len=len(data), lun=1)
    check('I/O to the re-added LUN 1', status == 0 and status2 == 0 and rd == data,
          'status %d sense %s' % (status, sense.hex()))

    for c in (a, b):
        check('logout after the LUN changes', c.logout() == 0)
        c.close()
    # Add and remove again and again (after two rounds to warm up) and see whether memory grows.
    for i in range(6):
        if i == 2:
            before = rss_kb()
        rpc('bdev_malloc_create', '-b', 'Churn%d' % i, '1', '512')
        rpc('iscsi_target_node_add_lun', TARGET, 'Churn%d' % i, '-i', '2')
        c = login('churn')
        c.scsi(ic.read10(0, 1), read_len=512, lun=2)
        rpc('bdev_malloc_delete', 'Churn%d' % i)
        c.logout()
        c.close()
    after = rss_kb()
    print('resident memory: %d KiB before, %d KiB after' % (before, after))
    check('resident memory flat after the LUN changes', after - before < 4096,
          '%d KiB growth' % (after - before))
    return failed


if __name__ == '__main__':
    try:
        sys.exit(1 if main() else 0)
    except Exception as e:  # noqa: BLE001 - report any crash of the client as a failure
        print('FAIL: lun_change client stopped: %r' % e)
        sys.exit(1)
