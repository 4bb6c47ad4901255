"""iSCSI target methods: options, discovery CHAP, auth groups, portal groups, initiator groups,
target nodes, connections, statistics and histograms; plus scsi_get_devices.

Sub-commands keep SPDK's names, positional arguments and options; the names of older releases
(add_portal_group, construct_target_node, ...) work too and print a deprecation notice.
"""

from .client import print_dict
from .helpers import add_command, deprecated_alias, strip_none

DEFAULT_PORT = '3260'


def split_words(text):
    """'a b  c' -> ['a', 'b', 'c'] (a quoted list on the command line)."""
    return text.split()


def parse_portal(text):
    """'host:port@cpumask' (port and cpumask optional, IPv6 as [addr]:port) -> portal object."""
    cpumask = None
    if '@' in text:
        text, cpumask = text.rsplit('@', 1)
    if text.startswith('[') and ']' in text:
        end = text.index(']')
        host, rest = text[:end + 1], text[end + 1:]
        port = rest[1:] if rest.startswith(':') else DEFAULT_PORT
    else:
        host, sep, port = text.rpartition(':')
        if not sep:
            host, port = text, DEFAULT_PORT
    portal = {'host': host, 'port': port}
    if cpumask:
        portal['cpumask'] = cpumask
    return portal


def parse_portals(words):
    """Portals given as separate arguments, as one quoted list, or both."""
    return [parse_portal(p) for word in words for p in split_words(word)]


def parse_luns(text):
    """'Malloc0:0 Malloc1:1' -> [{'bdev_name': 'Malloc0', 'lun_id': 0}, ...]."""
    luns = []
    for pair in split_words(text):
        bdev_name, _, lun_id = pair.rpartition(':')
        luns.append({'bdev_name': bdev_name, 'lun_id': int(lun_id)})
    return luns


def parse_pg_ig_maps(text):
    """'1:2 3:4' -> [{'pg_tag': 1, 'ig_tag': 2}, {'pg_tag': 3, 'ig_tag': 4}]."""
    maps = []
    for pair in split_words(text):
        pg, _, ig = pair.partition(':')
        maps.append({'pg_tag': int(pg), 'ig_tag': int(ig)})
    return maps


def parse_secrets(text):
    """'user:u1 secret:s1 muser:mu1 msecret:ms1,user:u2 secret:s2' -> list of secret objects."""
    return [dict(item.split(':', 1) for item in split_words(group))
            for group in text.split(',') if group.strip()]


def chap_params(disable_chap=None, require_chap=None, mutual_chap=None, chap_group=None):
    return strip_none({'disable_chap': disable_chap, 'require_chap': require_chap,
                       'mutual_chap': mutual_chap, 'chap_group': chap_group})


# Options and discovery CHAP.

@deprecated_alias('set_iscsi_options')
def iscsi_set_options(client, auth_file=None, node_base=None, nop_timeout=None,
                      nop_in_interval=None, disable_chap=None, require_chap=None,
                      mutual_chap=None, chap_group=None, max_sessions=None, max_queue_depth=None,
                      max_connections_per_session=None, default_time2wait=None,
                      default_time2retain=None, first_burst_length=None, immediate_data=None,
                      error_recovery_level=None, allow_duplicated_isid=None,
                      max_large_datain_per_connection=None, max_r2t_per_connection=None,
                      pdu_pool_size=None, immediate_data_pool_size=None,
                      data_out_pool_size=None, min_connections_per_core=None,
                      max_burst_length=None, max_recv_data_segment_length=None,
                      initial_r2t=None):
    """Set the target's options (before framework_start_init, once). None leaves one as it is.

    max_burst_length, max_recv_data_segment_length and initial_r2t are keel's own; the pool
    sizes, max_large_datain_per_connection and min_connections_per_core are accepted and not
    used.
    """
    params = strip_none({
        'auth_file': auth_file, 'node_base': node_base, 'nop_timeout': nop_timeout,
        'nop_in_interval': nop_in_interval, 'max_sessions': max_sessions,
        'max_queue_depth': max_queue_depth,
        'max_connections_per_session': max_connections_per_session,
        'default_time2wait': default_time2wait, 'default_time2retain': default_time2retain,
        'first_burst_length': first_burst_length, 'immediate_data': immediate_data,
        'error_recovery_level': error_recovery_level,
        'allow_duplicated_isid': allow_duplicated_isid,
        'max_large_datain_per_connection': max_large_datain_per_connection,
        'max_r2t_per_connection': max_r2t_per_connection, 'pdu_pool_size': pdu_pool_size,
        'immediate_data_pool_size': immediate_data_pool_size,
        'data_out_pool_size': data_out_pool_size,
        'min_connections_per_core': min_connections_per_core,
        'max_burst_length': max_burst_length,
        'max_recv_data_segment_length': max_recv_data_segment_length,
        'initial_r2t': initial_r2t})
    params.update(chap_params(disable_chap, require_chap, mutual_chap, chap_group))
    return client.call('iscsi_set_options', params)


@deprecated_alias('get_iscsi_global_params')
def iscsi_get_options(client):
    """Return the target's options."""
    return client.call('iscsi_get_options')


@deprecated_alias('set_iscsi_discovery_auth')
def iscsi_set_discovery_auth(client, disable_chap=None, require_chap=None, mutual_chap=None,
                             chap_group=None):
    """Set CHAP for discovery sessions; each setting left out is false (group 0)."""
    return client.call('iscsi_set_discovery_auth',
                       chap_params(disable_chap, require_chap, mutual_chap, chap_group))


# Auth groups.

@deprecated_alias('add_iscsi_auth_group')
def iscsi_create_auth_group(client, tag, secrets=None):
    """Create auth group tag with secrets [{'user', 'secret', 'muser'?, 'msecret'?}]."""
    return client.call('iscsi_create_auth_group', strip_none({'tag': tag, 'secrets': secrets}))


@deprecated_alias('delete_iscsi_auth_group')
def iscsi_delete_auth_group(client, tag):
    """Delete an auth group (not while discovery, a portal group or a target uses it)."""
    return client.call('iscsi_delete_auth_group', {'tag': tag})


@deprecated_alias('add_secret_to_iscsi_auth_group')
def iscsi_auth_group_add_secret(client, tag, user, secret, muser=None, msecret=None):
    """Add a CHAP secret (and the target's own for mutual CHAP) to an auth group."""
    return client.call('iscsi_auth_group_add_secret',
                       strip_none({'tag': tag, 'user': user, 'secret': secret, 'muser': muser,
                                   'msecret': msecret}))


@deprecated_alias('delete_secret_from_iscsi_auth_group')
def iscsi_auth_group_remove_secret(client, tag, user):
    """Remove a user's secret from an auth group."""
    return client.call('iscsi_auth_group_remove_secret', {'tag': tag, 'user': user})


@deprecated_alias('get_iscsi_auth_groups')
def iscsi_get_auth_groups(client):
    """Return every auth group with its secrets."""
    return client.call('iscsi_get_auth_groups')


# Portal groups.

@deprecated_alias('add_portal_group')
def iscsi_create_portal_group(client, portals, tag, private=None, wait=None):
    """Create portal group tag on portals [{'host', 'port', 'cpumask'?}] and listen on them.

    private: not shown by discovery (a login redirection target); wait: listen only after
    iscsi_start_portal_group.
    """
    params = {'tag': tag, 'portals': portals}
    if private:
        params['private'] = True
    if wait:
        params['wait'] = True
    return client.call('iscsi_create_portal_group', params)


def iscsi_start_portal_group(client, tag):
    """Start listening on a portal group created with wait (nothing if it listens)."""
    return client.call('iscsi_start_portal_group', {'tag': tag})


@deprecated_alias('delete_portal_group')
def iscsi_delete_portal_group(client, tag):
    """Delete a portal group (not while a target node maps it)."""
    return client.call('iscsi_delete_portal_group', {'tag': tag})


def iscsi_portal_group_set_auth(client, tag, disable_chap=None, require_chap=None,
                                mutual_chap=None, chap_group=None):
    """Set CHAP for discovery sessions through one portal group (instead of the global)."""
    params = {'tag': tag}
    params.update(chap_params(disable_chap, require_chap, mutual_chap, chap_group))
    return client.call('iscsi_portal_group_set_auth', params)


@deprecated_alias('get_portal_groups')
def iscsi_get_portal_groups(client):
    """Return every portal group with its portals."""
    return client.call('iscsi_get_portal_groups')


# Initiator groups.

@deprecated_alias('add_initiator_group')
def iscsi_create_initiator_group(client, tag, initiators, netmasks):
    """Create initiator group tag: initiator names (or ANY) and netmasks (or ANY)."""
    return client.call('iscsi_create_initiator_group',
                       {'tag': tag, 'initiators': initiators, 'netmasks': netmasks})


@deprecated_alias('add_initiators_to_initiator_group')
def iscsi_initiator_group_add_initiators(client, tag, initiators=None, netmasks=None):
    """Add initiator names and/or netmasks to an initiator group."""
    return client.call('iscsi_initiator_group_add_initiators',
                       strip_none({'tag': tag, 'initiators': initiators, 'netmasks': netmasks}))


@deprecated_alias('delete_initiators_from_initiator_group')
def iscsi_initiator_group_remove_initiators(client, tag, initiators=None, netmasks=None):
    """Remove initiator names and/or netmasks from an initiator group."""
    return client.call('iscsi_initiator_group_remove_initiators',
                       strip_none({'tag': tag, 'initiators': initiators, 'netmasks': netmasks}))


@deprecated_alias('delete_initiator_group')
def iscsi_delete_initiator_group(client, tag):
    """Delete an initiator group (not while a target node maps it)."""
    return client.call('iscsi_delete_initiator_group', {'tag': tag})


@deprecated_alias('get_initiator_groups')
def iscsi_get_initiator_groups(client):
    """Return every initiator group."""
    return client.call('iscsi_get_initiator_groups')


# Target nodes.

@deprecated_alias('construct_target_node')
def iscsi_create_target_node(client, luns, pg_ig_maps, name, alias_name, queue_depth,
                             chap_group=None, disable_chap=None, require_chap=None,
                             mutual_chap=None, header_digest=None, data_digest=None):
    """Create a target node.

    luns: [{'bdev_name': 'Malloc0', 'lun_id': 0}, ...]; pg_ig_maps: [{'pg_tag': 1,
    'ig_tag': 2}, ...]; name: short (NodeBase is put in front) or a full iSCSI name.
    """
    params = {'name': name, 'alias_name': alias_name, 'pg_ig_maps': pg_ig_maps, 'luns': luns,
              'queue_depth': queue_depth}
    params.update(chap_params(disable_chap or None, require_chap or None, mutual_chap or None,
                              chap_group or None))
    if header_digest:
        params['header_digest'] = True
    if data_digest:
        params['data_digest'] = True
    return client.call('iscsi_create_target_node', params)


@deprecated_alias('delete_target_node')
def iscsi_delete_target_node(client, target_node_name):
    """Delete a target node; returns once its initiators have logged out and it is gone."""
    return client.call('iscsi_delete_target_node', {'name': target_node_name})


@deprecated_alias('target_node_add_lun')
def iscsi_target_node_add_lun(client, name, bdev_name, lun_id=None):
    """Add a bdev as a LUN (lun_id None or -1: the lowest free id)."""
    return client.call('iscsi_target_node_add_lun',
                       strip_none({'name': name, 'bdev_name': bdev_name, 'lun_id': lun_id}))


@deprecated_alias('set_iscsi_target_node_auth')
def iscsi_target_node_set_auth(client, name, chap_group=None, disable_chap=None,
                               require_chap=None, mutual_chap=None):
    """Set CHAP for a target node; each setting left out is false (group 0)."""
    params = {'name': name}
    params.update(chap_params(disable_chap, require_chap, mutual_chap, chap_group))
    return client.call('iscsi_target_node_set_auth', params)


@deprecated_alias('add_pg_ig_maps')
def iscsi_target_node_add_pg_ig_maps(client, pg_ig_maps, name):
    """Add portal group to initiator group maps to a target node."""
    return client.call('iscsi_target_node_add_pg_ig_maps', {'name': name,
                                                            'pg_ig_maps': pg_ig_maps})


@deprecated_alias('delete_pg_ig_maps')
def iscsi_target_node_remove_pg_ig_maps(client, pg_ig_maps, name):
    """Remove portal group to initiator group maps from a target node."""
    return client.call('iscsi_target_node_remove_pg_ig_maps', {'name': name,
                                                               'pg_ig_maps': pg_ig_maps})


def iscsi_target_node_set_redirect(client, name, pg_tag, redirect_host=None,
                                   redirect_port=None):
    """Redirect logins through public portal group pg_tag to a private portal (None: clear)."""
    return client.call('iscsi_target_node_set_redirect',
                       strip_none({'name': name, 'pg_tag': pg_tag,
                                   'redirect_host': redirect_host,
                                   'redirect_port': redirect_port}))


def iscsi_target_node_request_logout(client, name, pg_tag=None):
    """Ask the target's initiators (through pg_tag only, if given) to log out."""
    return client.call('iscsi_target_node_request_logout',
                       strip_none({'name': name, 'pg_tag': pg_tag}))


@deprecated_alias('get_target_nodes')
def iscsi_get_target_nodes(client):
    """Return every target node with its LUNs, maps and settings."""
    return client.call('iscsi_get_target_nodes')


def iscsi_enable_histogram(client, name, enable):
    """Start (enable True) or stop recording a target's command latency histogram."""
    return client.call('iscsi_enable_histogram', {'name': name, 'enable': enable})


def iscsi_get_histogram(client, name):
    """Return a target's histogram: base64 buckets, granularity, ranges, tsc_rate."""
    return client.call('iscsi_get_histogram', {'name': name})


# Connections, statistics, SCSI devices.

@deprecated_alias('get_iscsi_connections')
def iscsi_get_connections(client):
    """Return every connection: ids, addresses, target, state and core."""
    return client.call('iscsi_get_connections')


def iscsi_get_stats(client):
    """Return how many connections are invalid, running, exiting and exited."""
    return client.call('iscsi_get_stats')


@deprecated_alias('get_iscsi_devices')
@deprecated_alias('get_scsi_devices')
def scsi_get_devices(client):
    """Return every SCSI device: id and name."""
    return client.call('scsi_get_devices')


def add_parsers(subparsers):
    add_option_parsers(subparsers)
    add_auth_group_parsers(subparsers)
    add_portal_group_parsers(subparsers)
    add_initiator_group_parsers(subparsers)
    add_target_node_parsers(subparsers)
    add_status_parsers(subparsers)


def add_chap_options(p, what):
    p.add_argument('-g', '--chap-group', type=int,
                   help='auth group tag for {} (the group must exist; 0: none)'.format(what))
    p.add_argument('-d', '--disable-chap', action='store_true',
                   help='no CHAP for {} (excludes --require-chap)'.format(what))
    p.add_argument('-r', '--require-chap', action='store_true',
                   help='CHAP required for {} (excludes --disable-chap)'.format(what))
    p.add_argument('-m', '--mutual-chap', action='store_true',
                   help='mutual CHAP for {} (with --require-chap)'.format(what))


def chap_args(args):
    """The CHAP flags that were given (store_true flags left off are not sent)."""
    return {'disable_chap': args.disable_chap or None, 'require_chap': args.require_chap or None,
            'mutual_chap': args.mutual_chap or None, 'chap_group': args.chap_group}


def add_option_parsers(subparsers):
    def cmd_iscsi_set_options(args):
        iscsi_set_options(
            args.client, auth_file=args.auth_file, node_base=args.node_base,
            nop_timeout=args.nop_timeout, nop_in_interval=args.nop_in_interval,
            max_sessions=args.max_sessions, max_queue_depth=args.max_queue_depth,
            max_connections_per_session=args.max_connections_per_session,
            default_time2wait=args.default_time2wait,
            default_time2retain=args.default_time2retain,
            first_burst_length=args.first_burst_length, immediate_data=args.immediate_data,
            error_recovery_level=args.error_recovery_level,
            allow_duplicated_isid=args.allow_duplicated_isid or None,
            max_large_datain_per_connection=args.max_large_datain_per_connection,
            max_r2t_per_connection=args.max_r2t_per_connection,
            pdu_pool_size=args.pdu_pool_size,
            immediate_data_pool_size=args.immediate_data_pool_size,
            data_out_pool_size=args.data_out_pool_size,
            min_connections_per_core=args.min_connections_per_core,
            max_burst_length=args.max_burst_length,
            max_recv_data_segment_length=args.max_recv_data_segment_length,
            initial_r2t=args.initial_r2t, **chap_args(args))

    p = add_command(subparsers, 'iscsi_set_options', cmd_iscsi_set_options,
                    'Set the iSCSI target options (before framework_start_init, once)',
                    aliases=['set_iscsi_options'])
    p.add_argument('-f', '--auth-file', help='file of [AuthGroupN] CHAP secrets')
    p.add_argument('-b', '--node-base', help='prefix of short target names')
    p.add_argument('-o', '--nop-timeout', type=int,
                   help='s to wait for the answer to a NOP-In (0: forever)')
    p.add_argument('-n', '--nop-in-interval', type=int,
                   help='s of idleness before a NOP-In (0 to 60; 0: none)')
    add_chap_options(p, 'discovery sessions')
    p.add_argument('-a', '--max-sessions', type=int, help='sessions at most (1 to 65535)')
    p.add_argument('-q', '--max-queue-depth', type=int,
                   help='commands at once per connection (1 to 256)')
    p.add_argument('-c', '--max-connections-per-session', type=int, help='MaxConnections')
    p.add_argument('-w', '--default-time2wait', type=int, help='DefaultTime2Wait (s)')
    p.add_argument('-v', '--default-time2retain', type=int, help='DefaultTime2Retain (s)')
    p.add_argument('-s', '--first-burst-length', type=int, help='FirstBurstLength (bytes)')
    p.add_argument('-i', '--immediate-data', dest='immediate_data', action='store_const',
                   const=True, help='ImmediateData=Yes')
    p.add_argument('--no-immediate-data', dest='immediate_data', action='store_const',
                   const=False, help='ImmediateData=No')
    p.add_argument('-l', '--error-recovery-level', type=int, help='ErrorRecoveryLevel (0 to 2)')
    p.add_argument('-p', '--allow-duplicated-isid', action='store_true',
                   help='let a new login with a used ISID join (tests only)')
    p.add_argument('-x', '--max-large-datain-per-connection', type=int,
                   help='accepted, not used')
    p.add_argument('-k', '--max-r2t-per-connection', type=int,
                   help='MaxOutstandingR2T offered')
    p.add_argument('-u', '--pdu-pool-size', type=int, help='accepted, not used')
    p.add_argument('-j', '--immediate-data-pool-size', type=int, help='accepted, not used')
    p.add_argument('-z', '--data-out-pool-size', type=int, help='accepted, not used')
    p.add_argument('--min-connections-per-core', type=int, help='accepted, not used')
    p.add_argument('--max-burst-length', type=int, help='MaxBurstLength (bytes; keel)')
    p.add_argument('--max-recv-data-segment-length', type=int,
                   help='MaxRecvDataSegmentLength the target declares (keel)')
    p.add_argument('--initial-r2t', dest='initial_r2t', action='store_const', const=True,
                   help='InitialR2T=Yes (keel)')

    def cmd_iscsi_get_options(args):
        print_dict(iscsi_get_options(args.client))

    add_command(subparsers, 'iscsi_get_options', cmd_iscsi_get_options,
                'Show the iSCSI target options', aliases=['get_iscsi_global_params'])

    def cmd_iscsi_set_discovery_auth(args):
        iscsi_set_discovery_auth(args.client, **chap_args(args))

    p = add_command(subparsers, 'iscsi_set_discovery_auth', cmd_iscsi_set_discovery_auth,
                    'Set CHAP for discovery sessions', aliases=['set_iscsi_discovery_auth'])
    add_chap_options(p, 'discovery sessions')


def add_auth_group_parsers(subparsers):
    def cmd_iscsi_create_auth_group(args):
        secrets = parse_secrets(args.secrets) if args.secrets else None
        iscsi_create_auth_group(args.client, tag=args.tag, secrets=secrets)

    p = add_command(subparsers, 'iscsi_create_auth_group', cmd_iscsi_create_auth_group,
                    'Create a CHAP auth group', aliases=['add_iscsi_auth_group'])
    p.add_argument('tag', type=int, help='auth group tag (> 0)')
    p.add_argument('-c', '--secrets', help="comma-separated secrets, each 'user:U secret:S' "
                   "or 'user:U secret:S muser:MU msecret:MS'")

    def cmd_iscsi_delete_auth_group(args):
        iscsi_delete_auth_group(args.client, tag=args.tag)

    p = add_command(subparsers, 'iscsi_delete_auth_group', cmd_iscsi_delete_auth_group,
                    'Delete a CHAP auth group', aliases=['delete_iscsi_auth_group'])
    p.add_argument('tag', type=int, help='auth group tag')

    def cmd_iscsi_auth_group_add_secret(args):
        iscsi_auth_group_add_secret(args.client, tag=args.tag, user=args.user,
                                    secret=args.secret, muser=args.muser, msecret=args.msecret)

    p = add_command(subparsers, 'iscsi_auth_group_add_secret', cmd_iscsi_auth_group_add_secret,
                    'Add a CHAP secret to an auth group',
                    aliases=['add_secret_to_iscsi_auth_group'])
    p.add_argument('tag', type=int, help='auth group tag')
    p.add_argument('-u', '--user', required=True, help='CHAP name of the initiator')
    p.add_argument('-s', '--secret', required=True, help='CHAP secret of the initiator')
    p.add_argument('-m', '--muser', help='CHAP name of the target (mutual CHAP)')
    p.add_argument('-r', '--msecret', help='CHAP secret of the target (mutual CHAP)')

    def cmd_iscsi_auth_group_remove_secret(args):
        iscsi_auth_group_remove_secret(args.client, tag=args.tag, user=args.user)

    p = add_command(subparsers, 'iscsi_auth_group_remove_secret',
                    cmd_iscsi_auth_group_remove_secret, 'Remove a CHAP secret from an auth group',
                    aliases=['delete_secret_from_iscsi_auth_group'])
    p.add_argument('tag', type=int, help='auth group tag')
    p.add_argument('-u', '--user', required=True, help='CHAP name of the initiator')

    def cmd_iscsi_get_auth_groups(args):
        print_dict(iscsi_get_auth_groups(args.client))

    add_command(subparsers, 'iscsi_get_auth_groups', cmd_iscsi_get_auth_groups,
                'Show every CHAP auth group', aliases=['get_iscsi_auth_groups'])


def add_portal_group_parsers(subparsers):
    def cmd_iscsi_create_portal_group(args):
        iscsi_create_portal_group(args.client, portals=parse_portals(args.portal_list),
                                  tag=args.tag, private=args.private, wait=args.wait)

    p = add_command(subparsers, 'iscsi_create_portal_group', cmd_iscsi_create_portal_group,
                    'Create a portal group and listen on its portals',
                    aliases=['add_portal_group'])
    p.add_argument('tag', type=int, help='portal group tag (1 to 65535)')
    p.add_argument('portal_list', nargs='+', help="portals 'host:port[@cpumask]' (IPv6 as "
                   "'[addr]:port'), as separate arguments or one quoted list")
    p.add_argument('-p', '--private', action='store_true',
                   help='not shown by discovery (login redirection targets)')
    p.add_argument('-w', '--wait', action='store_true',
                   help='do not listen until iscsi_start_portal_group')

    def cmd_iscsi_start_portal_group(args):
        iscsi_start_portal_group(args.client, tag=args.tag)

    p = add_command(subparsers, 'iscsi_start_portal_group', cmd_iscsi_start_portal_group,
                    'Start listening on a portal group created with --wait')
    p.add_argument('tag', type=int, help='portal group tag')

    def cmd_iscsi_delete_portal_group(args):
        iscsi_delete_portal_group(args.client, tag=args.tag)

    p = add_command(subparsers, 'iscsi_delete_portal_group', cmd_iscsi_delete_portal_group,
                    'Delete a portal group', aliases=['delete_portal_group'])
    p.add_argument('tag', type=int, help='portal group tag')

    def cmd_iscsi_portal_group_set_auth(args):
        iscsi_portal_group_set_auth(args.client, tag=args.tag, **chap_args(args))

    p = add_command(subparsers, 'iscsi_portal_group_set_auth', cmd_iscsi_portal_group_set_auth,
                    'Set CHAP for discovery sessions through one portal group')
    p.add_argument('tag', type=int, help='portal group tag')
    add_chap_options(p, 'discovery through this group')

    def cmd_iscsi_get_portal_groups(args):
        print_dict(iscsi_get_portal_groups(args.client))

    add_command(subparsers, 'iscsi_get_portal_groups', cmd_iscsi_get_portal_groups,
                'Show every portal group', aliases=['get_portal_groups'])


def add_initiator_group_parsers(subparsers):
    def cmd_iscsi_create_initiator_group(args):
        iscsi_create_initiator_group(args.client, tag=args.tag,
                                     initiators=split_words(args.initiator_list),
                                     netmasks=split_words(args.netmask_list))

    p = add_command(subparsers, 'iscsi_create_initiator_group',
                    cmd_iscsi_create_initiator_group, 'Create an initiator group',
                    aliases=['add_initiator_group'])
    p.add_argument('tag', type=int, help='initiator group tag (> 0)')
    p.add_argument('initiator_list', help="initiator names in one quoted list, e.g. 'ANY' or "
                   "'iqn.2016-06.io.spdk:host1 iqn.2016-06.io.spdk:host2'; '!name' denies")
    p.add_argument('netmask_list', help="netmasks in one quoted list, e.g. 'ANY' or "
                   "'192.168.0.0/16 [fd00::]/8'; '!mask' denies")

    def change(func):
        def cmd(args):
            func(args.client, tag=args.tag,
                 initiators=split_words(args.initiator_list) if args.initiator_list else None,
                 netmasks=split_words(args.netmask_list) if args.netmask_list else None)
        return cmd

    for name, func, help_text, old in (
            ('iscsi_initiator_group_add_initiators', iscsi_initiator_group_add_initiators,
             'Add initiators and/or netmasks to an initiator group',
             'add_initiators_to_initiator_group'),
            ('iscsi_initiator_group_remove_initiators', iscsi_initiator_group_remove_initiators,
             'Remove initiators and/or netmasks from an initiator group',
             'delete_initiators_from_initiator_group')):
        p = add_command(subparsers, name, change(func), help_text, aliases=[old])
        p.add_argument('tag', type=int, help='initiator group tag')
        p.add_argument('-n', dest='initiator_list', help='initiator names in one quoted list')
        p.add_argument('-m', dest='netmask_list', help='netmasks in one quoted list')

    def cmd_iscsi_delete_initiator_group(args):
        iscsi_delete_initiator_group(args.client, tag=args.tag)

    p = add_command(subparsers, 'iscsi_delete_initiator_group',
                    cmd_iscsi_delete_initiator_group, 'Delete an initiator group',
                    aliases=['delete_initiator_group'])
    p.add_argument('tag', type=int, help='initiator group tag')

    def cmd_iscsi_get_initiator_groups(args):
        print_dict(iscsi_get_initiator_groups(args.client))

    add_command(subparsers, 'iscsi_get_initiator_groups', cmd_iscsi_get_initiator_groups,
                'Show every initiator group', aliases=['get_initiator_groups'])


def add_target_node_parsers(subparsers):
    def cmd_iscsi_create_target_node(args):
        iscsi_create_target_node(
            args.client, luns=parse_luns(args.bdev_name_id_pairs),
            pg_ig_maps=parse_pg_ig_maps(args.pg_ig_mappings), name=args.name,
            alias_name=args.alias_name, queue_depth=args.queue_depth,
            header_digest=args.header_digest, data_digest=args.data_digest, **chap_args(args))

    p = add_command(subparsers, 'iscsi_create_target_node', cmd_iscsi_create_target_node,
                    'Create a target node', aliases=['construct_target_node'])
    p.add_argument('name', help='short name (NodeBase is put in front) or full iSCSI name')
    p.add_argument('alias_name', help='alias')
    p.add_argument('bdev_name_id_pairs', help="'bdev:LUN' pairs in one quoted list, e.g. "
                   "'Malloc0:0 Malloc1:1' (the bdevs must exist)")
    p.add_argument('pg_ig_mappings', help="'portal group tag:initiator group tag' pairs in one "
                   "quoted list, e.g. '1:2 2:2' (the groups must exist)")
    p.add_argument('queue_depth', type=int, help='commands at once per session (1 to 256)')
    add_chap_options(p, 'this target')
    p.add_argument('-H', '--header-digest', action='store_true', help='require HeaderDigest')
    p.add_argument('-D', '--data-digest', action='store_true', help='require DataDigest')

    def cmd_iscsi_delete_target_node(args):
        iscsi_delete_target_node(args.client, target_node_name=args.target_node_name)

    p = add_command(subparsers, 'iscsi_delete_target_node', cmd_iscsi_delete_target_node,
                    'Delete a target node (its initiators are asked to log out first)',
                    aliases=['delete_target_node'])
    p.add_argument('target_node_name', help='e.g. iqn.2016-06.io.spdk:disk1 or disk1')

    def cmd_iscsi_target_node_add_lun(args):
        iscsi_target_node_add_lun(args.client, name=args.name, bdev_name=args.bdev_name,
                                  lun_id=args.lun_id)

    p = add_command(subparsers, 'iscsi_target_node_add_lun', cmd_iscsi_target_node_add_lun,
                    'Add a bdev as a LUN of a target node', aliases=['target_node_add_lun'])
    p.add_argument('name', help='target node name')
    p.add_argument('bdev_name', help='bdev name')
    p.add_argument('-i', dest='lun_id', type=int,
                   help='LUN id (0 to 63; left out or -1: the lowest free)')

    def cmd_iscsi_target_node_set_auth(args):
        iscsi_target_node_set_auth(args.client, name=args.name, **chap_args(args))

    p = add_command(subparsers, 'iscsi_target_node_set_auth', cmd_iscsi_target_node_set_auth,
                    'Set CHAP for a target node', aliases=['set_iscsi_target_node_auth'])
    p.add_argument('name', help='target node name')
    add_chap_options(p, 'this target')

    for name, func, help_text, old in (
            ('iscsi_target_node_add_pg_ig_maps', iscsi_target_node_add_pg_ig_maps,
             'Add portal group to initiator group maps to a target node', 'add_pg_ig_maps'),
            ('iscsi_target_node_remove_pg_ig_maps', iscsi_target_node_remove_pg_ig_maps,
             'Remove portal group to initiator group maps from a target node',
             'delete_pg_ig_maps')):
        p = add_command(subparsers, name,
                        lambda args, f=func: f(args.client, name=args.name,
                                               pg_ig_maps=parse_pg_ig_maps(args.pg_ig_mappings)),
                        help_text, aliases=[old])
        p.add_argument('name', help='target node name')
        p.add_argument('pg_ig_mappings', help="'pg tag:ig tag' pairs in one quoted list, e.g. "
                       "'1:1 2:2'")

    def cmd_iscsi_target_node_set_redirect(args):
        iscsi_target_node_set_redirect(args.client, name=args.name, pg_tag=args.pg_tag,
                                       redirect_host=args.redirect_host,
                                       redirect_port=args.redirect_port)

    p = add_command(subparsers, 'iscsi_target_node_set_redirect',
                    cmd_iscsi_target_node_set_redirect,
                    'Redirect logins through a public portal group to a private portal '
                    '(without -a and -p: stop redirecting)')
    p.add_argument('name', help='target node name')
    p.add_argument('pg_tag', type=int, help='public portal group tag')
    p.add_argument('-a', '--redirect-host', help='numeric IP address of the private portal')
    p.add_argument('-p', '--redirect-port', help='TCP port of the private portal')

    def cmd_iscsi_target_node_request_logout(args):
        iscsi_target_node_request_logout(args.client, name=args.name, pg_tag=args.pg_tag)

    p = add_command(subparsers, 'iscsi_target_node_request_logout',
                    cmd_iscsi_target_node_request_logout,
                    "Ask a target node's initiators to log out")
    p.add_argument('name', help='target node name')
    p.add_argument('-t', '--pg-tag', type=int, help='only through this portal group')

    def cmd_iscsi_get_target_nodes(args):
        print_dict(iscsi_get_target_nodes(args.client))

    add_command(subparsers, 'iscsi_get_target_nodes', cmd_iscsi_get_target_nodes,
                'Show every target node', aliases=['get_target_nodes'])

    def cmd_iscsi_enable_histogram(args):
        iscsi_enable_histogram(args.client, name=args.name, enable=args.enable)

    p = add_command(subparsers, 'iscsi_enable_histogram', cmd_iscsi_enable_histogram,
                    "Start or stop recording a target node's command latency histogram")
    p.add_argument('name', help='target node name')
    p.add_argument('-e', '--enable', dest='enable', action='store_true', default=True,
                   help='start recording (the default)')
    p.add_argument('-d', '--disable', dest='enable', action='store_false',
                   help='stop recording')

    def cmd_iscsi_get_histogram(args):
        print_dict(iscsi_get_histogram(args.client, name=args.name))

    p = add_command(subparsers, 'iscsi_get_histogram', cmd_iscsi_get_histogram,
                    "Show a target node's command latency histogram")
    p.add_argument('name', help='target node name')


def add_status_parsers(subparsers):
    def cmd_iscsi_get_connections(args):
        print_dict(iscsi_get_connections(args.client))

    add_command(subparsers, 'iscsi_get_connections', cmd_iscsi_get_connections,
                'Show every iSCSI connection', aliases=['get_iscsi_connections'])

    def cmd_iscsi_get_stats(args):
        print_dict(iscsi_get_stats(args.client))

    add_command(subparsers, 'iscsi_get_stats', cmd_iscsi_get_stats,
                'Show how many connections are in each state')

    def cmd_scsi_get_devices(args):
        print_dict(scsi_get_devices(args.client))

    add_command(subparsers, 'scsi_get_devices', cmd_scsi_get_devices, 'Show every SCSI device',
                aliases=['get_scsi_devices', 'get_iscsi_devices'])
