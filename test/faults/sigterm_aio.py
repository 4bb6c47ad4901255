"""SIGTERM with writes in flight on an AIO LUN. `write` mode: four sessions write 32 KiB
blocks, each naming its writer and LBA, to their own LBA ranges (never the same block twice):
two with FUA, queue depth 4, each acknowledged write recorded at once; two in batches of
eight plain writes followed by SYNCHRONIZE CACHE, a batch recorded only when the cache flush
is GOOD. They go on until the target goes away, and the journal lists what was acknowledged.
`verify` mode: every journaled write must be in the backing file (or, with a portal, read back
through iSCSI from the restarted target).
Usage: sigterm_aio.py write HOST PORT TARGET JOURNAL
       sigterm_aio.py verify-file FILE JOURNAL
       sigterm_aio.py verify-iscsi HOST PORT TARGET JOURNAL"""

import sys
import threading

import faults_common as fc
import iscsi_client as ic

BS = 512
BLOCKS = 64                  # 32 KiB a write
REGION = 262144              # blocks per writer (128 MiB): far more than a few seconds' work


def data_for(tag, lba):
    return b''.join(fc.pattern(tag, lba + k, BS) for k in range(BLOCKS))


def writer(idx, fua, host, port, target, journal, lock, counts):
    c = fc.Pipeline(host, port, timeout=10)
    try:
        c.login(initiator='iqn.2016-06.io.keel:writer%d' % idx, target=target)
        c.scsi(ic.test_unit_ready())
        lba = idx * REGION
        end = lba + REGION
        seq = 0
        tags = {}
        depth = 4 if fua else 8

        def record(done):
            with lock:
                for d in done:
                    journal.write('%d %s\n' % d)
                journal.flush()
                counts[idx] += len(done)

        while lba < end or c.inflight:
            while lba < end and len(c.inflight) < depth:
                tag = 'w%d-%d' % (idx, seq)
                seq += 1
                itt = c.submit(lba, BLOCKS, BS, data=data_for(tag, lba), fua=fua)
                tags[itt] = (lba, tag)
                lba += BLOCKS
            done = []
            # FUA: each write counts once it is acknowledged. Otherwise the whole batch
            # counts once a cache flush after it is GOOD.
            while c.inflight and (not fua or not done):
                itt, status, _ = c.complete_one()
                if status != 0:
                    raise ic.ProtocolError('write status %d' % status)
                done.append(tags.pop(itt))
            if not fua:
                status, _, _ = c.scsi(bytes([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
                if status != 0:
                    raise ic.ProtocolError('SYNCHRONIZE CACHE status %d' % status)
            record(done)
    except (OSError, ic.ProtocolError) as e:
        print('writer %d stopped: %s' % (idx, e), flush=True)
    finally:
        c.close()


def write_mode(host, port, target, path):
    lock = threading.Lock()
    counts = [0] * 4
    with open(path, 'w') as journal:
        threads = [threading.Thread(target=writer, args=(i, i < 2, host, int(port), target,
                                                         journal, lock, counts))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print('acknowledged writes per writer: %s' % counts, flush=True)


def records(path):
    with open(path) as f:
        return [(int(a), b) for a, b in (line.split() for line in f if line.strip())]


def verify_file(img, path):
    recs = records(path)
    bad = []
    with open(img, 'rb') as f:
        for lba, tag in recs:
            f.seek(lba * BS)
            if f.read(BLOCKS * BS) != data_for(tag, lba):
                bad.append('%s at %d' % (tag, lba))
    fc.check('journal lists acknowledged writes (%d)' % len(recs), len(recs) > 0)
    fc.check('every acknowledged write is in the backing file after SIGTERM', not bad,
             '%d missing, first %s' % (len(bad), bad[:3]))


def verify_iscsi(host, port, target, path):
    recs = records(path)
    c = ic.Connection(host, int(port), timeout=10)
    c.login(target=target)
    bad = []
    for lba, tag in recs:
        status, _, data = c.scsi(ic.read10(lba, BLOCKS), read_len=BLOCKS * BS)
        if status != 0 or data != data_for(tag, lba):
            bad.append('%s at %d' % (tag, lba))
    c.logout()
    c.close()
    fc.check('every acknowledged write reads back through the restarted target', not bad,
             '%d missing, first %s' % (len(bad), bad[:3]))


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'write':
        write_mode(*sys.argv[2:6])
    elif mode == 'verify-file':
        verify_file(*sys.argv[2:4])
    else:
        verify_iscsi(*sys.argv[2:6])
    sys.exit(fc.exit_status())
