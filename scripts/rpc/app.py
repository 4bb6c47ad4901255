"""Application-level methods: the method list, version, signals, reactors and threads."""

from .client import print_dict, print_json
from .helpers import add_command, deprecated_alias

KILL_SIGNALS = ('SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGHUP', 'SIGKILL')


@deprecated_alias('get_rpc_methods')
def rpc_get_methods(client, current=None, include_aliases=None):
    """List the method names the server knows.

    Args:
        current: only the methods that may be called in the current state.
        include_aliases: also list the old (deprecated) names.
    """
    params = {}
    if current:
        params['current'] = True
    if include_aliases:
        params['include_aliases'] = True
    return client.call('rpc_get_methods', params)


@deprecated_alias('get_spdk_version')
def spdk_get_version(client):
    """Return {"version": "...", "fields": {"major", "minor", "patch", "suffix"}}."""
    return client.call('spdk_get_version')


@deprecated_alias('kill_instance')
def spdk_kill_instance(client, sig_name):
    """Send the server process a signal: SIGINT, SIGTERM, SIGQUIT, SIGHUP or SIGKILL."""
    return client.call('spdk_kill_instance', {'sig_name': sig_name})


def framework_get_reactors(client):
    """Return the tick rate and, per reactor, its busy/idle ticks and lightweight threads."""
    return client.call('framework_get_reactors')


@deprecated_alias('context_switch_monitor')
def framework_monitor_context_switch(client, enabled=None):
    """Turn the reactors' context switch monitor on or off (None: leave it); return its state."""
    params = {}
    if enabled is not None:
        params['enabled'] = enabled
    return client.call('framework_monitor_context_switch', params)


def thread_get_stats(client):
    """Return the tick rate and, per lightweight thread, its busy/idle ticks and pollers."""
    return client.call('thread_get_stats')


def add_parsers(subparsers):
    def cmd_rpc_get_methods(args):
        print_dict(rpc_get_methods(args.client, current=args.current,
                                   include_aliases=args.include_aliases))

    p = add_command(subparsers, 'rpc_get_methods', cmd_rpc_get_methods,
                    'List the RPC methods the server knows', aliases=['get_rpc_methods'])
    p.add_argument('-c', '--current', action='store_true',
                   help='only the methods that may be called in the current state')
    p.add_argument('-i', '--include-aliases', action='store_true',
                   help='also list the old (deprecated) method names')

    def cmd_spdk_get_version(args):
        print_json(spdk_get_version(args.client))

    add_command(subparsers, 'spdk_get_version', cmd_spdk_get_version,
                'Show the server version', aliases=['get_spdk_version'])

    def cmd_spdk_kill_instance(args):
        spdk_kill_instance(args.client, sig_name=args.sig_name)

    p = add_command(subparsers, 'spdk_kill_instance', cmd_spdk_kill_instance,
                    'Send a signal to the server process', aliases=['kill_instance'])
    p.add_argument('sig_name', metavar='SIG_NAME',
                   help='signal name: ' + ', '.join(KILL_SIGNALS) +
                   ' (SIGINT and SIGTERM stop the target cleanly)')

    def cmd_framework_get_reactors(args):
        print_dict(framework_get_reactors(args.client))

    add_command(subparsers, 'framework_get_reactors', cmd_framework_get_reactors,
                'Show every reactor (one per core) with its threads and busy/idle ticks')

    def cmd_framework_monitor_context_switch(args):
        enabled = True if args.enable else (False if args.disable else None)
        res = framework_monitor_context_switch(args.client, enabled=enabled)
        print('Enabled' if res['enabled'] else 'Disabled')

    p = add_command(subparsers, 'framework_monitor_context_switch',
                    cmd_framework_monitor_context_switch,
                    'Show, enable or disable the reactors\' context switch monitor (it logs '
                    'with -L reactor)', aliases=['context_switch_monitor'])
    g = p.add_mutually_exclusive_group()
    g.add_argument('-e', '--enable', action='store_true', help='enable the monitor')
    g.add_argument('-d', '--disable', action='store_true', help='disable the monitor')

    def cmd_thread_get_stats(args):
        print_dict(thread_get_stats(args.client))

    add_command(subparsers, 'thread_get_stats', cmd_thread_get_stats,
                'Show every lightweight thread with its busy/idle ticks and poller counts')
