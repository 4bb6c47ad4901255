"""Error injection bdevs: EE_<base> passes I/O to its base, failing, holding, corrupting or
bouncing (NOMEM) the next I/Os of a type when told to."""

from .client import print_dict
from .helpers import add_command, deprecated_alias, strip_none


@deprecated_alias('construct_error_bdev')
def bdev_error_create(client, base_name, uuid=None):
    """Create EE_<base_name> over base_name (now, or when the base appears); returns True."""
    return client.call('bdev_error_create', strip_none({'base_name': base_name, 'uuid': uuid}))


@deprecated_alias('delete_error_bdev')
def bdev_error_delete(client, name):
    """Delete error bdev name (EE_<base>); I/O it holds is aborted first."""
    return client.call('bdev_error_delete', {'name': name})


@deprecated_alias('bdev_inject_error')
def bdev_error_inject_error(client, name, io_type, error_type, num=None, queue_depth=None,
                            corrupt_offset=None, corrupt_value=None):
    """Make the next num I/Os of io_type on error bdev name get error_type.

    io_type: read, write, unmap, flush, all, or clear (forget every injection).
    error_type: failure, pending, corrupt_data or nomem. num defaults to 1 (0 disables);
    queue_depth: only while that many I/Os are at the base; corrupt_offset and corrupt_value
    (1-255): the byte of the data XORed and with what, for corrupt_data.
    """
    params = strip_none({'name': name, 'io_type': io_type, 'error_type': error_type,
                         'num': num, 'queue_depth': queue_depth,
                         'corrupt_offset': corrupt_offset, 'corrupt_value': corrupt_value})
    return client.call('bdev_error_inject_error', params)


def add_parsers(subparsers):
    def cmd_bdev_error_create(args):
        print_dict(bdev_error_create(args.client, base_name=args.base_name, uuid=args.uuid))

    p = add_command(subparsers, 'bdev_error_create', cmd_bdev_error_create,
                    'Create an error injection bdev EE_<base_name> over a bdev',
                    aliases=['construct_error_bdev'])
    p.add_argument('base_name', help='base bdev name')
    p.add_argument('--uuid', help='UUID of the new bdev (default: generated)')

    def cmd_bdev_error_delete(args):
        bdev_error_delete(args.client, name=args.name)

    p = add_command(subparsers, 'bdev_error_delete', cmd_bdev_error_delete,
                    'Delete an error injection bdev', aliases=['delete_error_bdev'])
    p.add_argument('name', help='error bdev name, e.g. EE_Malloc0')

    def cmd_bdev_error_inject_error(args):
        bdev_error_inject_error(args.client, name=args.name, io_type=args.io_type,
                                error_type=args.error_type, num=args.num,
                                queue_depth=args.queue_depth,
                                corrupt_offset=args.corrupt_offset,
                                corrupt_value=args.corrupt_value)

    p = add_command(subparsers, 'bdev_error_inject_error', cmd_bdev_error_inject_error,
                    'Inject errors into the I/O of an error bdev',
                    aliases=['bdev_inject_error'])
    p.add_argument('name', help='the name of the error injection bdev')
    p.add_argument('io_type', help="io_type: 'clear' 'read' 'write' 'unmap' 'flush' 'all'")
    p.add_argument('error_type', help="error_type: 'failure' 'pending' 'corrupt_data' 'nomem'")
    p.add_argument('-n', '--num', type=int, help='the number of commands you want to fail')
    p.add_argument('-q', '--queue-depth', dest='queue_depth', type=int,
                   help='the queue depth at which to trigger the error')
    p.add_argument('-o', '--corrupt-offset', dest='corrupt_offset', type=int,
                   help='the offset in bytes to xor with corrupt_value')
    p.add_argument('-v', '--corrupt-value', dest='corrupt_value', type=int,
                   help='the value for xor (1-255, 0 is invalid)')
