"""Logging methods: per-component log flags, the log level and the print (stderr) level."""

from .client import print_dict
from .helpers import add_command, deprecated_alias

LOG_LEVELS = ('ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG')


@deprecated_alias('set_log_flag')
@deprecated_alias('set_trace_flag')
def log_set_flag(client, flag):
    """Turn on a component's log flag (e.g. "iscsi"); "all" turns on every flag."""
    return client.call('log_set_flag', {'flag': flag})


@deprecated_alias('clear_log_flag')
@deprecated_alias('clear_trace_flag')
def log_clear_flag(client, flag):
    """Turn off a component's log flag; "all" turns off every flag."""
    return client.call('log_clear_flag', {'flag': flag})


@deprecated_alias('get_log_flags')
@deprecated_alias('get_trace_flags')
def log_get_flags(client):
    """Return {"flag": enabled, ...} for every log flag."""
    return client.call('log_get_flags')


@deprecated_alias('set_log_level')
def log_set_level(client, level):
    """Set the level of messages sent to the log (syslog): ERROR ... DEBUG."""
    return client.call('log_set_level', {'level': level})


@deprecated_alias('get_log_level')
def log_get_level(client):
    """Return the log level, e.g. "NOTICE"."""
    return client.call('log_get_level')


@deprecated_alias('set_log_print_level')
def log_set_print_level(client, level):
    """Set the level of messages printed on stderr: ERROR ... DEBUG."""
    return client.call('log_set_print_level', {'level': level})


@deprecated_alias('get_log_print_level')
def log_get_print_level(client):
    """Return the print level, e.g. "NOTICE"."""
    return client.call('log_get_print_level')


def add_parsers(subparsers):
    levels = '/'.join(LOG_LEVELS)

    def cmd_log_set_flag(args):
        log_set_flag(args.client, flag=args.flag)

    p = add_command(subparsers, 'log_set_flag', cmd_log_set_flag, 'Turn on a log flag',
                    aliases=['set_log_flag', 'set_trace_flag'])
    p.add_argument('flag', metavar='FLAG', help='component flag, e.g. "iscsi"; "all" for every one')

    def cmd_log_clear_flag(args):
        log_clear_flag(args.client, flag=args.flag)

    p = add_command(subparsers, 'log_clear_flag', cmd_log_clear_flag, 'Turn off a log flag',
                    aliases=['clear_log_flag', 'clear_trace_flag'])
    p.add_argument('flag', metavar='FLAG', help='component flag, e.g. "iscsi"; "all" for every one')

    def cmd_log_get_flags(args):
        print_dict(log_get_flags(args.client))

    add_command(subparsers, 'log_get_flags', cmd_log_get_flags, 'Show every log flag',
                aliases=['get_log_flags', 'get_trace_flags'])

    def cmd_log_set_level(args):
        log_set_level(args.client, level=args.level)

    p = add_command(subparsers, 'log_set_level', cmd_log_set_level,
                    'Set the log (syslog) level', aliases=['set_log_level'])
    p.add_argument('level', metavar='LEVEL', help='one of ' + levels)

    def cmd_log_get_level(args):
        print_dict(log_get_level(args.client))

    add_command(subparsers, 'log_get_level', cmd_log_get_level,
                'Show the log (syslog) level', aliases=['get_log_level'])

    def cmd_log_set_print_level(args):
        log_set_print_level(args.client, level=args.level)

    p = add_command(subparsers, 'log_set_print_level', cmd_log_set_print_level,
                    'Set the level printed on stderr', aliases=['set_log_print_level'])
    p.add_argument('level', metavar='LEVEL', help='one of ' + levels)

    def cmd_log_get_print_level(args):
        print_dict(log_get_print_level(args.client))

    add_command(subparsers, 'log_get_print_level', cmd_log_get_print_level,
                'Show the level printed on stderr', aliases=['get_log_print_level'])
