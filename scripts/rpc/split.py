"""Split virtual bdevs: one base bdev cut into equal parts named <base>p0, <base>p1, ..."""

from .helpers import add_command, deprecated_alias


@deprecated_alias('construct_split_vbdev')
def bdev_split_create(client, base_bdev, split_count, split_size_mb=None):
    """Split base_bdev into split_count parts; returns their names in order.

    split_size_mb None or 0: the base divided evenly (a remainder stays unused).
    """
    params = {'base_bdev': base_bdev, 'split_count': split_count}
    if split_size_mb:
        params['split_size_mb'] = split_size_mb
    return client.call('bdev_split_create', params)


@deprecated_alias('destruct_split_vbdev')
def bdev_split_delete(client, base_bdev):
    """Remove the parts of base_bdev and forget its split."""
    return client.call('bdev_split_delete', {'base_bdev': base_bdev})


def add_parsers(subparsers):
    def cmd_bdev_split_create(args):
        print(' '.join(bdev_split_create(args.client, base_bdev=args.base_bdev,
                                         split_count=args.split_count,
                                         split_size_mb=args.split_size_mb)))

    p = add_command(subparsers, 'bdev_split_create', cmd_bdev_split_create,
                    'Split a bdev into equal parts, each a bdev of its own',
                    aliases=['construct_split_vbdev'])
    p.add_argument('base_bdev', help='bdev to split')
    p.add_argument('split_count', type=int, help='number of parts')
    p.add_argument('-s', '--split-size-mb', dest='split_size_mb', type=int, default=0,
                   help='size of each part in MiB (default: the base divided evenly)')

    def cmd_bdev_split_delete(args):
        bdev_split_delete(args.client, base_bdev=args.base_bdev)

    p = add_command(subparsers, 'bdev_split_delete', cmd_bdev_split_delete,
                    'Remove the parts of a split bdev', aliases=['destruct_split_vbdev'])
    p.add_argument('base_bdev', help='bdev that was split')
