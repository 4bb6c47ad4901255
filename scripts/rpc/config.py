"""save_config / load_config: the whole configuration as a JSON list of RPC calls, and back.

These run in the client: save_config asks every subsystem for the calls that rebuild it;
load_config replays such a file, calling startup-only methods before framework_start_init.
"""

import json
import sys

from .app import rpc_get_methods
from .client import JSONRPCException
from .framework import (framework_get_config, framework_get_subsystems, framework_start_init,
                        framework_wait_init)
from .helpers import add_command


def _dump(value, fd, indent):
    if indent is None:
        indent = 2
    elif indent < 0:
        indent = None
    json.dump(value, fd, indent=indent)
    fd.write('\n')


def _load(source):
    """Read JSON from a file object, a path, or stdin (None or '-')."""
    name = 'stdin'
    try:
        if source is None or source == '-':
            return json.load(sys.stdin)
        if isinstance(source, str):
            name = source
            with open(source, encoding='utf-8') as fd:
                return json.load(fd)
        name = getattr(source, 'name', 'input')
        return json.load(source)
    except OSError as ex:
        raise JSONRPCException("Cannot read {}: {}".format(name, ex.strerror or ex)) from None
    except ValueError as ex:
        raise JSONRPCException("{} is not valid JSON: {}".format(name, ex)) from None


def _check_entries(config, where):
    if config is None:
        return []
    if not isinstance(config, list):
        raise JSONRPCException("{}: \"config\" must be a list".format(where))
    for entry in config:
        if not isinstance(entry, dict) or not isinstance(entry.get('method'), str):
            raise JSONRPCException("{}: every config entry needs a \"method\" string: {}".format(
                where, json.dumps(entry)))
    return list(config)


def _call_entry(client, entry, where):
    try:
        client.call(entry['method'], entry.get('params'))
    except JSONRPCException as ex:
        raise JSONRPCException("{}: {} failed:\n{}".format(where, entry['method'], ex.message),
                               code=ex.code, error=ex.error) from None


def _check_known(client, subsystems, include_aliases):
    known = set(rpc_get_methods(client, include_aliases=include_aliases))
    for name, entries in subsystems:
        for entry in entries:
            if entry['method'] not in known:
                hint = '' if include_aliases else " (an old name? try --include-aliases)"
                raise JSONRPCException("Unknown method was included in the config file: "
                                       "{} (subsystem {}){}".format(entry['method'], name, hint))


def _replay(client, subsystems, include_aliases):
    """Call every entry in the state that allows it, starting the framework when allowed.

    Each round asks which methods are allowed now, calls those entries (subsystems in file
    order, entries in file order), then calls framework_start_init (and framework_wait_init)
    if it is allowed, and repeats until nothing is left or a round makes no progress.
    Returns the entries left.
    """
    while True:
        allowed = set(rpc_get_methods(client, current=True, include_aliases=include_aliases))
        progress = False
        for name, entries in subsystems:
            for entry in list(entries):
                if entry['method'] in allowed:
                    _call_entry(client, entry, 'subsystem ' + name)
                    entries.remove(entry)
                    progress = True
        subsystems = [(name, entries) for name, entries in subsystems if entries]
        if 'framework_start_init' in allowed:
            framework_start_init(client)
            # The server may answer before the subsystems are up; wait for the runtime state.
            framework_wait_init(client)
            progress = True
        if not subsystems or not progress:
            return subsystems


def save_config(client, fd=None, indent=2):
    """Write {"subsystems": [{"subsystem": name, "config": [...]}, ...]} to fd (stdout).

    indent: spaces per level; a negative value writes it on one line.
    """
    config = {'subsystems': []}
    for subsystem in framework_get_subsystems(client):
        name = subsystem['subsystem']
        config['subsystems'].append({'subsystem': name,
                                     'config': framework_get_config(client, name)})
    _dump(config, fd if fd is not None else sys.stdout, indent)


def load_config(client, fd=None, include_aliases=False):
    """Replay a file written by save_config (fd: file object, path, or None/'-' for stdin).

    Methods allowed only at startup run first, then framework_start_init if the server is
    still starting, then the rest. The first failing call stops the load with
    JSONRPCException. Entries no state allows any more are reported on stderr.
    """
    document = _load(fd)
    if not isinstance(document, dict) or not isinstance(document.get('subsystems'), list):
        raise JSONRPCException("The configuration must be an object with a \"subsystems\" list")
    subsystems = []
    for subsystem in document['subsystems']:
        if not isinstance(subsystem, dict) or 'subsystem' not in subsystem:
            raise JSONRPCException("Every item of \"subsystems\" needs a \"subsystem\" name")
        name = str(subsystem['subsystem'])
        entries = _check_entries(subsystem.get('config'), 'subsystem ' + name)
        if entries:
            subsystems.append((name, entries))

    if subsystems:
        _check_known(client, subsystems, include_aliases)
    left = _replay(client, subsystems, include_aliases)
    if left:
        skipped = ', '.join(entry['method'] for _, entries in left for entry in entries)
        print("Some configs were skipped because the RPC state that can call them passed over: "
              + skipped, file=sys.stderr)


def save_subsystem_config(client, fd=None, indent=2, name=None):
    """Write one subsystem's {"subsystem": name, "config": [...]} to fd (stdout)."""
    _dump({'subsystem': name, 'config': framework_get_config(client, name)},
          fd if fd is not None else sys.stdout, indent)


def load_subsystem_config(client, fd=None):
    """Replay one subsystem's config (as save_subsystem_config writes) in the current state.

    Entries not allowed in the current state are skipped and reported on stderr.
    """
    document = _load(fd)
    if not isinstance(document, dict):
        raise JSONRPCException("The configuration must be an object with a \"config\" list")
    name = str(document.get('subsystem', '?'))
    entries = _check_entries(document.get('config'), 'subsystem ' + name)
    if not entries:
        return
    _check_known(client, [(name, entries)], False)
    allowed = set(rpc_get_methods(client, current=True))
    skipped = []
    for entry in entries:
        if entry['method'] in allowed:
            _call_entry(client, entry, 'subsystem ' + name)
        else:
            skipped.append(entry['method'])
    if skipped:
        print("Some configs were skipped because they cannot be called in the current RPC "
              "state: " + ', '.join(skipped), file=sys.stderr)


def add_parsers(subparsers):
    def cmd_save_config(args):
        save_config(args.client, sys.stdout, indent=args.indent)

    p = add_command(subparsers, 'save_config', cmd_save_config,
                    'Print the live configuration of every subsystem as JSON '
                    '(replay it with load_config or iscsi_tgt --json)')
    p.add_argument('-i', '--indent', type=int, default=2,
                   help='indent level; a negative value prints one line (default 2)')

    def cmd_load_config(args):
        load_config(args.client, args.json_conf, include_aliases=args.include_aliases)

    p = add_command(subparsers, 'load_config', cmd_load_config,
                    'Configure the server from JSON written by save_config')
    p.add_argument('-j', '--json-conf', metavar='FILE', default=None,
                   help='the JSON file (default: read stdin)')
    p.add_argument('-i', '--include-aliases', action='store_true',
                   help='accept old (deprecated) method names in the file')

    def cmd_save_subsystem_config(args):
        save_subsystem_config(args.client, sys.stdout, indent=args.indent, name=args.name)

    p = add_command(subparsers, 'save_subsystem_config', cmd_save_subsystem_config,
                    "Print one subsystem's live configuration as JSON")
    p.add_argument('-i', '--indent', type=int, default=2,
                   help='indent level; a negative value prints one line (default 2)')
    p.add_argument('-n', '--name', required=True, help='subsystem name')

    def cmd_load_subsystem_config(args):
        load_subsystem_config(args.client, args.json_conf)

    p = add_command(subparsers, 'load_subsystem_config', cmd_load_subsystem_config,
                    'Configure one subsystem from JSON written by save_subsystem_config')
    p.add_argument('-j', '--json-conf', metavar='FILE', default=None,
                   help='the JSON file (default: read stdin)')
