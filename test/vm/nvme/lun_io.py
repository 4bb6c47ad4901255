#!/usr/bin/env python3
"""Write or verify 1 MiB patterns on one LUN through a forwarded iSCSI portal.

Usage: lun_io.py PORT TARGET LUN write|verify SEED BLOCKS COUNT
       lun_io.py --file PATH verify SEED BLOCKS COUNT

Logs in to TARGET at 127.0.0.1:PORT and writes (or reads back and compares) COUNT patterns of
1 MiB (2048 blocks of 512 bytes), spread evenly over a LUN of BLOCKS blocks, the last one ending
at the LUN's end. Each pattern's bytes come from SEED and its index, so a verify with the same
seed checks what a write left. Prints one line per pattern; exits 0 when every command
succeeded (and every pattern matched), 1 otherwise. With --file the patterns are read from
PATH, the drive's backing file, instead: what reached the medium.
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                '..', '..', 'iscsi_tgt', 'common'))
import iscsi_client as ic  # noqa: E402

CHUNK_BLOCKS = 2048


def pattern(seed, index):
    return random.Random("%s/%d" % (seed, index)).randbytes(CHUNK_BLOCKS * 512)


def verify_file(path, seed, blocks, count):
    step = (blocks - CHUNK_BLOCKS) // max(count - 1, 1)
    ok = True
    with open(path, "rb") as f:
        for i in range(count):
            lba = min(i * step, blocks - CHUNK_BLOCKS)
            f.seek(lba * 512)
            good = f.read(CHUNK_BLOCKS * 512) == pattern(seed, i)
            print("file lba %d:%s" % (lba, " ok" if good else " BAD"))
            ok = ok and good
    return 0 if ok else 1


def main():
    if sys.argv[1] == "--file":
        return verify_file(sys.argv[2], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    port, target, lun, mode, seed = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                     sys.argv[4], sys.argv[5])
    blocks, count = int(sys.argv[6]), int(sys.argv[7])
    step = (blocks - CHUNK_BLOCKS) // max(count - 1, 1)
    conn = ic.Connection(port=port, timeout=60.0)
    conn.login(target=target)
    ok = True
    for i in range(count):
        lba = min(i * step, blocks - CHUNK_BLOCKS)
        data = pattern(seed, i)
        if mode == "write":
            st, sense, _ = conn.scsi(ic.write10(lba, CHUNK_BLOCKS), data=data, lun=lun)
            good = st == 0
        else:
            st, sense, back = conn.scsi(ic.read10(lba, CHUNK_BLOCKS), read_len=len(data), lun=lun)
            good = st == 0 and back == data
        print("%s lba %d: status %d%s%s" % (mode, lba, st, " sense " + sense.hex() if sense else "",
                                            "" if good else " BAD"))
        ok = ok and good
    conn.logout()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
