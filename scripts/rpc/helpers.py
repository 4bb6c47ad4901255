"""Shared helpers for the rpc package: old-name aliases and sub-command registration.

Every module in this package follows one pattern:

    @deprecated_alias('get_foo')           # optional: the method's old name
    def foo_get(client, name=None):        # one function per JSON-RPC method
        return client.call('foo_get', strip_none({'name': name}))

    def add_parsers(subparsers):           # its rpc.py sub-commands
        def cmd_foo_get(args):
            print_dict(foo_get(args.client, name=args.name))
        p = add_command(subparsers, 'foo_get', cmd_foo_get, 'Show foos',
                        aliases=['get_foo'])
        p.add_argument('-n', '--name', help='only this foo')
"""

import sys

# Old name -> current name, for every alias known to the Python API and to rpc.py.
deprecated_aliases = {}


def _warn_deprecated(old_name, new_name):
    print("{} is deprecated, use {} instead.".format(old_name, new_name), file=sys.stderr)


def deprecated_alias(old_name):
    """Decorator: also publish the function under old_name in its module.

    Calling the old name prints a one-line deprecation notice on stderr and then runs the
    current function, so Python code written against the old API keeps working.
    """
    def register(func):
        new_name = func.__name__

        def old_func(*args, **kwargs):
            _warn_deprecated(old_name, new_name)
            return func(*args, **kwargs)

        old_func.__name__ = old_name
        old_func.__qualname__ = old_name
        old_func.__doc__ = "Deprecated name of {}().".format(new_name)
        deprecated_aliases[old_name] = new_name
        setattr(sys.modules[func.__module__], old_name, old_func)
        return func
    return register


def add_command(subparsers, name, func, help_text, aliases=()):
    """Add one rpc.py sub-command that runs func(args); args.client is ready when it runs.

    aliases are old names accepted on the command line; using one prints a deprecation
    notice on stderr after the command has run.
    """
    parser = subparsers.add_parser(name, aliases=list(aliases), help=help_text,
                                   description=help_text)
    parser.set_defaults(func=func)
    for old_name in aliases:
        deprecated_aliases[old_name] = name
    return parser


def warn_if_deprecated(called_name):
    """Print the deprecation notice if called_name is an old name."""
    if called_name in deprecated_aliases:
        _warn_deprecated(called_name, deprecated_aliases[called_name])


def strip_none(params):
    """Return a copy of a params dict without the keys whose value is None."""
    return {key: value for key, value in params.items() if value is not None}
