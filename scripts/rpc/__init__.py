"""Python API and rpc.py sub-commands for keel's JSON-RPC server (SPDK-compatible names).

Use it from Python with scripts/ on sys.path:

    import rpc
    client = rpc.client.JSONRPCClient('/var/tmp/spdk.sock')
    rpc.log.log_set_flag(client, flag='iscsi')
    rpc.save_config(client, sys.stdout)

Adding an area (say bdev): write rpc/bdev.py with one function per method and an
add_parsers(subparsers) for its sub-commands (see helpers.py), import it below and list it
in COMMAND_MODULES. Nothing else changes.
"""

from . import client
from . import helpers
from . import app
from . import framework
from . import log
from . import config
from . import subsystem
from . import bdev
from . import nvme
from . import split
from . import error
from . import iscsi

from .app import rpc_get_methods, spdk_get_version
from .framework import framework_start_init, framework_wait_init
from .config import save_config, load_config, save_subsystem_config, load_subsystem_config

# The modules whose add_parsers() contribute rpc.py sub-commands, in --help order.
COMMAND_MODULES = (framework, app, config, log, bdev, split, error, nvme, iscsi)


def add_parsers(subparsers):
    """Add every module's sub-commands to an argparse subparsers object."""
    for module in COMMAND_MODULES:
        module.add_parsers(subparsers)


# Old names of the functions exported here (rpc.get_rpc_methods(client) etc.).
get_rpc_methods = app.get_rpc_methods
get_spdk_version = app.get_spdk_version
start_subsystem_init = framework.start_subsystem_init
wait_subsystem_init = framework.wait_subsystem_init
