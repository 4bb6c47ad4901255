"""A small iSCSI initiator for keel's protocol tests (Python standard library only).

It speaks just enough RFC 7143 to log in, run SCSI commands (with immediate data, unsolicited
Data-Out and R2T-driven Data-Out), ping, log out, and send deliberately malformed PDUs.
"""

import os
import socket
import struct
import zlib

BHS_LEN = 48

OP_NOP_OUT, OP_SCSI_CMD, OP_TASK_REQ, OP_LOGIN_REQ, OP_TEXT_REQ, OP_DATA_OUT, OP_LOGOUT_REQ = (
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06)
OP_NOP_IN, OP_SCSI_RSP, OP_TASK_RSP, OP_LOGIN_RSP, OP_TEXT_RSP, OP_DATA_IN, OP_LOGOUT_RSP = (
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26)
OP_R2T, OP_ASYNC, OP_REJECT = 0x31, 0x32, 0x3f

_CRC32C_TABLE = []


def _crc32c_table():
    if not _CRC32C_TABLE:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            _CRC32C_TABLE.append(c)
    return _CRC32C_TABLE


def crc32c(data):
    """CRC32C as iSCSI digests use it (returned as the 4 wire bytes)."""
    table = _crc32c_table()
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return struct.pack('<I', crc ^ 0xFFFFFFFF)


def encode_text(keys):
    out = b''
    for k, v in keys:
        out += ('%s=%s' % (k, v)).encode() + b'\0'
    return out


def decode_text(data):
    result = {}
    for item in data.split(b'\0'):
        if not item:
            continue
        k, _, v = item.decode(errors='replace').partition('=')
        result[k] = v
    return result


class PDU:
    def __init__(self, bhs, data=b''):
        self.bhs = bytearray(bhs)
        self.data = data

    @property
    def opcode(self):
        return self.bhs[0] & 0x3f

    @property
    def flags(self):
        return self.bhs[1]

    def u32(self, off):
        return struct.unpack_from('>I', self.bhs, off)[0]

    @property
    def itt(self):
        return self.u32(16)

    def __repr__(self):
        return 'PDU(op=0x%02x flags=0x%02x itt=0x%08x dlen=%d)' % (
            self.opcode, self.flags, self.itt, len(self.data))


class ProtocolError(Exception):
    pass


class Connection:
    """One TCP connection to a target portal."""

    def __init__(self, host='127.0.0.1', port=3260, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.itt = 1
        self.cmdsn = 1
        self.exp_statsn = 0
        self.header_digest = False
        self.data_digest = False
        self.max_send_dsl = 8192      # what the target accepts
        self.first_burst = 65536
        self.max_burst = 262144
        self.immediate_data = True
        self.initial_r2t = True
        self.isid = b'\x80' + os.urandom(5)
        self.tsih = 0
        self.cid = 0
        self.rsp_keys = {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # Raw I/O.
    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        buf = b''
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError('connection closed by the target')
            buf += chunk
        return buf

    def send_pdu(self, bhs, data=b'', digests=True):
        bhs = bytearray(bhs)
        struct.pack_into('>I', bhs, 4, len(data) & 0xFFFFFF)
        bhs[4] = 0
        out = bytes(bhs)
        if digests and self.header_digest:
            out += crc32c(bhs)
        if data:
            pad = (4 - len(data) % 4) % 4
            padded = data + b'\0' * pad
            out += padded
            if digests and self.data_digest:
                out += crc32c(padded)
        self.send_raw(out)

    def recv_pdu(self):
        bhs = self._recv_exact(BHS_LEN)
        ahs_len = bhs[4] * 4
        dlen = struct.unpack('>I', b'\0' + bhs[5:8])[0]
        if ahs_len:
            self._recv_exact(ahs_len)
        if self.header_digest:
            digest = self._recv_exact(4)
            if digest != crc32c(bhs):
                raise ProtocolError('bad header digest from the target')
        data = b''
        if dlen:
            pad = (4 - dlen % 4) % 4
            raw = self._recv_exact(dlen + pad)
            if self.data_digest:
                digest = self._recv_exact(4)
                if digest != crc32c(raw):
                    raise ProtocolError('bad data digest from the target')
            data = raw[:dlen]
        pdu = PDU(bhs, data)
        if pdu.opcode in (OP_SCSI_RSP, OP_TASK_RSP, OP_LOGIN_RSP, OP_TEXT_RSP, OP_LOGOUT_RSP,
                          OP_NOP_IN, OP_ASYNC, OP_REJECT) or (
                              pdu.opcode == OP_DATA_IN and pdu.flags & 0x01):
            statsn = pdu.u32(24)
            if pdu.opcode != OP_NOP_IN or pdu.itt != 0xFFFFFFFF:
                self.exp_statsn = (statsn + 1) & 0xFFFFFFFF
        return pdu

    def next_itt(self):
        itt = self.itt
        self.itt += 1
        return itt

    # Login.
    def login_bhs(self, csg, nsg, transit=True, cont=False, itt=None, cid=None):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_LOGIN_REQ | 0x40
        bhs[1] = (0x80 if transit else 0) | (0x40 if cont else 0) | (csg << 2) | nsg
        bhs[2] = 0
        bhs[3] = 0
        bhs[8:14] = self.isid
        struct.pack_into('>H', bhs, 14, self.tsih)
        struct.pack_into('>I', bhs, 16, self.next_itt() if itt is None else itt)
        struct.pack_into('>H', bhs, 20, self.cid if cid is None else cid)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        return bhs

    def login(self, initiator='iqn.2016-06.io.keel:test', target=None, discovery=False,
              extra=(), header_digest='None', data_digest='None', expect_status=0):
        """Log in (security stage skipped: AuthMethod=None) straight to full feature."""
        keys = [('InitiatorName', initiator),
                ('SessionType', 'Discovery' if discovery else 'Normal'),
                ('AuthMethod', 'None')]
        if target:
            keys.append(('TargetName', target))
        self.login_itt = self.next_itt()
        bhs = self.login_bhs(0, 1, itt=self.login_itt)
        self.send_pdu(bhs, encode_text(keys))
        rsp = self.recv_pdu()
        status = (rsp.bhs[36] << 8) | rsp.bhs[37]
        if status != 0:
            if status != expect_status:
                raise ProtocolError('login failed: status 0x%04x' % status)
            return status
        self.rsp_keys = decode_text(rsp.data)
        op_keys = [('HeaderDigest', header_digest), ('DataDigest', data_digest),
                   ('MaxRecvDataSegmentLength', '262144')]
        # Session-wide (leading only) keys go in the leading login alone; a connection that
        # joins a session keeps what the session negotiated.
        leading = self.tsih == 0
        if not discovery and leading:
            op_keys += [('InitialR2T', 'Yes' if self.initial_r2t else 'No'),
                        ('ImmediateData', 'Yes' if self.immediate_data else 'No'),
                        ('FirstBurstLength', str(self.first_burst)),
                        ('MaxBurstLength', str(self.max_burst)),
                        ('MaxOutstandingR2T', '1'), ('ErrorRecoveryLevel', '0')]
        op_keys += list(extra)
        bhs = self.login_bhs(1, 3, itt=self.login_itt)
        self.send_pdu(bhs, encode_text(op_keys))
        rsp = self.recv_pdu()
        status = (rsp.bhs[36] << 8) | rsp.bhs[37]
        if status != 0:
            if status != expect_status:
                raise ProtocolError('login failed: status 0x%04x' % status)
            return status
        keys = decode_text(rsp.data)
        self.rsp_keys.update(keys)
        self.tsih = struct.unpack_from('>H', rsp.bhs, 14)[0]
        self.header_digest = keys.get('HeaderDigest') == 'CRC32C'
        self.data_digest = keys.get('DataDigest') == 'CRC32C'
        if 'MaxRecvDataSegmentLength' in self.rsp_keys:
            self.max_send_dsl = int(self.rsp_keys['MaxRecvDataSegmentLength'])
        for name, attr in (('FirstBurstLength', 'first_burst'), ('MaxBurstLength', 'max_burst')):
            if leading and name in keys and keys[name].isdigit():
                setattr(self, attr, int(keys[name]))
        if leading and 'ImmediateData' in keys:
            self.immediate_data = keys['ImmediateData'] == 'Yes'
        if leading and 'InitialR2T' in keys:
            self.initial_r2t = keys['InitialR2T'] == 'Yes'
        self.cmdsn = struct.unpack_from('>I', rsp.bhs, 28)[0]
        return 0

    # Full feature phase.
    def scsi_bhs(self, cdb, edtl, read=False, write=False, lun=0, final=True, immediate=False):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_SCSI_CMD | (0x40 if immediate else 0)
        bhs[1] = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 1
        bhs[8] = 0
        bhs[9] = lun
        itt = self.next_itt()
        struct.pack_into('>I', bhs, 16, itt)
        struct.pack_into('>I', bhs, 20, edtl)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        bhs[32:32 + len(cdb)] = cdb
        if not immediate:
            self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        return bhs, itt

    def scsi(self, cdb, read_len=0, data=b'', lun=0, ua_retries=3):
        """Run one command; returns (status, sense, data_in). A unit attention (a new nexus
        sees "power on" or "nexus loss" first) is retried, as initiators do."""
        for _ in range(ua_retries):
            status, sense, data_in = self._scsi_once(cdb, read_len, data, lun)
            if not (status == 2 and len(sense) > 2 and (sense[2] & 0x0f) == 6):
                break
        return status, sense, data_in

    def _scsi_once(self, cdb, read_len=0, data=b'', lun=0):
        write = bool(data)
        edtl = len(data) if write else read_len
        imm = b''
        if write and self.immediate_data:
            imm = data[:min(self.first_burst, self.max_send_dsl)]
        # F on the command says no unsolicited Data-Out follows (RFC 7143 11.3.1).
        unsolicited = write and not self.initial_r2t and \
            len(imm) < min(len(data), self.first_burst)
        bhs, itt = self.scsi_bhs(cdb, edtl, read=read_len > 0, write=write, lun=lun,
                                 final=not unsolicited)
        self.send_pdu(bhs, imm)
        sent = len(imm)
        if unsolicited:
            end = min(len(data), self.first_burst)
            self._send_data_out(itt, 0xFFFFFFFF, data, sent, end - sent, lun)
            sent = end
        data_in = bytearray(read_len)
        while True:
            pdu = self.recv_pdu()
            if pdu.opcode == OP_R2T:
                ttt = pdu.u32(20)
                off = pdu.u32(40)
                length = pdu.u32(44)
                self._send_data_out(itt, ttt, data, off, length, lun)
            elif pdu.opcode == OP_DATA_IN:
                off = pdu.u32(40)
                data_in[off:off + len(pdu.data)] = pdu.data
                if pdu.flags & 0x01:
                    return pdu.bhs[3], b'', bytes(data_in)
            elif pdu.opcode == OP_SCSI_RSP:
                sense = b''
                if pdu.data:
                    slen = struct.unpack('>H', pdu.data[:2])[0]
                    sense = pdu.data[2:2 + slen]
                return pdu.bhs[3], sense, bytes(data_in)
            elif pdu.opcode in (OP_NOP_IN, OP_ASYNC):
                continue
            else:
                raise ProtocolError('unexpected %r' % pdu)

    def _send_data_out(self, itt, ttt, data, off, length, lun):
        datasn = 0
        end = off + length
        while off < end:
            n = min(self.max_send_dsl, end - off)
            bhs = bytearray(BHS_LEN)
            bhs[0] = OP_DATA_OUT
            bhs[1] = 0x80 if off + n == end else 0
            bhs[9] = lun
            struct.pack_into('>I', bhs, 16, itt)
            struct.pack_into('>I', bhs, 20, ttt)
            struct.pack_into('>I', bhs, 28, self.exp_statsn)
            struct.pack_into('>I', bhs, 36, datasn)
            struct.pack_into('>I', bhs, 40, off)
            self.send_pdu(bhs, data[off:off + n])
            datasn += 1
            off += n

    def nop(self, payload=b''):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_NOP_OUT | 0x40
        bhs[1] = 0x80
        itt = self.next_itt()
        struct.pack_into('>I', bhs, 16, itt)
        struct.pack_into('>I', bhs, 20, 0xFFFFFFFF)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.send_pdu(bhs, payload)
        while True:
            rsp = self.recv_pdu()
            if rsp.opcode == OP_NOP_IN and rsp.itt == itt:
                return rsp

    def text(self, keys):
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_TEXT_REQ | 0x40
        bhs[1] = 0x80
        struct.pack_into('>I', bhs, 16, self.next_itt())
        struct.pack_into('>I', bhs, 20, 0xFFFFFFFF)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.send_pdu(bhs, encode_text(keys))
        data = b''
        while True:
            rsp = self.recv_pdu()
            if rsp.opcode != OP_TEXT_RSP:
                raise ProtocolError('unexpected %r' % rsp)
            data += rsp.data
            if rsp.flags & 0x80:
                return data
            # Continued: ask for the rest with the TTT we were given.
            ttt = rsp.u32(20)
            bhs = bytearray(BHS_LEN)
            bhs[0] = OP_TEXT_REQ | 0x40
            bhs[1] = 0x80
            struct.pack_into('>I', bhs, 16, rsp.itt)
            struct.pack_into('>I', bhs, 20, ttt)
            struct.pack_into('>I', bhs, 24, self.cmdsn)
            struct.pack_into('>I', bhs, 28, self.exp_statsn)
            self.send_pdu(bhs, b'')

    def logout(self, reason=0, cid=None):
        """Logout (reason 0: close the session, 1: close connection cid, default ours)."""
        bhs = bytearray(BHS_LEN)
        bhs[0] = OP_LOGOUT_REQ | 0x40
        bhs[1] = 0x80 | reason
        struct.pack_into('>I', bhs, 16, self.next_itt())
        struct.pack_into('>H', bhs, 20, self.cid if cid is None else cid)
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.send_pdu(bhs)
        while True:
            rsp = self.recv_pdu()
            if rsp.opcode == OP_LOGOUT_RSP:
                return rsp.bhs[2]


def read10(lba, blocks):
    return struct.pack('>BBIBHB', 0x28, 0, lba, 0, blocks, 0)


def write10(lba, blocks):
    return struct.pack('>BBIBHB', 0x2a, 0, lba, 0, blocks, 0)


def test_unit_ready():
    return bytes(6)


def inquiry(alloc=255, evpd=0, page=0):
    return struct.pack('>BBBHB', 0x12, evpd, page, alloc, 0)
