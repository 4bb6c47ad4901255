"""NVMe bdev methods: controllers, module options, hotplug; and the software NVMe controller,
a test facility (bdev_nvme_sim_*)."""

from .client import print_dict, print_json
from .helpers import add_command, deprecated_alias, strip_none


@deprecated_alias('construct_nvme_bdev')
def bdev_nvme_attach_controller(client, name, trtype, traddr, adrfam=None, trsvcid=None,
                                priority=None, subnqn=None, hostnqn=None, hostaddr=None,
                                hostsvcid=None, prchk_reftag=None, prchk_guard=None):
    """Attach an NVMe controller; returns the names of the bdevs created (<name>n<nsid>)."""
    params = strip_none({'name': name, 'trtype': trtype, 'traddr': traddr, 'adrfam': adrfam,
                         'trsvcid': trsvcid, 'priority': priority, 'subnqn': subnqn,
                         'hostnqn': hostnqn, 'hostaddr': hostaddr, 'hostsvcid': hostsvcid,
                         'prchk_reftag': prchk_reftag, 'prchk_guard': prchk_guard})
    return client.call('bdev_nvme_attach_controller', params)


@deprecated_alias('delete_nvme_controller')
def bdev_nvme_detach_controller(client, name, trtype=None, traddr=None, adrfam=None,
                                trsvcid=None, subnqn=None):
    """Detach an NVMe controller and delete its bdevs."""
    params = strip_none({'name': name, 'trtype': trtype, 'traddr': traddr, 'adrfam': adrfam,
                         'trsvcid': trsvcid, 'subnqn': subnqn})
    return client.call('bdev_nvme_detach_controller', params)


@deprecated_alias('get_nvme_controllers')
def bdev_nvme_get_controllers(client, name=None):
    """List attached NVMe controllers."""
    return client.call('bdev_nvme_get_controllers', strip_none({'name': name}))


@deprecated_alias('set_bdev_nvme_options')
def bdev_nvme_set_options(client, action_on_timeout=None, timeout_us=None, retry_count=None,
                          nvme_adminq_poll_period_us=None, nvme_ioq_poll_period_us=None,
                          io_queue_requests=None):
    """Set NVMe module options (before any controller is attached)."""
    params = strip_none({'action_on_timeout': action_on_timeout, 'timeout_us': timeout_us,
                         'retry_count': retry_count,
                         'nvme_adminq_poll_period_us': nvme_adminq_poll_period_us,
                         'nvme_ioq_poll_period_us': nvme_ioq_poll_period_us,
                         'io_queue_requests': io_queue_requests})
    return client.call('bdev_nvme_set_options', params)


@deprecated_alias('set_bdev_nvme_hotplug')
def bdev_nvme_set_hotplug(client, enable, period_us=None):
    """Enable or disable the NVMe hotplug monitor."""
    return client.call('bdev_nvme_set_hotplug',
                       strip_none({'enable': enable, 'period_us': period_us}))


def bdev_nvme_sim_create(client, index=None, num_ns=None, ns_size_mb=None, block_size=None,
                         max_io_queues=None, no_sgl=None):
    """Create a software NVMe controller (test facility); returns its address sim:<n>."""
    params = strip_none({'index': index, 'num_ns': num_ns, 'ns_size_mb': ns_size_mb,
                         'block_size': block_size, 'max_io_queues': max_io_queues,
                         'no_sgl': no_sgl})
    return client.call('bdev_nvme_sim_create', params)


def bdev_nvme_sim_remove(client, traddr):
    """Remove a software NVMe controller by surprise (test facility)."""
    return client.call('bdev_nvme_sim_remove', {'traddr': traddr})


def bdev_nvme_sim_inject(client, traddr, kind, opc=None, admin=None, sct=None, sc=None,
                         count=None):
    """Inject an error, a timeout or a fatal status into a software controller."""
    params = strip_none({'traddr': traddr, 'kind': kind, 'opc': opc, 'admin': admin,
                         'sct': sct, 'sc': sc, 'count': count})
    return client.call('bdev_nvme_sim_inject', params)


def bdev_nvme_sim_ns_set(client, traddr, nsid, size_mb):
    """Attach, resize (size_mb > 0) or detach (0) a namespace of a software controller."""
    return client.call('bdev_nvme_sim_ns_set',
                       {'traddr': traddr, 'nsid': nsid, 'size_mb': size_mb})


def add_parsers(subparsers):
    def cmd_attach(args):
        print_json(bdev_nvme_attach_controller(
            args.client, name=args.name, trtype=args.trtype, traddr=args.traddr,
            adrfam=args.adrfam, trsvcid=args.trsvcid, priority=args.priority,
            subnqn=args.subnqn, hostnqn=args.hostnqn, hostaddr=args.hostaddr,
            hostsvcid=args.hostsvcid, prchk_reftag=args.prchk_reftag,
            prchk_guard=args.prchk_guard))

    p = add_command(subparsers, 'bdev_nvme_attach_controller', cmd_attach,
                    'Attach an NVMe controller; its namespaces become bdevs <name>n<nsid>',
                    aliases=['construct_nvme_bdev'])
    p.add_argument('-b', '--name', required=True, help='controller name')
    p.add_argument('-t', '--trtype', required=True, help='transport type: PCIe')
    p.add_argument('-a', '--traddr', required=True,
                   help='PCI address, e.g. 0000:01:00.0 (sim:<n>: a software controller)')
    p.add_argument('-f', '--adrfam', help='fabrics only')
    p.add_argument('-s', '--trsvcid', help='fabrics only')
    p.add_argument('-p', '--priority', help='accepted for compatibility')
    p.add_argument('-n', '--subnqn', help='fabrics only')
    p.add_argument('-q', '--hostnqn', help='fabrics only')
    p.add_argument('-i', '--hostaddr', help='fabrics only')
    p.add_argument('-c', '--hostsvcid', help='fabrics only')
    p.add_argument('-r', '--prchk-reftag', action='store_true', default=None,
                   help='accepted for compatibility')
    p.add_argument('-g', '--prchk-guard', action='store_true', default=None,
                   help='accepted for compatibility')

    def cmd_get(args):
        print_dict(bdev_nvme_get_controllers(args.client, name=args.name))

    p = add_command(subparsers, 'bdev_nvme_get_controllers', cmd_get,
                    'List NVMe controllers', aliases=['get_nvme_controllers'])
    p.add_argument('-n', '--name', help='only this controller')

    def cmd_detach(args):
        bdev_nvme_detach_controller(args.client, name=args.name, trtype=args.trtype,
                                    traddr=args.traddr, adrfam=args.adrfam,
                                    trsvcid=args.trsvcid, subnqn=args.subnqn)

    p = add_command(subparsers, 'bdev_nvme_detach_controller', cmd_detach,
                    'Detach an NVMe controller and delete its bdevs',
                    aliases=['delete_nvme_controller'])
    p.add_argument('name', help='controller name')
    p.add_argument('-t', '--trtype', help='transport type')
    p.add_argument('-a', '--traddr', help='transport address')
    p.add_argument('-f', '--adrfam', help='fabrics only')
    p.add_argument('-s', '--trsvcid', help='fabrics only')
    p.add_argument('-n', '--subnqn', help='fabrics only')

    def cmd_set_options(args):
        bdev_nvme_set_options(args.client, action_on_timeout=args.action_on_timeout,
                              timeout_us=args.timeout_us, retry_count=args.retry_count,
                              nvme_adminq_poll_period_us=args.nvme_adminq_poll_period_us,
                              nvme_ioq_poll_period_us=args.nvme_ioq_poll_period_us,
                              io_queue_requests=args.io_queue_requests)

    p = add_command(subparsers, 'bdev_nvme_set_options', cmd_set_options,
                    'Set NVMe module options (before any controller is attached)',
                    aliases=['set_bdev_nvme_options'])
    p.add_argument('-a', '--action-on-timeout', help='none, reset or abort')
    p.add_argument('-t', '--timeout-us', type=int, help='command timeout, 0: none')
    p.add_argument('-n', '--retry-count', type=int, help='retries of a failed command')
    p.add_argument('-p', '--nvme-adminq-poll-period-us', type=int,
                   help='admin queue poll period in microseconds')
    p.add_argument('-i', '--nvme-ioq-poll-period-us', type=int,
                   help='I/O queue poll period in microseconds (0: every loop)')
    p.add_argument('-s', '--io-queue-requests', type=int, help='entries per I/O queue')

    def cmd_set_hotplug(args):
        bdev_nvme_set_hotplug(args.client, enable=args.enable, period_us=args.period_us)

    p = add_command(subparsers, 'bdev_nvme_set_hotplug', cmd_set_hotplug,
                    'Enable or disable the NVMe hotplug monitor',
                    aliases=['set_bdev_nvme_hotplug'])
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument('-e', '--enable', dest='enable', action='store_true',
                       help='enable hotplug')
    group.add_argument('-d', '--disable', dest='enable', action='store_false',
                       help='disable hotplug')
    p.add_argument('-r', '--period-us', type=int, help='scan period in microseconds')

    def cmd_sim_create(args):
        print_json(bdev_nvme_sim_create(args.client, index=args.index, num_ns=args.num_ns,
                                        ns_size_mb=args.ns_size_mb, block_size=args.block_size,
                                        max_io_queues=args.max_io_queues,
                                        no_sgl=args.no_sgl))

    p = add_command(subparsers, 'bdev_nvme_sim_create', cmd_sim_create,
                    'Create a software NVMe controller (test facility)')
    p.add_argument('-i', '--index', type=int, help='address sim:<index> (default: first free)')
    p.add_argument('-n', '--num-ns', type=int, help='namespaces (default 1)')
    p.add_argument('-s', '--ns-size-mb', type=int, help='MiB per namespace (default 64)')
    p.add_argument('-b', '--block-size', type=int, help='512 (default) or 4096')
    p.add_argument('-q', '--max-io-queues', type=int, help='I/O queues offered (default 15)')
    p.add_argument('--no-sgl', action='store_true', default=None, help='PRPs only')

    def cmd_sim_remove(args):
        bdev_nvme_sim_remove(args.client, traddr=args.traddr)

    p = add_command(subparsers, 'bdev_nvme_sim_remove', cmd_sim_remove,
                    'Remove a software NVMe controller by surprise (test facility)')
    p.add_argument('traddr', help='sim:<n>')

    def cmd_sim_inject(args):
        bdev_nvme_sim_inject(args.client, traddr=args.traddr, kind=args.kind, opc=args.opc,
                             admin=args.admin, sct=args.sct, sc=args.sc, count=args.count)

    p = add_command(subparsers, 'bdev_nvme_sim_inject', cmd_sim_inject,
                    'Make a software NVMe controller fail, time out or go fatal (test facility)')
    p.add_argument('traddr', help='sim:<n>')
    p.add_argument('kind', choices=['error', 'timeout', 'fatal', 'clear'])
    p.add_argument('-o', '--opc', type=lambda x: int(x, 0), help='opcode (e.g. 1 write, 2 read)')
    p.add_argument('-A', '--admin', action='store_true', default=None, help='an admin opcode')
    p.add_argument('-t', '--sct', type=lambda x: int(x, 0), help='status code type')
    p.add_argument('-c', '--sc', type=lambda x: int(x, 0), help='status code')
    p.add_argument('-n', '--count', type=int, help='commands affected (default 1)')

    def cmd_sim_ns_set(args):
        bdev_nvme_sim_ns_set(args.client, traddr=args.traddr, nsid=args.nsid,
                             size_mb=args.size_mb)

    p = add_command(subparsers, 'bdev_nvme_sim_ns_set', cmd_sim_ns_set,
                    'Attach, resize or detach a namespace of a software NVMe controller')
    p.add_argument('traddr', help='sim:<n>')
    p.add_argument('nsid', type=int, help='namespace id')
    p.add_argument('size_mb', type=int, help='MiB; 0 detaches it')
