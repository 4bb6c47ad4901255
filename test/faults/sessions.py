"""Many sessions: SESSIONS normal sessions logged in at once (each on its own connection, all
answering a NOP), then all logged out; then CYCLES login/logout cycles from a few threads, with
the target's resident memory measured after a warm-up and at the end. Pool counts, sessions and
connections must be back to their start values after each part.
Usage: sessions.py HOST PORT TARGET RPC_SOCK PID SESSIONS CYCLES RSS_TOLERANCE_KB"""

import sys
import threading
import time

import faults_common as fc
import iscsi_client as ic

host, port, target, sock, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], \
    int(sys.argv[5])
sessions, cycles, tolerance_kb = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
THREADS = 4

start = fc.pool_stats(sock)

# Part 1: all at once.
t0 = time.time()
conns = []
errors = []
for i in range(sessions):
    c = ic.Connection(host, port, timeout=30)
    try:
        c.login(initiator='iqn.2016-06.io.keel:many%d' % i, target=target)
        conns.append(c)
    except (OSError, ic.ProtocolError) as e:
        errors.append('%d: %s' % (i, e))
        c.close()
        if len(errors) > 5:
            break
print('%d logins in %.1f s' % (len(conns), time.time() - t0), flush=True)
fc.check('%d sessions logged in at once' % sessions, len(conns) == sessions and not errors,
         '; '.join(errors[:5]))
st = fc.pool_stats(sock)
fc.check('the target counts %d sessions and connections' % sessions,
         st['sessions'] == sessions and st['connections'] == sessions, str(st))
print('target RSS with %d sessions: %d KiB' % (len(conns), fc.rss_kb(pid)), flush=True)
bad = 0
for c in conns:
    try:
        c.nop(b'ping')
    except (OSError, ic.ProtocolError):
        bad += 1
fc.check('every one of them answers a NOP-Out', bad == 0, '%d did not' % bad)
bad = 0
for c in conns:
    try:
        if c.logout() != 0:
            bad += 1
    except (OSError, ic.ProtocolError):
        bad += 1
    c.close()
fc.check('all logged out', bad == 0, '%d logouts failed' % bad)
got = fc.wait_pools(sock, start, timeout=30)
fc.check('pools, sessions and connections back to their start values after %d sessions'
         % sessions, got == start, 'now %s, at start %s' % (got, start))

# Part 2: login/logout cycles.
done = [0]
cycle_errors = []
lock = threading.Lock()


def cycler(idx, count):
    for k in range(count):
        c = ic.Connection(host, port, timeout=30)
        try:
            c.login(initiator='iqn.2016-06.io.keel:cycle%d' % idx, target=target)
            if c.logout() != 0:
                raise ic.ProtocolError('logout status')
        except (OSError, ic.ProtocolError) as e:
            with lock:
                cycle_errors.append(str(e))
        finally:
            c.close()
        with lock:
            done[0] += 1


def run_cycles(n):
    threads = [threading.Thread(target=cycler, args=(i, n // THREADS)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


warm = max(cycles // 10, THREADS)
t0 = time.time()
run_cycles(warm)
fc.wait_pools(sock, start, timeout=10)
rss_warm = fc.rss_kb(pid)
run_cycles(cycles - warm)
elapsed = time.time() - t0
got = fc.wait_pools(sock, start, timeout=30)
rss_end = fc.rss_kb(pid)
print('%d cycles in %.1f s (%.0f a second); RSS after %d cycles %d KiB, at the end %d KiB'
      % (done[0], elapsed, done[0] / elapsed, warm, rss_warm, rss_end), flush=True)
fc.check('%d login/logout cycles without an error' % done[0],
         not cycle_errors and done[0] >= cycles - THREADS, '; '.join(cycle_errors[:5]))
fc.check('pools, sessions and connections back to their start values after the cycles',
         got == start, 'now %s, at start %s' % (got, start))
fc.check('resident memory flat: grew %d KiB over %d cycles (tolerance %d KiB)'
         % (rss_end - rss_warm, done[0] - warm, tolerance_kb),
         rss_end - rss_warm <= tolerance_kb)
sys.exit(fc.exit_status())
