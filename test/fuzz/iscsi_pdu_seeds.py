#!/usr/bin/env python3
"""Write the seed corpus of iscsi_pdu_fuzz: whole initiator streams, one file each.

Each stream is what an initiator sends on one connection, built PDU by PDU as
test/iscsi_tgt/common/iscsi_client.py builds them, for the target that iscsi_pdu_fuzz.c sets
up (its target names, LUNs and CHAP secrets). Everything the initiator must know of the
target's answers is predictable there: the CHAP identifier and challenge come from the
target's per-input generator (replayed here), and the Target Transfer Tags of R2Ts count up
from 1 on each connection. Run `KEEL_FUZZ_DUMP=1 test/fuzz/iscsi_pdu_fuzz_regress FILE` to see
the target's answers to a seed.

Usage: test/fuzz/iscsi_pdu_seeds.py [DIR]   (default: test/fuzz/corpus/iscsi_pdu_fuzz)
       test/fuzz/iscsi_pdu_seeds.py --capture LISTEN_PORT TARGET_PORT DIR PREFIX
           relays connections from 127.0.0.1:LISTEN_PORT to an iscsi_tgt on
           127.0.0.1:TARGET_PORT and stores what each initiator sent as DIR/PREFIX-<n>, until
           interrupted: how the libiscsi streams of the corpus were recorded (README.md).
"""

import hashlib
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'iscsi_tgt',
                                'common'))
from iscsi_client import (BHS_LEN, OP_DATA_OUT, OP_LOGIN_REQ, OP_LOGOUT_REQ,  # noqa: E402
                          OP_NOP_OUT, OP_SCSI_CMD, OP_TASK_REQ, OP_TEXT_REQ, crc32c,
                          encode_text, inquiry, read10, test_unit_ready, write10)

NODEBASE = 'iqn.2016-06.io.spdk'
TARGET = NODEBASE + ':fuzz0'          # LUN 0: 512-byte blocks, LUN 1: 4096; CHAP offered
TARGET_CHAP = NODEBASE + ':fuzzchap'  # mutual CHAP required
INITIATOR = 'iqn.2016-06.io.keel:fuzz-initiator'
CHAP_USER, CHAP_SECRET = 'fuzzuser', 'fuzz-secret-1'
CHAP_MUSER, CHAP_MSECRET = 'fuzztarget', 'fuzz-msecret-2'
CHAP_MD5, CHAP_SHA256 = 5, 7
CHAP_HASH = {CHAP_MD5: hashlib.md5, CHAP_SHA256: hashlib.sha256}


class TargetRandom:
    """The target's random bytes in iscsi_pdu_fuzz.c: xorshift32, reset for each input."""

    def __init__(self):
        self.state = 0x2545f491

    def bytes(self, n):
        out = bytearray()
        for _ in range(n):
            s = self.state
            s ^= (s << 13) & 0xffffffff
            s ^= s >> 17
            s ^= (s << 5) & 0xffffffff
            self.state = s
            out.append(s >> 24)
        return bytes(out)


class Stream:
    """The bytes one initiator sends on one connection."""

    def __init__(self):
        self.out = bytearray()
        self.itt = 1
        self.cmdsn = 1
        self.exp_statsn = 1
        self.isid = bytes.fromhex('80123456789a')
        self.header_digest = False
        self.data_digest = False
        self.rand = TargetRandom()
        self.ttt = 1  # the next R2T's Target Transfer Tag

    def next_itt(self):
        self.itt += 1
        return self.itt - 1

    def pdu(self, bhs, data=b'', ahs=b''):
        bhs = bytearray(bhs)
        bhs[4] = len(ahs) // 4
        bhs[5:8] = struct.pack('>I', len(data))[1:]
        hdr = bytes(bhs) + ahs
        self.out += hdr
        if self.header_digest:
            self.out += crc32c(hdr)
        if data:
            padded = data + b'\0' * ((4 - len(data) % 4) % 4)
            self.out += padded
            if self.data_digest:
                self.out += crc32c(padded)

    # Login.
    def login_pdu(self, keys, csg, nsg, transit=True, cont=False, itt=None):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_LOGIN_REQ | 0x40
        bhs[1] = (0x80 if transit else 0) | (0x40 if cont else 0) | (csg << 2) | nsg
        bhs[8:14] = self.isid
        struct.pack_into('>I', bhs, 16, self.login_itt if itt is None else itt)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.pdu(bhs, keys if isinstance(keys, bytes) else encode_text(keys))

    def login(self, target=TARGET, discovery=False, chap=None, mutual=False, digests=False,
              op_keys=()):
        """Security stage (AuthMethod=None, or CHAP with the algorithm given), then the
        operational stage, into full feature phase."""
        self.login_itt = self.next_itt()
        keys = [('InitiatorName', INITIATOR),
                ('SessionType', 'Discovery' if discovery else 'Normal')]
        if not discovery:
            keys.append(('TargetName', target))
        if chap is None:
            self.login_pdu(keys + [('AuthMethod', 'None')], 0, 1)
        else:
            self.login_pdu(keys + [('AuthMethod', 'CHAP,None')], 0, 1, transit=False)
            self.login_pdu([('CHAP_A', '%d,%d' % (chap, CHAP_MD5))], 0, 1, transit=False)
            chap_id = self.rand.bytes(1)[0]
            challenge = self.rand.bytes(max(16, CHAP_HASH[chap]().digest_size))
            answer = CHAP_HASH[chap](bytes([chap_id]) + CHAP_SECRET.encode() +
                                     challenge).hexdigest()
            keys = [('CHAP_N', CHAP_USER), ('CHAP_R', '0x' + answer)]
            if mutual:
                keys += [('CHAP_I', '77'), ('CHAP_C', '0x' + bytes(range(1, 33)).hex())]
            self.login_pdu(keys, 0, 1)
        keys = [('HeaderDigest', 'CRC32C,None' if digests else 'None'),
                ('DataDigest', 'CRC32C,None' if digests else 'None'),
                ('MaxRecvDataSegmentLength', '262144')]
        if not discovery:
            keys += [('InitialR2T', 'Yes'), ('ImmediateData', 'Yes'),
                     ('FirstBurstLength', '65536'), ('MaxBurstLength', '262144'),
                     ('MaxOutstandingR2T', '1'), ('ErrorRecoveryLevel', '0'),
                     ('DefaultTime2Wait', '2'), ('DefaultTime2Retain', '0'),
                     ('DataPDUInOrder', 'Yes'), ('DataSequenceInOrder', 'Yes'),
                     ('MaxConnections', '1')]
        keys = dict(keys)
        keys.update(dict(op_keys))
        self.login_pdu(list(keys.items()), 1, 3)
        self.exp_statsn += 1
        self.header_digest = self.data_digest = digests

    # Full feature phase.
    def scsi(self, cdb, lun=0, read_len=0, write_len=0, data=b'', ahs=b'', attr=1):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_SCSI_CMD
        bhs[1] = 0x80 | (0x40 if read_len else 0) | (0x20 if write_len else 0) | attr
        bhs[9] = lun
        itt = self.next_itt()
        struct.pack_into('>I', bhs, 16, itt)
        struct.pack_into('>I', bhs, 20, read_len or write_len)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        bhs[32:32 + min(16, len(cdb))] = cdb[:16]
        self.pdu(bhs, data, ahs)
        self.cmdsn += 1
        self.exp_statsn += 1
        return itt

    def data_out(self, itt, ttt, data, offset, lun=0, seg=8192):
        datasn = 0
        end = offset + len(data)
        pos = offset
        while pos < end:
            n = min(seg, end - pos)
            bhs = bytearray(BHS_LEN)
            bhs[0] = OP_DATA_OUT
            bhs[1] = 0x80 if pos + n == end else 0
            bhs[9] = lun
            struct.pack_into('>I', bhs, 16, itt)
            struct.pack_into('>I', bhs, 20, ttt)
            struct.pack_into('>I', bhs, 28, self.exp_statsn)
            struct.pack_into('>I', bhs, 36, datasn)
            struct.pack_into('>I', bhs, 40, pos)
            self.pdu(bhs, data[pos - offset:pos - offset + n])
            datasn += 1
            pos += n

    def r2t_data(self, itt, data, offset, lun=0, seg=8192):
        """The Data-Out that answers the target's next R2T."""
        self.data_out(itt, self.ttt, data, offset, lun, seg)
        self.ttt += 1

    def nop(self, ping=b''):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_NOP_OUT | 0x40
        bhs[1] = 0x80
        struct.pack_into('>I', bhs, 16, self.next_itt())
        struct.pack_into('>I', bhs, 20, 0xffffffff)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.pdu(bhs, ping)
        self.exp_statsn += 1

    def text(self, keys):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_TEXT_REQ | 0x40
        bhs[1] = 0x80
        struct.pack_into('>I', bhs, 16, self.next_itt())
        struct.pack_into('>I', bhs, 20, 0xffffffff)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.pdu(bhs, encode_text(keys))
        self.exp_statsn += 1

    def tmf(self, function, lun=0, ref_itt=0xffffffff, ref_cmdsn=0):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_TASK_REQ | 0x40
        bhs[1] = 0x80 | function
        bhs[9] = lun
        struct.pack_into('>I', bhs, 16, self.next_itt())
        struct.pack_into('>I', bhs, 20, ref_itt)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        struct.pack_into('>I', bhs, 32, ref_cmdsn)
        self.pdu(bhs)
        self.exp_statsn += 1

    def logout(self, reason=0):
        """Not for immediate delivery: it waits for the commands before it to be answered."""
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_LOGOUT_REQ
        bhs[1] = 0x80 | reason
        struct.pack_into('>I', bhs, 16, self.next_itt())
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.pdu(bhs)
        self.cmdsn += 1


def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xff for i in range(n))


def read_capacity10():
    return bytes([0x25]) + bytes(9)


def report_luns():
    return struct.pack('>BBBBIIBB', 0xa0, 0, 0, 0, 0, 4096, 0, 0)


def sync_cache10():
    return bytes([0x35]) + bytes(9)


def seed_discovery():
    s = Stream()
    s.login(discovery=True)
    s.text([('SendTargets', 'All')])
    s.logout()
    return s


def seed_discovery_chap():
    s = Stream()
    s.login(discovery=True, chap=CHAP_MD5)
    s.text([('SendTargets', TARGET)])
    s.logout()
    return s


def seed_read():
    """AuthMethod=None; the unit attention a new nexus sees, then the usual discovery of a
    disk and reads from both LUNs, a NOP-Out ping, logout."""
    s = Stream()
    s.login()
    s.scsi(test_unit_ready())
    s.scsi(test_unit_ready())
    s.scsi(inquiry(), read_len=255)
    s.scsi(inquiry(evpd=1, page=0x83), read_len=255)
    s.scsi(report_luns(), read_len=4096)
    s.scsi(read_capacity10(), read_len=8)
    s.scsi(read10(0, 8), read_len=4096)
    s.scsi(test_unit_ready(), lun=1)
    s.scsi(read10(2, 2), lun=1, read_len=8192)
    s.nop(b'ping')
    s.logout()
    return s


def seed_write_r2t():
    """InitialR2T=Yes, ImmediateData=No, MaxBurstLength 16 KiB: a 32 KiB WRITE answered with
    two R2Ts, one at a time, then the data read back."""
    s = Stream()
    s.login(op_keys=[('ImmediateData', 'No'), ('MaxBurstLength', '16384'),
                     ('FirstBurstLength', '16384')])
    s.scsi(test_unit_ready())
    data = pattern(32768, 1)
    itt = s.scsi(write10(8, 64), write_len=len(data))
    s.r2t_data(itt, data[:16384], 0)
    s.r2t_data(itt, data[16384:], 16384)
    s.scsi(read10(8, 64), read_len=len(data))
    s.logout()
    return s


def seed_write_unsolicited():
    """InitialR2T=No, ImmediateData=Yes: immediate data, unsolicited Data-Out up to
    FirstBurstLength, the rest after an R2T; on LUN 1 as well; SYNCHRONIZE CACHE."""
    s = Stream()
    s.login(op_keys=[('InitialR2T', 'No'), ('FirstBurstLength', '8192')])
    s.scsi(test_unit_ready())
    data = pattern(16384, 3)
    itt = s.scsi(write10(100, 32), write_len=len(data), data=data[:4096])
    s.data_out(itt, 0xffffffff, data[4096:8192], 4096)
    s.r2t_data(itt, data[8192:], 8192)
    s.scsi(test_unit_ready(), lun=1)
    itt = s.scsi(write10(1, 1), lun=1, write_len=4096, data=pattern(4096, 5))
    s.scsi(sync_cache10())
    s.scsi(read10(100, 32), read_len=len(data))
    s.logout()
    return s


def seed_chap_md5():
    s = Stream()
    s.login(chap=CHAP_MD5)
    s.scsi(test_unit_ready())
    s.scsi(read10(0, 1), read_len=512)
    s.logout()
    return s


def seed_chap_sha256_mutual():
    s = Stream()
    s.login(target=TARGET_CHAP, chap=CHAP_SHA256, mutual=True)
    s.scsi(test_unit_ready())
    s.scsi(inquiry(), read_len=96)
    s.scsi(read10(0, 4), read_len=2048)
    s.logout()
    return s


def seed_digests():
    """Header and data digests: a WRITE with immediate data, a READ, a NOP-Out with data, a
    Text request in full feature phase."""
    s = Stream()
    s.login(digests=True)
    s.scsi(test_unit_ready())
    data = pattern(2048, 9)
    s.scsi(write10(16, 4), write_len=len(data), data=data)
    s.scsi(read10(16, 4), read_len=len(data))
    s.nop(b'digest ping!')
    s.text([('SendTargets', 'All')])
    s.logout()
    return s


def seed_tmf():
    """Task management: ABORT TASK of a command that has completed, of an unknown tag, QUERY
    TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, then a READ."""
    s = Stream()
    s.login()
    s.scsi(test_unit_ready())
    cmdsn = s.cmdsn
    itt = s.scsi(read10(0, 8), read_len=4096)
    s.tmf(1, ref_itt=itt, ref_cmdsn=cmdsn)
    s.tmf(1, ref_itt=0x1234, ref_cmdsn=cmdsn)
    s.tmf(9, ref_itt=itt, ref_cmdsn=cmdsn)
    s.tmf(2)
    s.tmf(3)
    s.tmf(5)
    s.scsi(test_unit_ready())
    s.scsi(read10(0, 8), read_len=4096)
    s.logout()
    return s


def seed_ahs():
    """A SCSI command with an extended CDB AHS (a 32-byte READ(32)), and one with an expected
    bidirectional read length AHS."""
    s = Stream()
    s.login()
    s.scsi(test_unit_ready())
    cdb = bytearray(32)
    cdb[0] = 0x7f
    cdb[7] = 24
    cdb[8:10] = struct.pack('>H', 0x0009)
    struct.pack_into('>Q', cdb, 12, 0)
    struct.pack_into('>I', cdb, 28, 1)
    ext = bytes(cdb[16:])
    ahs = struct.pack('>HB', len(ext) + 1, 0x01) + b'\0' + ext
    ahs += b'\0' * ((4 - len(ahs) % 4) % 4)
    s.scsi(bytes(cdb), read_len=512, ahs=ahs)
    bidi = struct.pack('>HBBI', 5, 0x02, 0, 512)
    s.scsi(read10(0, 1), read_len=512, ahs=bidi)
    s.logout()
    return s


def seed_login_continued():
    """The first login request split over two PDUs (C bit), keys the target does not know,
    and a connection logout (reason 1)."""
    s = Stream()
    s.login_itt = s.next_itt()
    text = encode_text([('InitiatorName', INITIATOR), ('SessionType', 'Normal'),
                        ('TargetName', TARGET), ('AuthMethod', 'None'),
                        ('X-org.example.Unknown', 'yes')])
    s.login_pdu(text[:20], 0, 1, transit=False, cont=True)
    s.login_pdu(text[20:], 0, 1)
    s.login_pdu([('MaxRecvDataSegmentLength', '8192'), ('IFMarker', 'No'),
                 ('OFMarker', 'No'), ('MaxConnections', '4')], 1, 3)
    s.exp_statsn += 1
    s.scsi(test_unit_ready())
    s.nop()
    s.logout(reason=1)
    return s


SEEDS = {
    'discovery-sendtargets': seed_discovery,
    'discovery-chap-md5': seed_discovery_chap,
    'login-none-read': seed_read,
    'write-r2t': seed_write_r2t,
    'write-immediate-unsolicited': seed_write_unsolicited,
    'login-chap-md5': seed_chap_md5,
    'login-chap-sha256-mutual': seed_chap_sha256_mutual,
    'digests-crc32c': seed_digests,
    'task-management': seed_tmf,
    'ahs-extended-cdb': seed_ahs,
    'login-continued-logout-conn': seed_login_continued,
}


def immediate(s):
    """Every PDU of the stream for immediate delivery: iscsi_pdu_fuzz sends it in one write."""
    out, i = bytearray(s.out), 0
    while i + BHS_LEN <= len(out):
        dsl = int.from_bytes(out[i + 5:i + 8], 'big')
        out[i] |= 0x40
        i += BHS_LEN + out[i + 4] * 4 + (dsl + 3) // 4 * 4
    s.out = out
    return s


def seed_tmf_then_eof():
    """An immediate ABORT TASK SET, then the end of the stream: the connection closes while the
    function is at the SCSI layer (it was freed then, and its completion used the freed
    connection)."""
    s = Stream()
    s.login()
    s.tmf(2)
    return immediate(s)


def seed_query_task_read_logout():
    """An immediate QUERY TASK naming no task, an immediate READ and an immediate Logout, in one
    write (the function was released twice: the connection's count of active tasks wrapped
    below zero and it was never freed)."""
    s = Stream()
    s.login()
    s.tmf(9, ref_itt=3, ref_cmdsn=1)
    s.scsi(read10(0, 8), read_len=4096)
    s.logout()
    return immediate(s)


SEEDS['tmf-then-eof'] = seed_tmf_then_eof
SEEDS['query-task-read-logout'] = seed_query_task_read_logout


def capture(listen_port, target_port, out, prefix):
    """Relay initiator connections to a real target, recording the initiator's bytes."""
    os.makedirs(out, exist_ok=True)
    srv = socket.create_server(('127.0.0.1', listen_port))
    count = 0

    def pump(src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    record.write(data)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while True:
        client, _ = srv.accept()
        target = socket.create_connection(('127.0.0.1', target_port))
        count += 1
        record = open(os.path.join(out, '%s-%d' % (prefix, count)), 'wb', buffering=0)
        threading.Thread(target=pump, args=(client, target, record), daemon=True).start()
        threading.Thread(target=pump, args=(target, client, None), daemon=True).start()


def main():
    args = sys.argv[1:]
    if args and args[0] == '--capture':
        if len(args) != 5:
            sys.exit(__doc__)
        capture(int(args[1]), int(args[2]), args[3], args[4])
        return
    out = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'iscsi_pdu_fuzz')
    os.makedirs(out, exist_ok=True)
    for name, build in SEEDS.items():
        with open(os.path.join(out, 'seed-' + name), 'wb') as f:
            f.write(build().out)


if __name__ == '__main__':
    main()
