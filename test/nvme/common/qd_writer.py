#!/usr/bin/env python3
"""Keep N large WRITE(16) commands in flight on one LUN, with every byte sent through R2T.

Usage: qd_writer.py PORT TARGET LUN [--qd 32] [--size 1048576] [--seconds 20] [--stop-after-error 1]

Logs in with InitialR2T=Yes and ImmediateData=No, so each command's data goes out only as
Data-Out answering the target's R2Ts. Runs for --seconds, or until --stop-after-error seconds
after the first failed command; then stops issuing and waits for every outstanding command to
be answered. Prints one JSON line: commands good, failed (with the first sense data), and
"lost" (commands never answered: the socket timed out). Exit status: 0 if every command was
answered, 2 if some were lost, 3 if the connection failed.
"""

import argparse
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                '..', '..', 'iscsi_tgt', 'common'))
import iscsi_client as ic  # noqa: E402


def write16(lba, blocks):
    return struct.pack('>BBQIBB', 0x8a, 0, lba, blocks, 0, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('port', type=int)
    ap.add_argument('target')
    ap.add_argument('lun', type=int)
    ap.add_argument('--qd', type=int, default=32)
    ap.add_argument('--size', type=int, default=1 << 20)
    ap.add_argument('--seconds', type=float, default=20.0)
    ap.add_argument('--stop-after-error', type=float, default=1.0)
    ap.add_argument('--blocks-total', type=int, default=131072, help='LUN size in 512-byte blocks')
    args = ap.parse_args()

    conn = ic.Connection(port=args.port, timeout=30.0)
    conn.immediate_data = False
    conn.initial_r2t = True
    conn.max_burst = 262144
    conn.login(target=args.target)
    data = os.urandom(args.size)
    blocks = args.size // 512
    outstanding = {}
    stats = {'good': 0, 'failed': 0, 'unit_attention': 0, 'lost': 0, 'issued': 0, 'first_sense': None,
             'first_status': None}
    deadline = time.time() + args.seconds
    first_error = None
    lba = 0
    max_cmdsn = conn.cmdsn + args.qd

    def issue():
        nonlocal lba
        bhs, itt = conn.scsi_bhs(write16(lba, blocks), args.size, write=True, lun=args.lun)
        conn.send_pdu(bhs)
        outstanding[itt] = lba
        stats['issued'] += 1
        lba = (lba + blocks) % max(args.blocks_total - blocks, 1)

    try:
        while True:
            now = time.time()
            stopping = now > deadline or (first_error is not None and
                                          now > first_error + args.stop_after_error)
            while not stopping and len(outstanding) < args.qd and \
                    ((max_cmdsn - conn.cmdsn) & 0xFFFFFFFF) < 0x80000000:
                issue()
            if not outstanding:
                break
            pdu = conn.recv_pdu()
            if pdu.opcode == ic.OP_R2T:
                conn._send_data_out(pdu.itt, pdu.u32(20), data, pdu.u32(40), pdu.u32(44),
                                    args.lun)
            elif pdu.opcode == ic.OP_SCSI_RSP:
                max_cmdsn = pdu.u32(32)
                outstanding.pop(pdu.itt, None)
                status = pdu.bhs[3]
                sense = b''
                if pdu.data:
                    slen = struct.unpack('>H', pdu.data[:2])[0]
                    sense = pdu.data[2:2 + slen]
                if pdu.bhs[2] == 0 and status == 0:
                    stats['good'] += 1
                elif status == 2 and len(sense) > 2 and (sense[2] & 0x0f) == 6:
                    # A unit attention (new nexus, LUN inventory changed) is not a failure.
                    stats['unit_attention'] += 1
                else:
                    stats['failed'] += 1
                    if first_error is None:
                        first_error = time.time()
                        stats['first_status'] = status
                        stats['first_sense'] = sense.hex()
            elif pdu.opcode in (ic.OP_NOP_IN, ic.OP_ASYNC):
                if pdu.opcode == ic.OP_NOP_IN and pdu.itt == 0xFFFFFFFF and \
                        pdu.u32(20) != 0xFFFFFFFF:
                    conn.send_pdu(_nop_reply(conn, pdu))
                continue
            elif pdu.opcode == ic.OP_REJECT:
                stats['failed'] += 1
            else:
                raise ic.ProtocolError('unexpected %r' % pdu)
    except OSError as ex:
        if 'timed out' in str(ex):
            stats['lost'] = len(outstanding)
            print(json.dumps(stats))
            return 2
        stats['error'] = str(ex)
        print(json.dumps(stats))
        return 3
    conn.close()
    print(json.dumps(stats))
    return 0


def _nop_reply(conn, pdu):
    bhs = bytearray(ic.BHS_LEN)
    bhs[0] = ic.OP_NOP_OUT | 0x40
    bhs[1] = 0x80
    struct.pack_into('>I', bhs, 16, 0xFFFFFFFF)
    struct.pack_into('>I', bhs, 20, pdu.u32(20))
    struct.pack_into('>I', bhs, 24, conn.cmdsn)
    struct.pack_into('>I', bhs, 28, conn.exp_statsn)
    return bhs


if __name__ == '__main__':
    sys.exit(main())
