"""Security checks against a running target whose target node requires CHAP (auth group 1,
user alice): a wrong CHAP secret fails with 02/01 and is logged with the initiator's name and
address; the right one logs in; repeated failures from one address are answered later and
later (three free, then 250 ms doubling), while the reactor keeps serving RPCs and sessions.
Usage: security.py HOST PORT TARGET RPC_SOCK PID SECRET WRONG_SECRET"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'faults'))
import faults_common as fc  # noqa: E402
import iscsi_client as ic  # noqa: E402

host, port, target, sock, pid, secret, wrong = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7]
INITIATOR = 'iqn.2016-06.io.keel:guesser'
AUTH_FAILURE = 0x0201


def attempt(pw, initiator=INITIATOR):
    """One CHAP login; returns (status, seconds until the answer)."""
    c = ic.Connection(host, port, timeout=20)
    t0 = time.time()
    try:
        status = fc.chap_login(c, initiator, target, 'alice', pw)
    finally:
        elapsed = time.time() - t0
    if status == 0:
        c.logout()
    c.close()
    return status, elapsed


# A good session first, to show that it is not disturbed later.
good = ic.Connection(host, port, timeout=20)
fc.check('the right CHAP secret logs in', fc.chap_login(good, 'iqn.2016-06.io.keel:good', target,
                                                          'alice', secret) == 0)

status, t1 = attempt(wrong)
fc.check('a wrong CHAP secret fails with 02/01', status == AUTH_FAILURE, '0x%04x' % status)

# Failures 2 and 3 are free; 4, 5, 6 wait 250, 500, 1000 ms.
times = [t1]
for _ in range(5):
    status, t = attempt(wrong)
    times.append(t)
    if status != AUTH_FAILURE:
        fc.check('repeated wrong secrets fail with 02/01', False, '0x%04x' % status)
print('answer times of failures 1-6: %s' % ', '.join('%.2f s' % t for t in times), flush=True)
fc.check('failures 4, 5 and 6 are answered after at least 0.25, 0.5 and 1 s',
         times[3] >= 0.25 and times[4] >= 0.5 and times[5] >= 1.0)
fc.check('the first three are answered without that wait (each faster than the 6th by 0.5 s)',
         max(times[:3]) < times[5] - 0.5)

# The 7th waits 2 s: meanwhile the reactor serves an RPC and the good session.
result = {}


def seventh():
    result['status'], result['t'] = attempt(wrong)


th = threading.Thread(target=seventh)
th.start()
time.sleep(0.5)
t0 = time.time()
fc.rpc(sock, 'spdk_get_version')
rpc_t = time.time() - t0
t0 = time.time()
good.nop(b'still here')
nop_t = time.time() - t0
th.join()
print('7th failure after %.2f s; meanwhile an RPC took %.2f s and a NOP %.2f s'
      % (result['t'], rpc_t, nop_t), flush=True)
fc.check('a delayed failure does not stall the reactor (RPC and NOP answered meanwhile)',
         result['t'] >= 2.0 and rpc_t < 1.0 and nop_t < 1.0)
status, t = attempt(secret, 'iqn.2016-06.io.keel:late')
fc.check('a right secret from the same address still logs in at once (%.2f s)' % t,
         status == 0 and t < 1.0)
good.logout()
good.close()
fc.check('target alive', fc.alive(pid))
sys.exit(fc.exit_status())
