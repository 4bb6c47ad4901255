"""Network fuzzer: whole initiator sessions (login, SCSI commands with immediate and
unsolicited data, Data-Out, NOP-Out, Text/SendTargets, task management, logout), built as PDU
streams and mutated (bits flipped, header fields set to edge values, lengths changed, PDUs
truncated, dropped, duplicated, swapped, random bytes inserted), sent to a running iscsi_tgt
over several connections at once for a bounded time. Afterwards the target must be alive,
answer RPCs, serve a clean session, and have every pool count back to its start value.
Each session's seed is printed with any failure; --replay SEED sends that one session again.
Sessions that once broke the target are replayed first, by hand-written functions
(REGRESSIONS), each checking what the target must answer.
Usage: net_fuzz.py HOST PORT TARGET RPC_SOCK PID SECONDS [--seed N] [--threads N]
                   [--sessions N] [--replay SEED]"""

import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'faults'))
import faults_common as fc  # noqa: E402
import iscsi_client as ic  # noqa: E402

BS = 512
LUNS = [0, 0, 1, 2]            # 512- and 4096-byte blocks, and a LUN that is not there
# Task management functions (RFC 7143 11.5.1, RFC 7144), the aborting ones more often.
TMF_FUNCTIONS = [1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12]


class Recorder(ic.Connection):
    """Builds PDUs with the client's code, keeping the bytes instead of sending them."""

    class _NoSocket:
        def __getattr__(self, name):  # settimeout, setsockopt, ...: nothing to do
            return lambda *args, **kw: None

    class _NoSocketModule:
        """What the client module sees as `socket` while a Recorder is made."""
        def create_connection(self, *args, **kw):
            return Recorder._NoSocket()

        def __getattr__(self, name):
            return getattr(socket, name)

    _init_lock = threading.Lock()

    def __init__(self):
        # The client's own constructor, with no socket behind it. Only the client module's
        # name `socket` is swapped, never the socket module itself (the other threads connect
        # through it meanwhile), and one Recorder at a time, so that the real one is always
        # what is put back.
        with Recorder._init_lock:
            real = ic.socket
            ic.socket = Recorder._NoSocketModule()
            try:
                super().__init__()
            finally:
                ic.socket = real
        self.initial_r2t = False
        self.immediate_data = True
        self.pdus = []

    def send_raw(self, data):
        self.pdus.append(bytes(data))


def build_session(rng, target):
    """A plausible session as a list of PDUs (bytes)."""
    r = Recorder()
    r.isid = b'\x80' + rng.randbytes(5)
    digests = rng.random() < 0.3
    discovery = rng.random() < 0.15
    keys = [('InitiatorName', 'iqn.2016-06.io.keel:fuzz%d' % rng.randrange(4)),
            ('SessionType', 'Discovery' if discovery else 'Normal'), ('AuthMethod', 'None')]
    if not discovery:
        keys.append(('TargetName', target))
    itt = r.next_itt()
    r.send_pdu(r.login_bhs(0, 1, itt=itt), ic.encode_text(keys))
    op = [('HeaderDigest', 'CRC32C' if digests else 'None'),
          ('DataDigest', 'CRC32C' if digests else 'None'),
          ('MaxRecvDataSegmentLength', str(rng.choice([512, 8192, 262144]))),
          ('InitialR2T', 'No'), ('ImmediateData', 'Yes'), ('FirstBurstLength', '65536'),
          ('MaxBurstLength', '262144'), ('MaxOutstandingR2T', '1'),
          ('ErrorRecoveryLevel', '0')]
    rng.shuffle(op)
    r.send_pdu(r.login_bhs(1, 3, itt=itt), ic.encode_text(op[:rng.randrange(1, len(op) + 1)]))
    r.header_digest = r.data_digest = digests
    build_commands(rng, r, target)
    return r.pdus


def build_commands(rng, r, target):
    """Full-feature PDUs of a session, appended to the recorder r: commands, Data-Out, NOP-Out,
    Text, task management and usually a logout."""
    for _ in range(rng.randrange(1, 12)):
        kind = rng.randrange(8)
        if kind == 0:
            bhs = bytearray(ic.BHS_LEN)
            bhs[0] = ic.OP_TEXT_REQ | 0x40
            bhs[1] = 0x80
            struct.pack_into('>IIII', bhs, 16, r.next_itt(), 0xFFFFFFFF, r.cmdsn, r.exp_statsn)
            r.send_pdu(bhs, ic.encode_text([('SendTargets', rng.choice(['All', target, '']))]))
        elif kind == 1:
            bhs = bytearray(ic.BHS_LEN)
            bhs[0] = ic.OP_NOP_OUT | 0x40
            bhs[1] = 0x80
            struct.pack_into('>IIII', bhs, 16, r.next_itt(), 0xFFFFFFFF, r.cmdsn, r.exp_statsn)
            r.send_pdu(bhs, rng.randbytes(rng.randrange(0, 64)))
        elif kind in (2, 3):
            blocks = rng.choice([1, 8, 128, 1024])
            lba = rng.randrange(0, 32768)
            bhs, _ = r.scsi_bhs(ic.read10(lba, blocks), blocks * BS, read=True,
                                lun=rng.choice(LUNS))
            r.send_pdu(bhs)
        elif kind in (4, 5):
            blocks = rng.choice([1, 8, 128, 512])
            lba = rng.randrange(0, 32768)
            data = bytes([rng.randrange(256)]) * (blocks * BS)
            bhs, itt = r.scsi_bhs(ic.write10(lba, blocks), len(data), write=True,
                                  final=len(data) <= 8192, lun=rng.choice(LUNS))
            imm = data[:8192]
            r.send_pdu(bhs, imm)
            if len(data) > len(imm):
                r._send_data_out(itt, 0xFFFFFFFF, data, len(imm),
                                 min(len(data), 65536) - len(imm), 0)
        elif kind == 6:
            cdb = rng.choice([ic.inquiry(), ic.test_unit_ready(), ic.inquiry(255, 1, 0x83),
                              bytes([0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
                              bytes([0x35] + [0] * 9), bytes([0x25] + [0] * 9)])
            bhs, _ = r.scsi_bhs(cdb, 4096 if cdb[0] != 0x00 else 0, read=cdb[0] != 0x00)
            r.send_pdu(bhs)
        else:
            bhs = bytearray(ic.BHS_LEN)
            bhs[0] = ic.OP_TASK_REQ | 0x40
            bhs[1] = 0x80 | rng.choice(TMF_FUNCTIONS)
            bhs[9] = rng.choice(LUNS)
            struct.pack_into('>IIIIII', bhs, 16, r.next_itt(), rng.randrange(1, r.itt + 1),
                             r.cmdsn, r.exp_statsn, rng.randrange(1, r.cmdsn + 1), 0)
            r.send_pdu(bhs)
    if rng.random() < 0.7:
        bhs = bytearray(ic.BHS_LEN)
        bhs[0] = ic.OP_LOGOUT_REQ | 0x40
        bhs[1] = 0x80 | rng.choice([0, 0, 1, 2])   # session, connection, for recovery
        struct.pack_into('>IH', bhs, 16, r.next_itt(), rng.choice([0, 0, 1]))
        struct.pack_into('>II', bhs, 24, r.cmdsn, r.exp_statsn)
        r.send_pdu(bhs)


EDGE = [0, 1, 0x7f, 0x80, 0xfe, 0xff]


def mutate(rng, pdus):
    pdus = list(pdus)
    for _ in range(rng.randrange(1, 5)):
        if not pdus:
            break
        i = rng.randrange(len(pdus))
        p = bytearray(pdus[i])
        m = rng.randrange(9)
        if not p:
            continue
        if m == 0:                            # flip bits anywhere
            for _ in range(rng.randrange(1, 8)):
                j = rng.randrange(len(p))
                p[j] ^= 1 << rng.randrange(8)
        elif m == 1:                          # a header byte to an edge value
            p[rng.randrange(min(48, len(p)))] = rng.choice(EDGE)
        elif m == 2 and len(p) >= 8:          # the data segment or AHS length
            if rng.random() < 0.5:
                p[5:8] = struct.pack('>I', rng.choice([0, 1, 3, 8192, 262145, 0xffffff,
                                                      rng.randrange(1 << 24)]))[1:]
            else:
                p[4] = rng.choice(EDGE)
        elif m == 3 and len(p) >= 24:         # ITT, TTT, CmdSN, ExpStatSN, offsets
            off = rng.choice([16, 20, 24, 28, 32, 36, 40, 44])
            if off + 4 <= len(p):
                p[off:off + 4] = struct.pack('>I', rng.choice([0, 1, 0xffffffff, 0x7fffffff,
                                                               rng.randrange(1 << 32)]))
        elif m == 4:                          # truncate
            p = p[:rng.randrange(len(p))]
        elif m == 5:                          # drop
            del pdus[i]
            continue
        elif m == 6:                          # duplicate
            pdus.insert(i, bytes(p))
        elif m == 7 and len(pdus) > 1:        # swap
            j = rng.randrange(len(pdus))
            pdus[i], pdus[j] = pdus[j], pdus[i]
            continue
        else:                                 # random bytes in between
            pdus.insert(i, rng.randbytes(rng.randrange(1, 96)))
            continue
        pdus[i] = bytes(p)
    return pdus


def run_mcs_session(host, port, target, rng):
    """Two connections of one session (CIDs 0 and 1), logged in for real, then the PDUs of
    build_commands(), mutated or not, each sent on either connection: commands, their Data-Out,
    task management and logouts (of the session, of either connection) cross connections."""
    conns = []
    answered = 0
    try:
        lead = ic.Connection(host, port, timeout=5)
        conns.append(lead)
        lead.isid = b'\x80' + rng.randbytes(5)
        name = 'iqn.2016-06.io.keel:fuzz-mcs%d' % rng.randrange(2)
        lead.login(initiator=name, target=target, extra=[('MaxConnections', '2')])
        other = ic.Connection(host, port, timeout=5)
        conns.append(other)
        other.isid, other.tsih, other.cid = lead.isid, lead.tsih, 1
        other.login(initiator=name, target=target)
        answered = 1
        r = Recorder()
        r.itt = 0x100
        r.cmdsn = lead.cmdsn
        r.exp_statsn = lead.exp_statsn
        build_commands(rng, r, target)
        pdus = mutate(rng, r.pdus) if rng.random() < 0.9 else r.pdus
        for c in conns:
            c.sock.settimeout(0.05)
        for p in pdus:
            rng.choice(conns).sock.sendall(p)
        end = time.time() + 0.3
        while time.time() < end and conns:
            for c in list(conns):
                try:
                    if not c.sock.recv(1 << 20):
                        conns.remove(c)
                        c.close()
                except socket.timeout:
                    pass
    except (OSError, ic.ProtocolError):
        pass                                  # the target may close on us at any point
    finally:
        for c in conns:
            if rng.random() < 0.5:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            c.close()
    return answered > 0


def run_session(host, port, target, seed):
    rng = random.Random(seed)
    if rng.random() < 0.15:
        return run_mcs_session(host, port, target, rng)
    pdus = build_session(rng, target)
    if rng.random() < 0.9:
        pdus = mutate(rng, pdus)
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(0.05)
    chatty = rng.random() < 0.5
    answered = 0
    try:
        for p in pdus:
            s.sendall(p)
            if chatty:
                try:
                    answered += len(s.recv(1 << 20))
                except socket.timeout:
                    pass
        end = time.time() + 0.3
        while time.time() < end:
            try:
                got = s.recv(1 << 20)
                if not got:
                    break
                answered += len(got)
            except socket.timeout:
                pass
    except OSError:
        pass                                  # the target may close on us at any point
    finally:
        if rng.random() < 0.5:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.close()
    return answered > 0


def regress_data_out_for_a_write_waiting_for_its_cmdsn(host, port, target):
    """Found by this fuzzer: unsolicited Data-Out completing the data of a WRITE that still
    waited for its CmdSN turn submitted it at once, and again when its turn came: the SCSI
    task was queued twice (a looping task list, crashes). It must run once, in order."""
    c = ic.Connection(host, port, timeout=10)
    c.initial_r2t = False
    c.immediate_data = True
    c.login(target=target)
    c.scsi(ic.test_unit_ready())
    first = c.cmdsn
    data = bytes(range(256)) * 4
    c.cmdsn = first + 1                      # the command before it is late
    bhs, witt = c.scsi_bhs(ic.write10(100, 2), len(data), write=True, final=False)
    c.send_pdu(bhs, data[:512])
    c._send_data_out(witt, 0xFFFFFFFF, data, 512, 512, 0)
    time.sleep(0.2)
    c.cmdsn = first
    bhs, titt = c.scsi_bhs(ic.test_unit_ready(), 0)
    c.cmdsn = first + 2
    c.send_pdu(bhs)
    got = {}
    c.sock.settimeout(1.0)
    try:
        while True:
            pdu = c.recv_pdu()
            if pdu.opcode == ic.OP_SCSI_RSP:
                got.setdefault(pdu.itt, []).append(pdu.bhs[3])
    except socket.timeout:
        pass
    c.sock.settimeout(10)
    fc.check('regression: a WRITE completed by Data-Out while it waits for its CmdSN runs '
             'once, after the command before it', got == {witt: [0], titt: [0]}, str(got))
    status, _, back = c.scsi(ic.read10(100, 2), read_len=len(data))
    fc.check('regression: ... and its data is on the LUN', status == 0 and back == data)
    c.logout()
    c.close()


def _tmf_bhs(c, function, ref_itt, ref_cmdsn, lun=0):
    """A Task Management Function Request (RFC 7143 11.5), immediate."""
    bhs = bytearray(ic.BHS_LEN)
    bhs[0] = ic.OP_TASK_REQ | 0x40
    bhs[1] = 0x80 | function
    bhs[9] = lun
    itt = c.next_itt()
    struct.pack_into('>IIIII', bhs, 16, itt, ref_itt, c.cmdsn, c.exp_statsn, ref_cmdsn)
    return bhs, itt


def _logout_bhs(c):
    bhs = bytearray(ic.BHS_LEN)
    bhs[0] = ic.OP_LOGOUT_REQ | 0x40
    bhs[1] = 0x80
    itt = c.next_itt()
    struct.pack_into('>IHHII', bhs, 16, itt, c.cid, 0, c.cmdsn, c.exp_statsn)
    return bhs, itt


def _collect(c, seconds):
    """The target's PDUs until it closes the connection or says nothing for that long:
    ([pdu, ...], closed)."""
    pdus = []
    c.sock.settimeout(seconds)
    try:
        while True:
            pdus.append(c.recv_pdu())
    except socket.timeout:
        return pdus, False
    except (ConnectionError, OSError):
        return pdus, True


def _busy_session(host, port, target):
    """A logged-in connection whose nexus has seen its first unit attention."""
    c = ic.Connection(host, port, timeout=10)
    c.login(target=target)
    c.scsi(ic.test_unit_ready())
    return c


def regress_warm_reset_and_abort_of_a_read_then_logout(host, port, target):
    """Found by this fuzzer (seed 1, session 25): a READ, TARGET WARM RESET, ABORT TASK of
    that READ and a logout, sent at once. The connection closed while both functions were
    still at the SCSI layer freed their tasks; the SCSI layer then completed them into the
    pool (a double free: the connection's task count wrapped, it stayed "exiting" for good
    and SIGTERM no longer stopped the target; in longer runs the same task was handed out
    twice). The logout terminates what is still pending (RFC 7143 11.14): each function is
    answered "function complete" or not at all, the READ with GOOD status or not at all;
    the logout is answered last, the connection closes and everything comes back."""
    c = _busy_session(host, port, target)
    rd, rd_itt = c.scsi_bhs(ic.read10(0x2c0c, 128), 128 * BS, read=True)
    reset, reset_itt = _tmf_bhs(c, 6, 0xFFFFFFFF, 0)
    abort, abort_itt = _tmf_bhs(c, 1, rd_itt, c.cmdsn - 1)
    logout, logout_itt = _logout_bhs(c)
    c.send_raw(b''.join(bytes(p) for p in (rd, reset, abort, logout)))
    pdus, closed = _collect(c, 5)
    c.close()
    tmf = {p.itt: p.bhs[2] for p in pdus if p.opcode == ic.OP_TASK_RSP}
    read_status = [p.bhs[3] for p in pdus if p.itt == rd_itt and (
        p.opcode == ic.OP_SCSI_RSP or (p.opcode == ic.OP_DATA_IN and p.flags & 0x01))]
    out = [p.bhs[2] for p in pdus if p.opcode == ic.OP_LOGOUT_RSP]
    fc.check('regression: WARM RESET and ABORT TASK of a READ before a logout are answered '
             '"function complete" if at all',
             set(tmf) <= {reset_itt, abort_itt} and set(tmf.values()) <= {0}, str(pdus))
    fc.check('regression: ... the READ is aborted or GOOD', read_status in ([], [0]),
             str(read_status))
    fc.check('regression: ... the logout is answered last and the target closes',
             out == [0] and pdus[-1].opcode == ic.OP_LOGOUT_RSP and closed, str(pdus))


def regress_connection_reset_under_task_management(host, port, target):
    """The same functions in flight when the initiator resets the connection: the
    connection must wait for the SCSI layer to answer them before it is freed."""
    c = _busy_session(host, port, target)
    pdus = []
    itts = []
    for lba in (0, 4096, 8192):
        bhs, itt = c.scsi_bhs(ic.read10(lba, 1024), 1024 * BS, read=True)
        pdus.append(bhs)
        itts.append(itt)
    pdus.append(_tmf_bhs(c, 1, itts[1], c.cmdsn - 2)[0])
    pdus.append(_tmf_bhs(c, 5, 0xFFFFFFFF, 0)[0])
    pdus.append(_tmf_bhs(c, 2, 0xFFFFFFFF, 0)[0])
    pdus.append(_tmf_bhs(c, 6, 0xFFFFFFFF, 0)[0])
    c.send_raw(b''.join(bytes(p) for p in pdus))
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()
    c = _busy_session(host, port, target)
    # The resets may still be running: each that ends adds a unit attention for this nexus,
    # and one still running may abort this READ too (ABORTED COMMAND). Both are retried.
    for _ in range(20):
        status, sense, data = c.scsi(ic.read10(0, 8), read_len=8 * BS, ua_retries=1)
        if not (status == 2 and len(sense) > 2 and (sense[2] & 0x0f) in (0x6, 0xb)):
            break
        time.sleep(0.1)
    fc.check('regression: a connection reset while task management functions run leaves '
             'the target serving', status == 0 and len(data) == 8 * BS,
             'status %d, sense %s, %d bytes' % (status, sense.hex(), len(data)))
    c.logout()
    c.close()


def regress_abort_of_a_write_waiting_for_data(host, port, target):
    """ABORT TASK of a WRITE that waits for its Data-Out (not at the SCSI layer yet) ends it
    there: "function complete", no response for the WRITE, and Data-Out sent for it later
    is rejected; QUERY TASK first finds it (function succeeded)."""
    c = ic.Connection(host, port, timeout=10)
    c.initial_r2t = True
    c.immediate_data = False
    c.login(target=target)
    c.scsi(ic.test_unit_ready())
    data = bytes(range(256)) * 2
    bhs, witt = c.scsi_bhs(ic.write10(300, 1), len(data), write=True, final=True)
    c.send_pdu(bhs)
    query, query_itt = _tmf_bhs(c, 9, witt, c.cmdsn - 1)
    abort, abort_itt = _tmf_bhs(c, 1, witt, c.cmdsn - 1)
    c.send_raw(bytes(query) + bytes(abort))
    first, _ = _collect(c, 1)
    c._send_data_out(witt, 0xFFFFFFFF, data, 0, len(data), 0)
    second, _ = _collect(c, 1)
    tmf = {p.itt: p.bhs[2] for p in first if p.opcode == ic.OP_TASK_RSP}
    fc.check('regression: QUERY TASK finds a WRITE waiting for Data-Out, ABORT TASK ends it',
             tmf == {query_itt: 7, abort_itt: 0}, str(first))
    fc.check('regression: ... the WRITE gets no response and its late Data-Out a Reject',
             not [p for p in first + second if p.opcode == ic.OP_SCSI_RSP] and
             [p.opcode for p in second] == [ic.OP_REJECT], str(first + second))
    status, _, _ = c.scsi(ic.test_unit_ready())
    fc.check('regression: ... and the session goes on', status == 0)
    c.logout()
    c.close()


REGRESSIONS = [regress_data_out_for_a_write_waiting_for_its_cmdsn,
               regress_warm_reset_and_abort_of_a_read_then_logout,
               regress_connection_reset_under_task_management,
               regress_abort_of_a_write_waiting_for_data]


def main():
    host, port, target, sock, pid, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
    args = sys.argv[7:]
    base = int(args[args.index('--seed') + 1]) if '--seed' in args else \
        random.randrange(1 << 30)
    if '--replay' in args:
        run_session(host, port, target, int(args[args.index('--replay') + 1]))
        fc.check('target alive after replaying the session', fc.alive(pid))
        return fc.exit_status()
    threads_n = int(args[args.index('--threads') + 1]) if '--threads' in args else 4
    limit = int(args[args.index('--sessions') + 1]) if '--sessions' in args else None
    print('net_fuzz: base seed %d, %.0f s, %d connections at once%s' %
          (base, seconds, threads_n, ', %d sessions' % limit if limit else ''), flush=True)
    start = fc.pool_stats(sock)
    for fn in REGRESSIONS:
        try:
            fn(host, port, target)
        except (OSError, ic.ProtocolError) as e:
            fc.check('regression %s' % fn.__name__, False, repr(e))
        if not fc.check('target alive after %s' % fn.__name__, fc.alive(pid)):
            return fc.exit_status()
        got = fc.wait_pools(sock, start)
        fc.check('pools, sessions and connections back after %s' % fn.__name__, got == start,
                 'now %s, at start %s' % (got, start))
    stop = time.time() + seconds
    counts = [0] * threads_n
    answered = [0] * threads_n
    last = [None] * threads_n
    dead = threading.Event()
    crashed = []

    def worker(w):
        n = 0
        while time.time() < stop and not dead.is_set() and \
                (limit is None or n * threads_n + w < limit):
            seed = base + w + threads_n * n
            last[w] = seed
            try:
                answered[w] += run_session(host, port, target, seed)
            except OSError:
                if not fc.alive(pid):
                    dead.set()
                    return
            except Exception as e:  # a bug of the fuzzer itself
                crashed.append('seed %d: %r' % (seed, e))
                return
            n += 1
            counts[w] = n

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts)
    print('net_fuzz: %d sessions, %d answered by the target' % (total, sum(answered)),
          flush=True)
    # All the sessions asked for, or (time up first, on a slow or loaded machine) at least
    # one a second: fewer means the fuzzer itself is stuck.
    fc.check('the fuzzer ran (%d sessions, no error of its own)' % total,
             not crashed and total >= min(limit or seconds, seconds), '; '.join(crashed[:3]))
    # Most sessions begin with a login the target answers, mutated or not: far fewer answers
    # mean the sessions no longer reach the target at all.
    fc.check('the target answered most sessions (%d of %d)' % (sum(answered), total),
             sum(answered) * 2 >= total)
    ok = fc.check('target alive after %d mutated sessions' % total, fc.alive(pid),
                  'last seeds %s (replay with --replay SEED)' % last)
    if not ok:
        return fc.exit_status()
    try:
        fc.rpc(sock, 'spdk_get_version', timeout=10)
        fc.check('the target still answers RPCs', True)
    except (OSError, RuntimeError) as e:
        fc.check('the target still answers RPCs', False, '%r; last seeds %s' % (e, last))
        return fc.exit_status()
    got = fc.wait_pools(sock, start, timeout=30)
    fc.check('pools, sessions and connections back to their start values', got == start,
             'now %s, at start %s; base seed %d' % (got, start, base))
    try:
        c = ic.Connection(host, port, timeout=10)
        c.login(target=target)
        status, _, data = c.scsi(ic.read10(0, 8), read_len=8 * BS)
        c.logout()
        c.close()
        fc.check('a clean session logs in and reads', status == 0 and len(data) == 8 * BS)
    except (OSError, ic.ProtocolError) as e:
        fc.check('a clean session logs in and reads', False, repr(e))
    return fc.exit_status()


if __name__ == '__main__':
    sys.exit(main())
