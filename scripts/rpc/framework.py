"""Framework methods: subsystem initialisation and the per-subsystem configuration."""

from .client import print_dict
from .helpers import add_command, deprecated_alias


@deprecated_alias('start_subsystem_init')
def framework_start_init(client):
    """Initialise the subsystems (after starting the server with --wait-for-rpc)."""
    return client.call('framework_start_init')


@deprecated_alias('wait_subsystem_init')
def framework_wait_init(client):
    """Return once the subsystems have been initialised."""
    return client.call('framework_wait_init')


@deprecated_alias('get_subsystems')
def framework_get_subsystems(client):
    """Return [{"subsystem": name, "depends_on": [names]}, ...] in initialisation order."""
    return client.call('framework_get_subsystems')


@deprecated_alias('get_subsystem_config')
def framework_get_config(client, name):
    """Return a subsystem's configuration: the {"method", "params"} calls that rebuild it."""
    return client.call('framework_get_config', {'name': name})


def add_parsers(subparsers):
    def cmd_framework_start_init(args):
        framework_start_init(args.client)
        # Return once the runtime methods can be called, as the next command will expect.
        framework_wait_init(args.client)

    add_command(subparsers, 'framework_start_init', cmd_framework_start_init,
                'Initialise the subsystems (the server was started with --wait-for-rpc)',
                aliases=['start_subsystem_init'])

    def cmd_framework_wait_init(args):
        framework_wait_init(args.client)

    add_command(subparsers, 'framework_wait_init', cmd_framework_wait_init,
                'Wait until the subsystems have been initialised',
                aliases=['wait_subsystem_init'])

    def cmd_framework_get_subsystems(args):
        print_dict(framework_get_subsystems(args.client))

    add_command(subparsers, 'framework_get_subsystems', cmd_framework_get_subsystems,
                'List the subsystems and their dependencies, in initialisation order',
                aliases=['get_subsystems'])

    def cmd_framework_get_config(args):
        print_dict(framework_get_config(args.client, name=args.name))

    p = add_command(subparsers, 'framework_get_config', cmd_framework_get_config,
                    "Show one subsystem's configuration as the RPC calls that rebuild it",
                    aliases=['get_subsystem_config'])
    p.add_argument('name', metavar='NAME', help='subsystem name, e.g. bdev or iscsi')
