"""A bdev deleted by RPC while 1 MiB reads and writes run over iSCSI at queue depth 32: the
deletion answers, every command in flight ends (GOOD before, CHECK CONDITION after; none is
lost), the LUN disappears from the target, the connection may stay, and once the initiator
logs out every pool count is back to its start value.
Usage: bdev_delete.py HOST PORT TARGET RPC_SOCK PID BDEV"""

import random
import sys
import threading
import time

import faults_common as fc
import iscsi_client as ic

host, port, target, sock, pid, bdev = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    sys.argv[4], int(sys.argv[5]), sys.argv[6]
BS = 512
IO_BLOCKS = 2048             # 1 MiB
DEPTH = 32
LUN_BLOCKS = 64 * 1024 * 1024 // BS

start = fc.pool_stats(sock)
c = fc.Pipeline(host, port, timeout=15)
c.max_burst = 1048576
c.first_burst = 262144
c.login(target=target)
# The first command meets the new nexus' unit attention.
c.scsi(ic.test_unit_ready())

payload = bytes(random.getrandbits(8) for _ in range(4096)) * (IO_BLOCKS * BS // 4096)
rng = random.Random(7)
counts = {'good': 0, 'check': 0, 'other': 0, 'good_after': 0}
deleted_at = [None]
delete_result = []


def delete_later():
    time.sleep(1.5)
    t = time.time()
    try:
        delete_result.append(fc.rpc(sock, 'bdev_malloc_delete', {'name': bdev}, timeout=20))
    except RuntimeError as e:
        delete_result.append(e)
    deleted_at[0] = time.time()
    print('bdev_malloc_delete answered in %.2f s' % (deleted_at[0] - t), flush=True)


deleter = threading.Thread(target=delete_later)
deleter.start()
submitted = 0
lost = None
t0 = time.time()
try:
    while True:
        stop = deleted_at[0] is not None and time.time() - deleted_at[0] > 1.0
        while not stop and len(c.inflight) < DEPTH:
            lba = rng.randrange(0, LUN_BLOCKS // IO_BLOCKS) * IO_BLOCKS
            c.submit(lba, IO_BLOCKS, BS, data=payload if rng.random() < 0.5 else None)
            submitted += 1
        if not c.inflight:
            break
        _, status, _ = c.complete_one()
        if status == 0:
            counts['good'] += 1
            if deleted_at[0] is not None:
                counts['good_after'] += 1
        elif status == 2:
            counts['check'] += 1
        else:
            counts['other'] += 1
        if time.time() - t0 > 60:
            raise RuntimeError('still running after 60 s')
except (OSError, ic.ProtocolError, RuntimeError) as e:
    lost = '%s with %d commands in flight' % (e, len(c.inflight))
deleter.join()
print('%d commands: %s' % (submitted, counts), flush=True)
fc.check('the deletion answered while I/O ran', delete_result == [True], str(delete_result))
fc.check('every command in flight ended (none lost, no connection error)', lost is None,
         str(lost))
fc.check('commands ran before the deletion (%d good)' % counts['good'], counts['good'] > 0)
fc.check('commands after the deletion end with CHECK CONDITION (%d)' % counts['check'],
         counts['check'] > 0 and counts['other'] == 0)
bdevs = [b['name'] for b in fc.rpc(sock, 'bdev_get_bdevs')]
fc.check('the bdev is gone', bdev not in bdevs, str(bdevs))
nodes = fc.rpc(sock, 'iscsi_get_target_nodes')
fc.check('the target has no LUN left', all(not n.get('luns') for n in nodes), str(nodes))
if lost is None:
    status, _, _ = c.scsi(ic.read10(0, 8), read_len=8 * BS)
    fc.check('the session still answers (a READ now ends in CHECK CONDITION)', status == 2)
    c.logout()
c.close()
got = fc.wait_pools(sock, start)
fc.check('pools, sessions and connections back to their start values', got == start,
         'now %s, at start %s' % (got, start))
fc.check('target alive', fc.alive(pid))
sys.exit(fc.exit_status())
