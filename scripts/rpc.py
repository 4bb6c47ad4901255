#!/usr/bin/env python3
"""Command-line client for keel's JSON-RPC server.

Sub-commands, options and output follow SPDK's scripts/rpc.py, so scripts written for SPDK's
iscsi_tgt run unchanged. `rpc.py call METHOD [JSON]` reaches any method, with or without a
sub-command of its own. The sub-commands live in the rpc/ package next to this file.
"""

import argparse
import importlib
import json
import os
import shlex
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import rpc  # noqa: E402
from rpc.client import (DEFAULT_PORT, DEFAULT_SOCKET, DEFAULT_TIMEOUT,  # noqa: E402
                        JSONRPCClient, JSONRPCException, print_json)
from rpc.helpers import add_command, warn_if_deprecated  # noqa: E402

VERBOSE_LEVELS = ('DEBUG', 'INFO', 'ERROR')


class DryRunDone(Exception):
    """Raised by the dry-run client once it has printed the request."""


class DryRunClient:
    """Stands in for JSONRPCClient with --dry-run: prints the first request, sends nothing."""

    def call(self, method, params=None):
        print("Request:\n" + json.dumps({'method': method, 'params': params}, indent=2))
        raise DryRunDone()

    def close(self):
        pass


def json_params(text):
    """argparse type for `call`: a JSON object or array."""
    try:
        value = json.loads(text)
    except ValueError as ex:
        raise argparse.ArgumentTypeError("not valid JSON: {}".format(ex))
    if not isinstance(value, (dict, list)):
        raise argparse.ArgumentTypeError("params must be a JSON object or array")
    return value


def add_call_parser(subparsers):
    def cmd_call(args):
        print_json(args.client.call(args.method, args.params))

    p = add_command(subparsers, 'call', cmd_call,
                    'Call any method with JSON params and print its result')
    p.add_argument('method', metavar='METHOD', help='method name, e.g. bdev_get_bdevs')
    p.add_argument('params', metavar='JSON', nargs='?', type=json_params, default=None,
                   help='params: a JSON object or array, e.g. \'{"name": "Malloc0"}\'')


def load_plugins(argv, subparsers):
    """Import each --plugin MODULE (from PYTHONPATH) and let it add sub-commands."""
    names = []
    for index, arg in enumerate(argv):
        if arg == '--plugin' and index + 1 < len(argv):
            names.append(argv[index + 1])
        elif arg.startswith('--plugin='):
            names.append(arg.split('=', 1)[1])
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as ex:
            sys.exit("rpc.py: cannot load plugin {}: {}".format(name, ex))
        init = getattr(module, 'spdk_rpc_plugin_initialize', None)
        if init is None:
            sys.exit("rpc.py: plugin {} has no spdk_rpc_plugin_initialize(subparsers)".format(name))
        init(subparsers)


def build_parser(argv):
    parser = argparse.ArgumentParser(
        description='Command-line client for the keel iscsi_tgt JSON-RPC server '
                    '(sub-commands and options as SPDK rpc.py).',
        epilog='Without a sub-command and with stdin not a terminal, each line of stdin is run '
               'as one sub-command. "rpc.py --server" alone reads command lines from stdin and '
               'ends the output of each with **STATUS=0 or **STATUS=1. '
               'Run "rpc.py SUB-COMMAND --help" for the options of one sub-command.')
    parser.add_argument('-s', '--server', dest='server_addr', default=DEFAULT_SOCKET,
                        metavar='ADDR',
                        help='RPC Unix socket path or IP address (default %(default)s)')
    parser.add_argument('-p', '--port', dest='port', type=int, default=DEFAULT_PORT,
                        help='TCP port, used when ADDR is an IP address (default %(default)s)')
    parser.add_argument('-t', '--timeout', dest='timeout', type=float, default=DEFAULT_TIMEOUT,
                        help='seconds to wait for a response, a float (default %(default)s)')
    parser.add_argument('-r', '--conn-retries', dest='conn_retries', type=int, default=0,
                        help='retry connecting N times, 0.2 s apart (default 0)')
    parser.add_argument('-v', dest='verbose', action='store_const', const='INFO',
                        default='ERROR', help='print requests and responses on stderr')
    parser.add_argument('--verbose', dest='verbose', choices=VERBOSE_LEVELS, metavar='[LEVEL]',
                        help='as -v; LEVEL DEBUG also shows connection details, '
                             'ERROR only errors')
    parser.add_argument('--dry-run', dest='dry_run', action='store_true',
                        help='print the request that would be sent and exit')
    parser.add_argument('--plugin', dest='plugin', action='append', metavar='MODULE',
                        help='Python module (on PYTHONPATH) that adds sub-commands through '
                             'spdk_rpc_plugin_initialize(subparsers)')
    subparsers = parser.add_subparsers(dest='called_rpc_name', metavar='SUB-COMMAND',
                                       title='sub-commands')
    rpc.add_parsers(subparsers)
    add_call_parser(subparsers)
    load_plugins(argv, subparsers)
    return parser, subparsers


def normalize_verbose(argv, commands):
    """Before the sub-command, turn `--verbose [LEVEL]` into `--verbose=LEVEL` (INFO if none).

    SPDK's rpc.py takes `--verbose LEVEL`; a bare `--verbose` is accepted too, so that
    `rpc.py --verbose spdk_get_version` does not take the sub-command for the level.
    """
    out = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in commands:
            out.extend(argv[index:])
            break
        if arg == '--verbose':
            if index + 1 < len(argv) and argv[index + 1] in VERBOSE_LEVELS:
                arg = '--verbose=' + argv[index + 1]
                index += 1
            else:
                arg = '--verbose=INFO'
        out.append(arg)
        index += 1
    return out


def make_client(args):
    if args.dry_run:
        return DryRunClient()
    return JSONRPCClient(args.server_addr, args.port, args.timeout, verbose=args.verbose,
                         conn_retries=args.conn_retries)


def run_command(args, client):
    """Run one parsed sub-command on client; return the exit code."""
    args.client = client
    try:
        args.func(args)
    except DryRunDone:
        pass
    except JSONRPCException as ex:
        sys.stdout.flush()
        print(ex.message, file=sys.stderr)
        return 1
    warn_if_deprecated(args.called_rpc_name)
    return 0


def run_one(args):
    """Connect, run the sub-command in args, disconnect; return the exit code."""
    try:
        client = make_client(args)
    except JSONRPCException as ex:
        print(ex.message, file=sys.stderr)
        return 1
    try:
        return run_command(args, client)
    finally:
        client.close()


def run_script(parser, args, lines):
    """Run each non-blank, non-comment line as a sub-command over one connection."""
    try:
        client = make_client(args)
    except JSONRPCException as ex:
        print(ex.message, file=sys.stderr)
        return 1
    try:
        for line in lines:
            words = shlex.split(line, comments=True)
            if not words:
                continue
            line_args = parser.parse_args(words)
            if line_args.called_rpc_name is None:
                continue
            if run_command(line_args, client) != 0:
                print("The failing line was: " + line.strip(), file=sys.stderr)
                return 1
        return 0
    finally:
        client.close()


def serve(parser, commands, lines):
    """Run each line of stdin as a whole rpc.py command line (own options, own connection).

    Each command's output ends with **STATUS=0 or **STATUS=1 on stdout, for use as a
    co-process that saves starting Python once per call.
    """
    for line in lines:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as ex:
            print("rpc.py: {}".format(ex), file=sys.stderr)
            words = None
        status = 1
        if words:
            try:
                args = parser.parse_args(normalize_verbose(words, commands))
                if args.called_rpc_name is not None:
                    status = run_one(args)
            except SystemExit as ex:
                status = 0 if ex.code in (0, None) else 1
        elif words is not None:
            status = 0
        sys.stderr.flush()
        print("**STATUS={}".format(status), flush=True)
    return 0


def main(argv):
    parser, subparsers = build_parser(argv)
    commands = set(subparsers.choices)
    if argv == ['--server']:
        return serve(parser, commands, sys.stdin)
    args = parser.parse_args(normalize_verbose(argv, commands))
    if args.called_rpc_name is None:
        if sys.stdin.isatty():
            parser.print_help()
            return 1
        return run_script(parser, args, sys.stdin)
    return run_one(args)


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # Output went to a pipe that was closed early (e.g. `rpc.py ... | head`).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
