"""What the fault, security and soak tests share: a JSON-RPC client for the target's Unix
socket, the iSCSI pool counts (iscsi_get_pool_stats) and waiting for them to come back, a
connection that keeps many commands in flight, CHAP logins, and PASS/FAIL lines."""

import hashlib
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'iscsi_tgt',
                                'common'))
import iscsi_client as ic  # noqa: E402

FAILED = []


def check(name, cond, detail=''):
    """One result line; the shell runner counts them."""
    if cond:
        print('PASS: %s' % name, flush=True)
    else:
        print('FAIL: %s%s' % (name, (': ' + detail) if detail else ''), flush=True)
        FAILED.append(name)
    return cond


def exit_status():
    return 1 if FAILED else 0


def rpc(sock_path, method, params=None, timeout=30.0):
    """One JSON-RPC call; returns the result or raises RuntimeError with the error."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    req = {'jsonrpc': '2.0', 'id': 1, 'method': method}
    if params is not None:
        req['params'] = params
    s.sendall(json.dumps(req).encode())
    dec = json.JSONDecoder()
    buf = ''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError('%s: connection closed without an answer' % method)
            buf += chunk.decode()
            try:
                obj, _ = dec.raw_decode(buf.lstrip())
                break
            except ValueError:
                continue
    finally:
        s.close()
    if 'error' in obj:
        raise RuntimeError('%s: %s' % (method, obj['error']))
    return obj['result']


def pool_stats(sock_path):
    return rpc(sock_path, 'iscsi_get_pool_stats')


def wait_pools(sock_path, expect, timeout=20.0):
    """Poll iscsi_get_pool_stats until it equals expect; returns the last answer."""
    end = time.time() + timeout
    cur = None
    while time.time() < end:
        cur = pool_stats(sock_path)
        if cur == expect:
            return cur
        time.sleep(0.1)
    return cur


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


# CHAP (RFC 7143 12.1.3) with MD5: the initiator's side.
def chap_login(conn, initiator, target, user, secret, mutual=None):
    """Security stage with CHAP, then the operational stage; returns the final status (0 on
    success, the target's status otherwise, ConnectionError if it just closed)."""
    keys = [('InitiatorName', initiator), ('SessionType', 'Normal'), ('TargetName', target),
            ('AuthMethod', 'CHAP')]
    conn.login_itt = conn.next_itt()

    def exchange(keys, transit, nsg=0):
        bhs = conn.login_bhs(0, nsg, transit=transit, itt=conn.login_itt)
        conn.send_pdu(bhs, ic.encode_text(keys))
        rsp = conn.recv_pdu()
        return (rsp.bhs[36] << 8) | rsp.bhs[37], ic.decode_text(rsp.data), rsp

    status, got, _ = exchange(keys, False)
    if status:
        return status
    status, got, _ = exchange([('CHAP_A', '5')], False)
    if status:
        return status
    ident = int(got['CHAP_I'])
    challenge = bytes.fromhex(got['CHAP_C'][2:])
    digest = hashlib.md5(bytes([ident]) + secret.encode() + challenge).hexdigest()
    answer = [('CHAP_N', user), ('CHAP_R', '0x' + digest)]
    if mutual is not None:
        answer += [('CHAP_I', '7'), ('CHAP_C', '0x' + os.urandom(16).hex())]
    status, got, rsp = exchange(answer, True, 1)
    if status:
        return status
    bhs = conn.login_bhs(1, 3, itt=conn.login_itt)
    conn.send_pdu(bhs, ic.encode_text([('HeaderDigest', 'None'), ('DataDigest', 'None')]))
    rsp = conn.recv_pdu()
    status = (rsp.bhs[36] << 8) | rsp.bhs[37]
    if status == 0:
        conn.tsih = struct.unpack_from('>H', rsp.bhs, 14)[0]
        conn.cmdsn = struct.unpack_from('>I', rsp.bhs, 28)[0]
    return status


class Pipeline(ic.Connection):
    """A connection that keeps up to depth READ(16)/WRITE(16) commands in flight, answering
    R2Ts as they come. Data for writes goes by R2T only (InitialR2T=Yes, ImmediateData=No)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.initial_r2t = True
        self.immediate_data = False
        self.inflight = {}

    def submit(self, lba, blocks, block_size, data=None, fua=False):
        edtl = blocks * block_size
        op = 0x8a if data is not None else 0x88
        cdb = struct.pack('>BBQIBB', op, 0x08 if fua else 0, lba, blocks, 0, 0)
        bhs, itt = self.scsi_bhs(cdb, edtl, read=data is None, write=data is not None)
        self.send_pdu(bhs, b'')
        self.inflight[itt] = {'lba': lba, 'blocks': blocks, 'data': data,
                              'in': bytearray(edtl if data is None else 0)}
        return itt

    def complete_one(self):
        """Wait for the next command to end; returns (itt, status, info)."""
        while True:
            pdu = self.recv_pdu()
            itt = pdu.itt
            if pdu.opcode == ic.OP_R2T:
                cmd = self.inflight[itt]
                self._send_data_out(itt, pdu.u32(20), cmd['data'], pdu.u32(40), pdu.u32(44), 0)
            elif pdu.opcode == ic.OP_DATA_IN:
                cmd = self.inflight[itt]
                off = pdu.u32(40)
                cmd['in'][off:off + len(pdu.data)] = pdu.data
                if pdu.flags & 0x01:
                    return itt, pdu.bhs[3], self.inflight.pop(itt)
            elif pdu.opcode == ic.OP_SCSI_RSP:
                return itt, pdu.bhs[3], self.inflight.pop(itt)
            elif pdu.opcode in (ic.OP_NOP_IN, ic.OP_ASYNC):
                if pdu.opcode == ic.OP_NOP_IN and pdu.u32(20) != 0xFFFFFFFF:
                    self.nop_reply(pdu)
                continue
            else:
                raise ic.ProtocolError('unexpected %r' % pdu)

    def nop_reply(self, nopin):
        """Answer a target's NOP-In ping (a TTT other than 0xffffffff)."""
        bhs = bytearray(ic.BHS_LEN)
        bhs[0] = ic.OP_NOP_OUT | 0x40
        bhs[1] = 0x80
        struct.pack_into('>I', bhs, 16, 0xFFFFFFFF)
        struct.pack_into('>I', bhs, 20, nopin.u32(20))
        struct.pack_into('>I', bhs, 24, self.cmdsn)
        struct.pack_into('>I', bhs, 28, self.exp_statsn)
        self.send_pdu(bhs, b'')


def pattern(tag, lba, block_size):
    """A block that names its writer and its LBA (verify pattern)."""
    head = ('%s lba %d ' % (tag, lba)).encode()
    return (head * (block_size // len(head) + 1))[:block_size]
