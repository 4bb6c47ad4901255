"""Block device methods: the generic bdev layer and the malloc, null, aio and uring modules."""

from .client import print_dict, print_json
from .helpers import add_command, deprecated_alias, strip_none

MIB = 1024 * 1024


def size_to_num_blocks(total_size_mb, block_size):
    """Blocks in total_size_mb MiB (a float is allowed) of block_size bytes, rounded down.

    A block size that is not positive gives 0: the server then names block_size as the
    bad parameter.
    """
    if block_size <= 0:
        return 0
    return int((total_size_mb * MIB) // block_size)


@deprecated_alias('set_bdev_options')
def bdev_set_options(client, bdev_io_pool_size=None, bdev_io_cache_size=None,
                     bdev_auto_examine=None, small_buf_pool_size=None,
                     large_buf_pool_size=None):
    """Set the bdev layer's options (before framework_start_init).

    Args:
        bdev_io_pool_size: I/O objects in the shared pool.
        bdev_io_cache_size: I/O objects cached per thread.
        bdev_auto_examine, small_buf_pool_size, large_buf_pool_size: accepted for
            compatibility.
    """
    params = strip_none({'bdev_io_pool_size': bdev_io_pool_size,
                         'bdev_io_cache_size': bdev_io_cache_size,
                         'bdev_auto_examine': bdev_auto_examine,
                         'small_buf_pool_size': small_buf_pool_size,
                         'large_buf_pool_size': large_buf_pool_size})
    return client.call('bdev_set_options', params)


@deprecated_alias('get_bdevs')
def bdev_get_bdevs(client, name=None, timeout=None):
    """Return the list of bdevs (or only the one called name, an alias or a UUID).

    timeout (ms) is accepted for compatibility: bdevs appear as soon as they are created.
    """
    return client.call('bdev_get_bdevs', strip_none({'name': name, 'timeout': timeout}))


@deprecated_alias('get_bdevs_iostat')
def bdev_get_iostat(client, name=None):
    """Return the tick rate and the I/O statistics of every bdev (or of one)."""
    return client.call('bdev_get_iostat', strip_none({'name': name}))


@deprecated_alias('set_bdev_qos_limit')
def bdev_set_qos_limit(client, name, rw_ios_per_sec=None, rw_mbytes_per_sec=None,
                       r_mbytes_per_sec=None, w_mbytes_per_sec=None):
    """Set the rate limits of a bdev; 0 removes a limit, None leaves it as it is."""
    params = strip_none({'name': name,
                         'rw_ios_per_sec': rw_ios_per_sec,
                         'rw_mbytes_per_sec': rw_mbytes_per_sec,
                         'r_mbytes_per_sec': r_mbytes_per_sec,
                         'w_mbytes_per_sec': w_mbytes_per_sec})
    return client.call('bdev_set_qos_limit', params)


@deprecated_alias('set_bdev_qd_sampling_period')
def bdev_set_qd_sampling_period(client, name, period):
    """Sample the queue depth of a bdev every period microseconds; 0 stops sampling."""
    return client.call('bdev_set_qd_sampling_period', {'name': name, 'period': period})


def delete_bdev(client, bdev_name):
    """Delete a bdev of any module by name (the generic method of older releases)."""
    return client.call('delete_bdev', {'name': bdev_name})


@deprecated_alias('construct_malloc_bdev')
def bdev_malloc_create(client, num_blocks, block_size, name=None, uuid=None,
                       optimal_io_boundary=None):
    """Create a RAM disk; returns its name (MallocN, the lowest free N, if name is None)."""
    params = strip_none({'num_blocks': num_blocks,
                         'block_size': block_size,
                         'name': name,
                         'uuid': uuid,
                         'optimal_io_boundary': optimal_io_boundary})
    return client.call('bdev_malloc_create', params)


@deprecated_alias('delete_malloc_bdev')
def bdev_malloc_delete(client, name):
    """Delete a malloc bdev; returns once it is gone."""
    return client.call('bdev_malloc_delete', {'name': name})


@deprecated_alias('construct_null_bdev')
def bdev_null_create(client, num_blocks, block_size, name, uuid=None):
    """Create a null bdev (writes discarded, reads untouched); returns its name."""
    params = strip_none({'name': name,
                         'num_blocks': num_blocks,
                         'block_size': block_size,
                         'uuid': uuid})
    return client.call('bdev_null_create', params)


@deprecated_alias('delete_null_bdev')
def bdev_null_delete(client, name):
    """Delete a null bdev; returns once it is gone."""
    return client.call('bdev_null_delete', {'name': name})


@deprecated_alias('construct_aio_bdev')
def bdev_aio_create(client, filename, name, block_size=None):
    """Create a bdev on a file or block device through Linux AIO; returns its name.

    block_size None or 0: detected from the device (512 for a regular file).
    """
    params = {'name': name, 'filename': filename}
    if block_size:
        params['block_size'] = block_size
    return client.call('bdev_aio_create', params)


@deprecated_alias('delete_aio_bdev')
def bdev_aio_delete(client, name):
    """Delete an aio bdev."""
    return client.call('bdev_aio_delete', {'name': name})


def bdev_uring_create(client, filename, name, block_size=None):
    """Create a bdev on a file or block device through io_uring; returns its name.

    block_size None or 0: detected from the device (512 for a regular file).
    """
    params = {'name': name, 'filename': filename}
    if block_size:
        params['block_size'] = block_size
    return client.call('bdev_uring_create', params)


def bdev_uring_delete(client, name):
    """Delete a uring bdev."""
    return client.call('bdev_uring_delete', {'name': name})


def add_parsers(subparsers):
    add_layer_parsers(subparsers)
    add_malloc_null_parsers(subparsers)
    add_aio_uring_parsers(subparsers)


def add_layer_parsers(subparsers):
    def cmd_bdev_set_options(args):
        bdev_set_options(args.client, bdev_io_pool_size=args.bdev_io_pool_size,
                         bdev_io_cache_size=args.bdev_io_cache_size,
                         bdev_auto_examine=args.bdev_auto_examine,
                         small_buf_pool_size=args.small_buf_pool_size,
                         large_buf_pool_size=args.large_buf_pool_size)

    p = add_command(subparsers, 'bdev_set_options', cmd_bdev_set_options,
                    'Set options of the bdev layer (before framework_start_init)',
                    aliases=['set_bdev_options'])
    p.add_argument('-p', '--bdev-io-pool-size', type=int,
                   help='number of I/O objects in the shared pool')
    p.add_argument('-c', '--bdev-io-cache-size', type=int,
                   help='number of I/O objects cached per thread')
    p.add_argument('-s', '--small-buf-pool-size', type=int, help='accepted for compatibility')
    p.add_argument('-l', '--large-buf-pool-size', type=int, help='accepted for compatibility')
    group = p.add_mutually_exclusive_group()
    group.add_argument('-e', '--enable-auto-examine', dest='bdev_auto_examine',
                       action='store_const', const=True, help='allow auto examine')
    group.add_argument('-d', '--disable-auto-examine', dest='bdev_auto_examine',
                       action='store_const', const=False, help='do not auto examine')

    def cmd_bdev_get_bdevs(args):
        print_dict(bdev_get_bdevs(args.client, name=args.name, timeout=args.timeout))

    p = add_command(subparsers, 'bdev_get_bdevs', cmd_bdev_get_bdevs,
                    'Show every bdev, or one', aliases=['get_bdevs'])
    p.add_argument('-b', '--name', help='name, alias or UUID of one bdev, e.g. Malloc0')
    p.add_argument('-t', '--timeout', type=int,
                   help='ms to wait for the bdev (accepted; bdevs appear at once)')

    def cmd_bdev_get_iostat(args):
        print_dict(bdev_get_iostat(args.client, name=args.name))

    p = add_command(subparsers, 'bdev_get_iostat', cmd_bdev_get_iostat,
                    'Show the I/O statistics of every bdev, or of one',
                    aliases=['get_bdevs_iostat'])
    p.add_argument('-b', '--name', help='name, alias or UUID of one bdev, e.g. Malloc0')

    def cmd_bdev_set_qd_sampling_period(args):
        print_dict(bdev_set_qd_sampling_period(args.client, name=args.name, period=args.period))

    p = add_command(subparsers, 'bdev_set_qd_sampling_period', cmd_bdev_set_qd_sampling_period,
                    'Sample the queue depth of a bdev (bdev_get_iostat then shows queue_depth, '
                    'io_time and weighted_io_time)',
                    aliases=['set_bdev_qd_sampling_period'])
    p.add_argument('name', help='bdev name, e.g. Malloc0')
    p.add_argument('period', type=int,
                   help='microseconds between samples; 0 stops sampling')

    def cmd_bdev_set_qos_limit(args):
        bdev_set_qos_limit(args.client, name=args.name, rw_ios_per_sec=args.rw_ios_per_sec,
                           rw_mbytes_per_sec=args.rw_mbytes_per_sec,
                           r_mbytes_per_sec=args.r_mbytes_per_sec,
                           w_mbytes_per_sec=args.w_mbytes_per_sec)

    p = add_command(subparsers, 'bdev_set_qos_limit', cmd_bdev_set_qos_limit,
                    'Set the rate limits of a bdev (0 removes a limit)',
                    aliases=['set_bdev_qos_limit'])
    p.add_argument('name', help='bdev name, e.g. Malloc0')
    # Older releases spelled the options with underscores, newer ones with dashes.
    p.add_argument('--rw_ios_per_sec', '--rw-ios-per-sec', dest='rw_ios_per_sec', type=int,
                   help='read+write I/O per second (a multiple of 1000); 0: no limit')
    p.add_argument('--rw_mbytes_per_sec', '--rw-mbytes-per-sec', dest='rw_mbytes_per_sec',
                   type=int, help='read+write MiB per second; 0: no limit')
    p.add_argument('--r_mbytes_per_sec', '--r-mbytes-per-sec', dest='r_mbytes_per_sec',
                   type=int, help='read MiB per second; 0: no limit')
    p.add_argument('--w_mbytes_per_sec', '--w-mbytes-per-sec', dest='w_mbytes_per_sec',
                   type=int, help='write MiB per second; 0: no limit')

    def cmd_delete_bdev(args):
        delete_bdev(args.client, bdev_name=args.bdev_name)

    p = add_command(subparsers, 'delete_bdev', cmd_delete_bdev,
                    'Delete a bdev of any module (older releases\' generic method)')
    p.add_argument('bdev_name', help='bdev name, e.g. Malloc0')


def add_malloc_null_parsers(subparsers):
    def cmd_bdev_malloc_create(args):
        num_blocks = size_to_num_blocks(args.total_size, args.block_size)
        print_json(bdev_malloc_create(args.client, num_blocks=num_blocks,
                                      block_size=args.block_size, name=args.name,
                                      uuid=args.uuid,
                                      optimal_io_boundary=args.optimal_io_boundary))

    p = add_command(subparsers, 'bdev_malloc_create', cmd_bdev_malloc_create,
                    'Create a RAM disk (malloc bdev) and print its name',
                    aliases=['construct_malloc_bdev'])
    p.add_argument('-b', '--name', help='bdev name (default: MallocN, the lowest free N)')
    p.add_argument('-u', '--uuid', help='UUID of the bdev (default: generated)')
    p.add_argument('total_size', type=float, help='size in MiB (float > 0)')
    p.add_argument('block_size', type=int, help='block size in bytes: 512, 1024, ... 65536')
    p.add_argument('-o', '--optimal-io-boundary', type=int,
                   help='split I/O on this boundary, in blocks (default 0: no split)')

    def cmd_bdev_malloc_delete(args):
        bdev_malloc_delete(args.client, name=args.name)

    p = add_command(subparsers, 'bdev_malloc_delete', cmd_bdev_malloc_delete,
                    'Delete a malloc bdev', aliases=['delete_malloc_bdev'])
    p.add_argument('name', help='malloc bdev name')

    def cmd_bdev_null_create(args):
        num_blocks = size_to_num_blocks(args.total_size, args.block_size)
        print_json(bdev_null_create(args.client, num_blocks=num_blocks,
                                    block_size=args.block_size, name=args.name,
                                    uuid=args.uuid))

    p = add_command(subparsers, 'bdev_null_create', cmd_bdev_null_create,
                    'Create a null bdev (writes discarded, reads untouched) and print its name',
                    aliases=['construct_null_bdev'])
    p.add_argument('name', help='bdev name')
    p.add_argument('-u', '--uuid', help='UUID of the bdev (default: generated)')
    p.add_argument('total_size', type=int, help='size in MiB (int > 0)')
    p.add_argument('block_size', type=int, help='block size in bytes: 512, 1024, ... 65536')

    def cmd_bdev_null_delete(args):
        bdev_null_delete(args.client, name=args.name)

    p = add_command(subparsers, 'bdev_null_delete', cmd_bdev_null_delete,
                    'Delete a null bdev', aliases=['delete_null_bdev'])
    p.add_argument('name', help='null bdev name')


def add_aio_uring_parsers(subparsers):
    def cmd_bdev_aio_create(args):
        print_json(bdev_aio_create(args.client, filename=args.filename, name=args.name,
                                   block_size=args.block_size))

    p = add_command(subparsers, 'bdev_aio_create', cmd_bdev_aio_create,
                    'Create a bdev on a file or block device through Linux AIO',
                    aliases=['construct_aio_bdev'])
    p.add_argument('filename', help='path of a file or block device, e.g. /dev/sdb')
    p.add_argument('name', help='bdev name')
    p.add_argument('block_size', type=int, nargs='?', default=0,
                   help='block size in bytes (default: detected)')

    def cmd_bdev_aio_delete(args):
        bdev_aio_delete(args.client, name=args.name)

    p = add_command(subparsers, 'bdev_aio_delete', cmd_bdev_aio_delete,
                    'Delete an aio bdev', aliases=['delete_aio_bdev'])
    p.add_argument('name', help='aio bdev name')

    def cmd_bdev_uring_create(args):
        block_size = args.block_size_opt if args.block_size_opt is not None else args.block_size
        print_json(bdev_uring_create(args.client, filename=args.filename, name=args.name,
                                     block_size=block_size))

    p = add_command(subparsers, 'bdev_uring_create', cmd_bdev_uring_create,
                    'Create a bdev on a file or block device through io_uring')
    p.add_argument('filename', help='path of a file or block device, e.g. /dev/nvme0n1')
    p.add_argument('name', help='bdev name')
    p.add_argument('block_size', type=int, nargs='?', default=0,
                   help='block size in bytes (default: detected)')
    p.add_argument('-b', '--block-size', dest='block_size_opt', type=int,
                   help='block size in bytes, as an option (same as the positional one)')

    def cmd_bdev_uring_delete(args):
        bdev_uring_delete(args.client, name=args.name)

    p = add_command(subparsers, 'bdev_uring_delete', cmd_bdev_uring_delete,
                    'Delete a uring bdev')
    p.add_argument('name', help='uring bdev name')
