#!/usr/bin/env python3
"""SCSI commands against one LUN of keel, for error.sh, through the small iSCSI initiator of
test/iscsi_tgt/common/iscsi_client.py.

    error_io.py PORT TARGET read LBA BLOCKS
        READ(10); prints "STATUS SENSE_KEY ASC SHA256-OF-DATA" (sense key and ASC 0 if none).
    error_io.py PORT TARGET write LBA BLOCKS BYTE
        WRITE(10) of BLOCKS 512-byte blocks all BYTE; prints "STATUS SENSE_KEY ASC".
    error_io.py PORT TARGET held-read LBA BLOCKS SECONDS CMD...
        Sends a READ(10), checks that no answer comes for SECONDS, runs CMD (e.g. an rpc.py
        call that should release the READ), then waits for the answer; prints
        "held STATUS SENSE_KEY ASC", or "answered STATUS SENSE_KEY ASC" if it was not held.
    error_io.py PORT TARGET held-read-reset LBA BLOCKS SECONDS
        Sends a READ(10), checks that no answer comes for SECONDS, sends a LOGICAL UNIT RESET
        and waits for its answer; then a TEST UNIT READY. Prints "held|answered TMF_RESPONSE
        READ_ANSWERED TUR_STATUS TUR_SENSE_KEY TUR_ASC" (a reset ends the READ without an
        answer; the TEST UNIT READY sees the reset's unit attention).
"""

import hashlib
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', 'iscsi_tgt', 'common'))
import iscsi_client as ic  # noqa: E402

BLOCK = 512


def sense_of(sense):
    if len(sense) < 14:
        return 0, 0
    return sense[2] & 0x0f, sense[12]


def connect(port, target):
    conn = ic.Connection(port=port, timeout=30)
    conn.login(target=target)
    # A new nexus first sees a unit attention: take it with TEST UNIT READY.
    conn.scsi(ic.test_unit_ready())
    return conn


def cmd_read(conn, lba, blocks):
    status, sense, data = conn.scsi(ic.read10(lba, blocks), read_len=blocks * BLOCK)
    sk, asc = sense_of(sense)
    print(status, sk, asc, hashlib.sha256(data).hexdigest())


def cmd_write(conn, lba, blocks, byte):
    status, sense, _ = conn.scsi(ic.write10(lba, blocks), data=bytes([byte]) * (blocks * BLOCK))
    sk, asc = sense_of(sense)
    print(status, sk, asc)


def cmd_held_read(conn, lba, blocks, seconds, command):
    bhs, _ = conn.scsi_bhs(ic.read10(lba, blocks), blocks * BLOCK, read=True)
    conn.send_pdu(bhs)
    conn.sock.settimeout(seconds)
    try:
        pdu = conn.recv_pdu()
        held = False
    except socket.timeout:
        held = True
        pdu = None
    conn.sock.settimeout(30)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    while pdu is None or pdu.opcode not in (ic.OP_SCSI_RSP, ic.OP_DATA_IN):
        pdu = conn.recv_pdu()
    while pdu.opcode == ic.OP_DATA_IN and not pdu.flags & 0x01:
        pdu = conn.recv_pdu()
    sense = b''
    if pdu.opcode == ic.OP_SCSI_RSP and pdu.data:
        slen = struct.unpack('>H', pdu.data[:2])[0]
        sense = pdu.data[2:2 + slen]
    sk, asc = sense_of(sense)
    print('held' if held else 'answered', pdu.bhs[3], sk, asc)


def cmd_held_read_reset(conn, lba, blocks, seconds):
    bhs, read_itt = conn.scsi_bhs(ic.read10(lba, blocks), blocks * BLOCK, read=True)
    conn.send_pdu(bhs)
    conn.sock.settimeout(seconds)
    try:
        conn.recv_pdu()
        held = False
    except socket.timeout:
        held = True
    conn.sock.settimeout(30)
    tmf = bytearray(48)
    tmf[0] = ic.OP_TASK_REQ | 0x40
    tmf[1] = 0x80 | 5  # LOGICAL UNIT RESET
    itt = conn.next_itt()
    struct.pack_into('>I', tmf, 16, itt)
    struct.pack_into('>I', tmf, 20, 0xFFFFFFFF)
    struct.pack_into('>I', tmf, 24, conn.cmdsn)
    struct.pack_into('>I', tmf, 28, conn.exp_statsn)
    conn.send_pdu(tmf)
    read_answered = 0
    while True:
        pdu = conn.recv_pdu()
        if pdu.opcode == ic.OP_TASK_RSP and pdu.itt == itt:
            response = pdu.bhs[2]
            break
        if pdu.itt == read_itt:
            read_answered = 1
    status, sense, _ = conn.scsi(ic.test_unit_ready(), ua_retries=1)
    sk, asc = sense_of(sense)
    print('held' if held else 'answered', response, read_answered, status, sk, asc)


def main():
    port, target, op = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    conn = connect(port, target)
    if op == 'read':
        cmd_read(conn, int(args[0]), int(args[1]))
    elif op == 'write':
        cmd_write(conn, int(args[0]), int(args[1]), int(args[2], 0))
    elif op == 'held-read':
        cmd_held_read(conn, int(args[0]), int(args[1]), float(args[2]), args[3:])
    elif op == 'held-read-reset':
        cmd_held_read_reset(conn, int(args[0]), int(args[1]), float(args[2]))
    else:
        sys.exit('unknown operation ' + op)
    conn.close()


if __name__ == '__main__':
    main()
