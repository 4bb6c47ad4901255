#!/usr/bin/env python3
"""Tests of scripts/rpc.py and the scripts/rpc package that need no keel daemon.

A small fake JSON-RPC server runs in a thread on a temporary Unix socket (or loopback TCP);
rpc.py runs as a subprocess against it. The tests check the requests it sent, what it
printed, and its exit code. Run: python3 test/rpc_py/test_rpc_py.py -v
"""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SCRIPTS = os.path.join(ROOT, 'scripts')
RPC_PY = os.path.join(SCRIPTS, 'rpc.py')

sys.dont_write_bytecode = True
sys.path.insert(0, SCRIPTS)
import rpc  # noqa: E402
from rpc.client import JSONRPCClient, JSONRPCException  # noqa: E402


class RpcError(Exception):
    """Returned by a fake method: the server answers with this JSON-RPC error."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class CloseConnection(Exception):
    """Raised by a fake method: the server closes the connection without answering."""


class NoAnswer(Exception):
    """Raised by a fake method: the server keeps the connection open and never answers."""


class FakeServer:
    """A JSON-RPC 2.0 server in a thread. methods maps a name to a result or a callable.

    A callable gets params and returns the result, or raises RpcError, CloseConnection or
    NoAnswer. Every request received is appended to requests. chunk_bytes > 0 makes the server
    write each response in pieces of that size with short pauses; stray_first writes a
    response with another id before the real one.
    """

    def __init__(self, methods=None, tcp=False):
        self.methods = dict(methods or {})
        self.requests = []
        self.chunk_bytes = 0
        self.stray_first = False
        self.tmpdir = tempfile.mkdtemp(prefix='rpc_py_test.')
        if tcp:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(('127.0.0.1', 0))
            self.addr = '127.0.0.1'
            self.port = self.listener.getsockname()[1]
        else:
            self.addr = os.path.join(self.tmpdir, 'rpc.sock')
            self.port = None
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.addr)
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        self._stop = threading.Event()
        self._open = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
        for conn in self._open:
            try:
                conn.close()
            except OSError:
                pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def methods_called(self):
        return [request['method'] for request in self.requests]

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        decoder = json.JSONDecoder()
        buf = ''
        conn.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                conn.close()
                return
            buf += data.decode('utf-8')
            while buf.strip():
                try:
                    request, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                self.requests.append(request)
                try:
                    response = self._answer(request)
                except CloseConnection:
                    conn.close()
                    return
                except NoAnswer:
                    continue
                self._write(conn, request, response)

    def _answer(self, request):
        method = request.get('method')
        if method not in self.methods:
            return {'error': {'code': -32601, 'message': 'Method not found'}}
        handler = self.methods[method]
        try:
            result = handler(request.get('params')) if callable(handler) else handler
        except RpcError as ex:
            return {'error': {'code': ex.code, 'message': ex.message}}
        return {'result': result}

    def _write(self, conn, request, response):
        if self.stray_first:
            stray = {'jsonrpc': '2.0', 'id': 424242, 'result': 'not yours'}
            conn.sendall(json.dumps(stray).encode('utf-8'))
        response = dict(response, jsonrpc='2.0', id=request.get('id'))
        data = json.dumps(response, indent=2, ensure_ascii=False).encode('utf-8')
        if self.chunk_bytes <= 0:
            conn.sendall(data)
            return
        for offset in range(0, len(data), self.chunk_bytes):
            conn.sendall(data[offset:offset + self.chunk_bytes])
            time.sleep(0.001)


class StatefulKeel:
    """Methods of a fake target started with --wait-for-rpc: startup, then runtime state.

    As in keel, framework_start_init answers at once and the runtime state begins only when
    initialisation completes, which here is when framework_wait_init is called.
    """

    STARTUP_ONLY = {'iscsi_set_options', 'bdev_set_options', 'framework_start_init'}
    RUNTIME_ONLY = {'iscsi_create_portal_group', 'bdev_malloc_create'}
    ALIASES = {'construct_malloc_bdev': 'bdev_malloc_create'}

    def __init__(self, runtime=False):
        self.runtime = runtime
        self.init_started = runtime
        self.server = FakeServer()
        names = self.STARTUP_ONLY | self.RUNTIME_ONLY | {'rpc_get_methods', 'bdev_fail',
                                                         'framework_wait_init'}
        for name in names:
            self.server.methods[name] = self._make_handler(name)
        for alias, name in self.ALIASES.items():
            self.server.methods[alias] = self._make_handler(name)

    def allowed(self, name):
        if name in self.STARTUP_ONLY:
            return not self.runtime
        if name in self.RUNTIME_ONLY:
            return self.runtime
        return True

    def _make_handler(self, name):
        def handler(params):
            if not self.allowed(name):
                raise RpcError(-1, "Method may not be called in the current state: " + name)
            if name == 'rpc_get_methods':
                params = params or {}
                names = [n for n in self.server.methods if n not in self.ALIASES]
                if params.get('include_aliases'):
                    names += list(self.ALIASES)
                if params.get('current'):
                    names = [n for n in names if self.allowed(self.ALIASES.get(n, n))]
                return sorted(names)
            if name == 'framework_start_init':
                if self.init_started:
                    raise RpcError(-1, 'framework initialisation has already started')
                self.init_started = True
            if name == 'framework_wait_init':
                if not self.init_started:
                    raise NoAnswer()
                self.runtime = True
            if name == 'bdev_fail':
                raise RpcError(-32602, "bdev_fail: no such bdev 'nope'")
            return True
        return handler


class RpcPyTestCase(unittest.TestCase):
    def setUp(self):
        self.server = FakeServer()

    def tearDown(self):
        self.server.stop()

    def rpc(self, *args, server=None, stdin=None, timeout=20):
        server = server or self.server
        argv = [sys.executable, RPC_PY, '-s', server.addr]
        if server.port is not None:
            argv += ['-p', str(server.port)]
        return subprocess.run(argv + list(args), input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def assert_ok(self, proc):
        self.assertEqual(proc.returncode, 0, "stdout: {}\nstderr: {}".format(proc.stdout,
                                                                             proc.stderr))


class SubCommandTests(RpcPyTestCase):
    def test_log_set_flag_sends_flag_and_prints_nothing(self):
        self.server.methods['log_set_flag'] = True
        proc = self.rpc('log_set_flag', 'iscsi')
        self.assert_ok(proc)
        self.assertEqual(self.server.requests, [{'jsonrpc': '2.0', 'method': 'log_set_flag',
                                                 'id': 1, 'params': {'flag': 'iscsi'}}])
        self.assertEqual(proc.stdout, '')
        self.assertEqual(proc.stderr, '')

    def test_old_names_send_the_new_method_and_warn_on_stderr(self):
        self.server.methods['log_set_flag'] = True
        self.server.methods['log_get_flags'] = {'iscsi': True, 'scsi': False}
        for old in ('set_trace_flag', 'set_log_flag'):
            proc = self.rpc(old, 'scsi')
            self.assert_ok(proc)
            self.assertIn('{} is deprecated, use log_set_flag instead'.format(old), proc.stderr)
        proc = self.rpc('get_trace_flags')
        self.assert_ok(proc)
        self.assertEqual(json.loads(proc.stdout), {'iscsi': True, 'scsi': False})
        self.assertEqual(self.server.methods_called(),
                         ['log_set_flag', 'log_set_flag', 'log_get_flags'])

    def test_each_old_name_maps_to_its_new_method(self):
        pairs = [
            (['get_rpc_methods'], 'rpc_get_methods', None, []),
            (['get_spdk_version'], 'spdk_get_version', None, {'version': 'v'}),
            (['wait_subsystem_init'], 'framework_wait_init', None, True),
            (['get_subsystems'], 'framework_get_subsystems', None, []),
            (['get_subsystem_config', 'iscsi'], 'framework_get_config', {'name': 'iscsi'}, []),
            (['kill_instance', 'SIGINT'], 'spdk_kill_instance', {'sig_name': 'SIGINT'}, True),
            (['clear_trace_flag', 'x'], 'log_clear_flag', {'flag': 'x'}, True),
            (['clear_log_flag', 'x'], 'log_clear_flag', {'flag': 'x'}, True),
            (['get_log_flags'], 'log_get_flags', None, {}),
            (['set_log_level', 'DEBUG'], 'log_set_level', {'level': 'DEBUG'}, True),
            (['get_log_level'], 'log_get_level', None, 'INFO'),
            (['set_log_print_level', 'ERROR'], 'log_set_print_level', {'level': 'ERROR'}, True),
            (['get_log_print_level'], 'log_get_print_level', None, 'INFO'),
        ]
        for argv, method, params, result in pairs:
            with self.subTest(old=argv[0]):
                self.server.requests.clear()
                self.server.methods[method] = result
                self.assert_ok(self.rpc(*argv))
                self.assertEqual(self.server.methods_called(), [method])
                self.assertEqual(self.server.requests[0].get('params'), params)

    def test_rpc_get_methods_flags_become_params(self):
        self.server.methods['rpc_get_methods'] = ['a', 'b']
        proc = self.rpc('rpc_get_methods', '--current', '--include-aliases')
        self.assert_ok(proc)
        self.assertEqual(self.server.requests[0]['params'],
                         {'current': True, 'include_aliases': True})
        self.assertEqual(proc.stdout, json.dumps(['a', 'b'], indent=2) + '\n')

        self.server.requests.clear()
        self.assert_ok(self.rpc('rpc_get_methods'))
        self.assertNotIn('params', self.server.requests[0])

    def test_spdk_get_version_prints_the_object_indented(self):
        version = {'version': 'keel v0.1.0',
                   'fields': {'major': 0, 'minor': 1, 'patch': 0, 'suffix': ''}}
        self.server.methods['spdk_get_version'] = version
        proc = self.rpc('spdk_get_version')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, json.dumps(version, indent=2) + '\n')
        self.assertNotIn('params', self.server.requests[0])

    def test_level_getters_print_a_json_string_as_spdk_does(self):
        self.server.methods['log_get_level'] = 'NOTICE'
        self.server.methods['log_get_print_level'] = 'ERROR'
        self.assertEqual(self.rpc('log_get_level').stdout, '"NOTICE"\n')
        self.assertEqual(self.rpc('log_get_print_level').stdout, '"ERROR"\n')

    def test_level_setters_send_the_level(self):
        self.server.methods['log_set_level'] = True
        self.server.methods['log_set_print_level'] = True
        self.assert_ok(self.rpc('log_set_level', 'DEBUG'))
        self.assert_ok(self.rpc('log_set_print_level', 'WARNING'))
        self.assertEqual([r['params'] for r in self.server.requests],
                         [{'level': 'DEBUG'}, {'level': 'WARNING'}])

    def test_framework_queries_print_results(self):
        reactors = {'tick_rate': 2400000000, 'reactors': [
            {'lcore': 0, 'busy': 10, 'idle': 90, 'in_interrupt': False,
             'lw_threads': [{'name': 'app_thread', 'id': 1, 'cpumask': '0x1', 'elapsed': 5}]}]}
        stats = {'tick_rate': 2400000000, 'threads': [
            {'name': 'app_thread', 'id': 1, 'cpumask': '0x1', 'busy': 1, 'idle': 2,
             'active_pollers_count': 1, 'timed_pollers_count': 2, 'paused_pollers_count': 0}]}
        subsystems = [{'subsystem': 'accel', 'depends_on': []},
                      {'subsystem': 'bdev', 'depends_on': ['accel']}]
        config = [{'method': 'bdev_set_options', 'params': {'bdev_io_pool_size': 65535}}]
        self.server.methods.update({'framework_get_reactors': reactors,
                                    'thread_get_stats': stats,
                                    'framework_get_subsystems': subsystems,
                                    'framework_get_config': config})
        for argv, expected in ((['framework_get_reactors'], reactors),
                               (['thread_get_stats'], stats),
                               (['framework_get_subsystems'], subsystems),
                               (['framework_get_config', 'bdev'], config)):
            with self.subTest(command=argv[0]):
                proc = self.rpc(*argv)
                self.assert_ok(proc)
                self.assertEqual(proc.stdout, json.dumps(expected, indent=2) + '\n')
        self.assertEqual(self.server.requests[-1]['params'], {'name': 'bdev'})

    def test_framework_start_init_waits_for_init_and_prints_nothing(self):
        self.server.methods['framework_start_init'] = True
        self.server.methods['framework_wait_init'] = True
        for name in ('framework_start_init', 'start_subsystem_init'):
            with self.subTest(name=name):
                self.server.requests.clear()
                proc = self.rpc(name)
                self.assert_ok(proc)
                self.assertEqual(proc.stdout, '')
                self.assertEqual(self.server.methods_called(),
                                 ['framework_start_init', 'framework_wait_init'])

    def test_framework_wait_init_prints_nothing(self):
        self.server.methods['framework_wait_init'] = True
        proc = self.rpc('framework_wait_init')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, '')
        self.assertEqual(self.server.methods_called(), ['framework_wait_init'])

    def test_spdk_kill_instance_sends_sig_name(self):
        self.server.methods['spdk_kill_instance'] = True
        proc = self.rpc('spdk_kill_instance', 'SIGTERM')
        self.assert_ok(proc)
        self.assertEqual(self.server.requests[0]['params'], {'sig_name': 'SIGTERM'})

    def test_spdk_kill_instance_succeeds_when_the_server_exits_without_answering(self):
        def die(params):
            raise CloseConnection()
        self.server.methods['spdk_kill_instance'] = die
        self.assert_ok(self.rpc('spdk_kill_instance', 'SIGKILL'))

    def test_other_method_fails_when_the_connection_closes_without_answer(self):
        def die(params):
            raise CloseConnection()
        self.server.methods['log_get_flags'] = die
        proc = self.rpc('log_get_flags')
        self.assertEqual(proc.returncode, 1)
        self.assertIn('Connection closed', proc.stderr)


class ErrorTests(RpcPyTestCase):
    def test_error_response_prints_server_message_and_exits_1(self):
        def fail(params):
            raise RpcError(-32602, "Invalid parameters: unknown log flag 'nope'")
        self.server.methods['log_set_flag'] = fail
        proc = self.rpc('log_set_flag', 'nope')
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, '')
        self.assertIn("Invalid parameters: unknown log flag 'nope'", proc.stderr)
        self.assertIn('-32602', proc.stderr)
        self.assertIn('Got JSON-RPC error response', proc.stderr)

    def test_unknown_method_error_is_reported(self):
        proc = self.rpc('call', 'no_such_method')
        self.assertEqual(proc.returncode, 1)
        self.assertIn('Method not found', proc.stderr)
        self.assertIn('-32601', proc.stderr)

    def test_missing_socket_gives_a_clear_message(self):
        missing = os.path.join(self.server.tmpdir, 'absent.sock')
        proc = subprocess.run([sys.executable, RPC_PY, '-s', missing, 'spdk_get_version'],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=20)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('Error while connecting to ' + missing, proc.stderr)
        self.assertIn('No such file or directory', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)

    def test_timeout_is_reported_after_t_seconds(self):
        def never(params):
            raise NoAnswer()
        self.server.methods['framework_wait_init'] = never
        start = time.monotonic()
        proc = self.rpc('-t', '0.5', 'framework_wait_init')
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('Timeout', proc.stderr)
        self.assertIn('framework_wait_init', proc.stderr)

    def test_bad_usage_exits_2_without_connecting(self):
        proc = self.rpc('log_set_flag')
        self.assertEqual(proc.returncode, 2)
        self.assertIn('FLAG', proc.stderr)
        proc = self.rpc('no_such_subcommand')
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(self.server.requests, [])


class TransportTests(RpcPyTestCase):
    def test_response_in_many_small_chunks_is_read_whole(self):
        names = ['bdev' + str(i) + '-\u00e9\u20ac}{"]}[\\' for i in range(400)]
        self.server.methods['rpc_get_methods'] = names
        self.server.chunk_bytes = 7
        proc = self.rpc('rpc_get_methods')
        self.assert_ok(proc)
        self.assertEqual(json.loads(proc.stdout), names)

    def test_large_response_in_chunks_is_read_whole(self):
        big = [{'method': 'bdev_malloc_create',
                'params': {'name': 'Malloc{}'.format(i), 'num_blocks': 131072,
                           'block_size': 512, 'note': 'x\\"y' * 20}} for i in range(3000)]
        self.server.methods['framework_get_config'] = big
        self.server.chunk_bytes = 65536 - 1
        proc = self.rpc('framework_get_config', 'bdev')
        self.assert_ok(proc)
        self.assertEqual(json.loads(proc.stdout), big)

    def test_response_with_another_id_is_skipped(self):
        self.server.methods['log_get_level'] = 'NOTICE'
        self.server.stray_first = True
        proc = self.rpc('log_get_level')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, '"NOTICE"\n')

    def test_tcp_address_uses_the_port(self):
        tcp = FakeServer({'spdk_get_version': {'version': 'keel v0.1.0'}}, tcp=True)
        try:
            proc = self.rpc('spdk_get_version', server=tcp)
            self.assert_ok(proc)
            self.assertEqual(json.loads(proc.stdout), {'version': 'keel v0.1.0'})
            self.assertEqual(tcp.methods_called(), ['spdk_get_version'])
        finally:
            tcp.stop()

    def test_verbose_prints_request_and_response_on_stderr(self):
        self.server.methods['log_get_flags'] = {'iscsi': False}
        for flag in (['-v'], ['--verbose'], ['--verbose', 'INFO']):
            with self.subTest(flag=flag):
                proc = self.rpc(*(flag + ['log_get_flags']))
                self.assert_ok(proc)
                self.assertIn('request:', proc.stderr)
                self.assertIn('"method": "log_get_flags"', proc.stderr)
                self.assertIn('response:', proc.stderr)
                self.assertEqual(json.loads(proc.stdout), {'iscsi': False})

    def test_dry_run_prints_the_request_and_sends_nothing(self):
        proc = self.rpc('--dry-run', 'log_set_flag', 'iscsi')
        self.assert_ok(proc)
        self.assertIn('"method": "log_set_flag"', proc.stdout)
        self.assertIn('"flag": "iscsi"', proc.stdout)
        self.assertEqual(self.server.requests, [])


class CallTests(RpcPyTestCase):
    def test_call_sends_object_params_and_prints_object(self):
        self.server.methods['bdev_get_bdevs'] = [{'name': 'Malloc0', 'block_size': 512}]
        proc = self.rpc('call', 'bdev_get_bdevs', '{"name": "Malloc0"}')
        self.assert_ok(proc)
        self.assertEqual(self.server.requests[0]['method'], 'bdev_get_bdevs')
        self.assertEqual(self.server.requests[0]['params'], {'name': 'Malloc0'})
        self.assertEqual(proc.stdout,
                         json.dumps([{'name': 'Malloc0', 'block_size': 512}], indent=2) + '\n')

    def test_call_sends_array_params(self):
        self.server.methods['echo'] = lambda params: params
        proc = self.rpc('call', 'echo', '[1, "two"]')
        self.assert_ok(proc)
        self.assertEqual(self.server.requests[0]['params'], [1, 'two'])
        self.assertEqual(json.loads(proc.stdout), [1, 'two'])

    def test_call_without_params_prints_plain_scalars(self):
        for result, printed in ((True, 'true\n'), ('NOTICE', 'NOTICE\n'), (42, '42\n')):
            with self.subTest(result=result):
                self.server.requests.clear()
                self.server.methods['m'] = result
                proc = self.rpc('call', 'm')
                self.assert_ok(proc)
                self.assertEqual(proc.stdout, printed)
                self.assertNotIn('params', self.server.requests[0])

    def test_call_rejects_params_that_are_not_an_object_or_array(self):
        for text in ('{"a":', '"str"', '3'):
            with self.subTest(params=text):
                proc = self.rpc('call', 'm', text)
                self.assertEqual(proc.returncode, 2)
        self.assertEqual(self.server.requests, [])


class ConfigTests(RpcPyTestCase):
    SUBSYSTEMS = [{'subsystem': 'accel', 'depends_on': []},
                  {'subsystem': 'bdev', 'depends_on': ['accel']},
                  {'subsystem': 'iscsi', 'depends_on': ['bdev']}]
    CONFIGS = {
        'accel': [],
        'bdev': [{'method': 'bdev_malloc_create',
                  'params': {'name': 'Malloc0', 'num_blocks': 16384, 'block_size': 512}}],
        'iscsi': [{'method': 'iscsi_set_options', 'params': {'node_base': 'iqn.2016-06.io.spdk'}}],
    }

    def serve_config(self):
        def get_config(params):
            if params['name'] not in self.CONFIGS:
                raise RpcError(-32602, 'unknown subsystem ' + params['name'])
            return self.CONFIGS[params['name']]
        self.server.methods['framework_get_subsystems'] = self.SUBSYSTEMS
        self.server.methods['framework_get_config'] = get_config

    def expected_document(self):
        return {'subsystems': [{'subsystem': s['subsystem'], 'config': self.CONFIGS[s['subsystem']]}
                               for s in self.SUBSYSTEMS]}

    def test_save_config_asks_each_subsystem_in_order(self):
        self.serve_config()
        proc = self.rpc('save_config')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, json.dumps(self.expected_document(), indent=2) + '\n')
        self.assertEqual(self.server.methods_called(),
                         ['framework_get_subsystems'] + ['framework_get_config'] * 3)
        self.assertEqual([r.get('params') for r in self.server.requests[1:]],
                         [{'name': 'accel'}, {'name': 'bdev'}, {'name': 'iscsi'}])

    def test_save_config_negative_indent_prints_one_line(self):
        self.serve_config()
        proc = self.rpc('save_config', '-i', '-1')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout.count('\n'), 1)
        self.assertEqual(json.loads(proc.stdout), self.expected_document())

    def test_save_config_stops_on_error(self):
        self.serve_config()
        self.server.methods['framework_get_subsystems'] = [{'subsystem': 'nope'}]
        proc = self.rpc('save_config')
        self.assertEqual(proc.returncode, 1)
        self.assertIn('unknown subsystem nope', proc.stderr)

    def test_save_subsystem_config_prints_one_subsystem(self):
        self.serve_config()
        proc = self.rpc('save_subsystem_config', '-n', 'bdev')
        self.assert_ok(proc)
        self.assertEqual(json.loads(proc.stdout),
                         {'subsystem': 'bdev', 'config': self.CONFIGS['bdev']})

    def write_config(self, document):
        path = os.path.join(self.server.tmpdir, 'config.json')
        with open(path, 'w', encoding='utf-8') as fd:
            json.dump(document, fd)
        return path

    LOAD_DOCUMENT = {'subsystems': [
        {'subsystem': 'accel', 'config': None},
        {'subsystem': 'bdev', 'config': [
            {'method': 'bdev_set_options', 'params': {'bdev_io_pool_size': 1024}},
            {'method': 'bdev_malloc_create', 'params': {'name': 'Malloc0', 'num_blocks': 8}},
            {'method': 'bdev_malloc_create', 'params': {'name': 'Malloc1', 'num_blocks': 8}}]},
        {'subsystem': 'iscsi', 'config': [
            {'method': 'iscsi_set_options', 'params': {'nop_timeout': 30}},
            {'method': 'iscsi_create_portal_group', 'params': {'tag': 1}}]},
    ]}

    def test_load_config_calls_startup_methods_then_start_init_then_the_rest(self):
        keel = StatefulKeel()
        try:
            path = self.write_config(self.LOAD_DOCUMENT)
            proc = self.rpc('load_config', '-j', path, server=keel.server)
            self.assert_ok(proc)
            calls = [(r['method'], r.get('params')) for r in keel.server.requests
                     if r['method'] != 'rpc_get_methods']
            self.assertEqual(calls, [
                ('bdev_set_options', {'bdev_io_pool_size': 1024}),
                ('iscsi_set_options', {'nop_timeout': 30}),
                ('framework_start_init', None),
                ('framework_wait_init', None),
                ('bdev_malloc_create', {'name': 'Malloc0', 'num_blocks': 8}),
                ('bdev_malloc_create', {'name': 'Malloc1', 'num_blocks': 8}),
                ('iscsi_create_portal_group', {'tag': 1}),
            ])
            self.assertTrue(keel.runtime)
        finally:
            keel.server.stop()

    def test_load_config_reads_stdin(self):
        keel = StatefulKeel()
        try:
            proc = self.rpc('load_config', server=keel.server,
                            stdin=json.dumps(self.LOAD_DOCUMENT))
            self.assert_ok(proc)
            self.assertIn('iscsi_create_portal_group', keel.server.methods_called())
        finally:
            keel.server.stop()

    def test_load_config_with_empty_config_still_starts_the_framework(self):
        keel = StatefulKeel()
        try:
            proc = self.rpc('load_config', server=keel.server, stdin='{"subsystems": []}')
            self.assert_ok(proc)
            self.assertIn('framework_start_init', keel.server.methods_called())
            self.assertTrue(keel.runtime)
        finally:
            keel.server.stop()

    def test_load_config_rejects_unknown_method_before_calling_anything(self):
        keel = StatefulKeel()
        try:
            document = {'subsystems': [{'subsystem': 'bdev', 'config': [
                {'method': 'bdev_set_options', 'params': {}},
                {'method': 'bdev_frobnicate', 'params': {}}]}]}
            proc = self.rpc('load_config', server=keel.server, stdin=json.dumps(document))
            self.assertEqual(proc.returncode, 1)
            self.assertIn('bdev_frobnicate', proc.stderr)
            self.assertEqual(set(keel.server.methods_called()), {'rpc_get_methods'})
        finally:
            keel.server.stop()

    def test_load_config_old_names_need_include_aliases(self):
        keel = StatefulKeel(runtime=True)
        try:
            document = {'subsystems': [{'subsystem': 'bdev', 'config': [
                {'method': 'construct_malloc_bdev', 'params': {'name': 'M'}}]}]}
            proc = self.rpc('load_config', server=keel.server, stdin=json.dumps(document))
            self.assertEqual(proc.returncode, 1)
            self.assertIn('--include-aliases', proc.stderr)
            proc = self.rpc('load_config', '--include-aliases', server=keel.server,
                            stdin=json.dumps(document))
            self.assert_ok(proc)
            self.assertIn('construct_malloc_bdev', keel.server.methods_called())
        finally:
            keel.server.stop()

    def test_load_config_stops_at_the_first_failing_call(self):
        keel = StatefulKeel(runtime=True)
        try:
            document = {'subsystems': [{'subsystem': 'bdev', 'config': [
                {'method': 'bdev_malloc_create', 'params': {'name': 'M0'}},
                {'method': 'bdev_fail', 'params': {'name': 'nope'}},
                {'method': 'bdev_malloc_create', 'params': {'name': 'M1'}}]}]}
            proc = self.rpc('load_config', server=keel.server, stdin=json.dumps(document))
            self.assertEqual(proc.returncode, 1)
            self.assertIn("no such bdev 'nope'", proc.stderr)
            self.assertIn('bdev_fail', proc.stderr)
            created = [r['params']['name'] for r in keel.server.requests
                       if r['method'] == 'bdev_malloc_create']
            self.assertEqual(created, ['M0'])
        finally:
            keel.server.stop()

    def test_load_config_at_runtime_skips_startup_only_entries(self):
        keel = StatefulKeel(runtime=True)
        try:
            proc = self.rpc('load_config', server=keel.server,
                            stdin=json.dumps(self.LOAD_DOCUMENT))
            self.assert_ok(proc)
            self.assertIn('skipped', proc.stderr)
            self.assertIn('iscsi_set_options', proc.stderr)
            called = keel.server.methods_called()
            self.assertNotIn('framework_start_init', called)
            self.assertEqual(called.count('bdev_malloc_create'), 2)
        finally:
            keel.server.stop()

    def test_load_config_rejects_malformed_json(self):
        proc = self.rpc('load_config', stdin='{"subsystems": [')
        self.assertEqual(proc.returncode, 1)
        self.assertIn('not valid JSON', proc.stderr)
        self.assertEqual(self.server.requests, [])

    def test_load_subsystem_config_calls_entries_allowed_now(self):
        keel = StatefulKeel(runtime=True)
        try:
            document = {'subsystem': 'bdev', 'config': [
                {'method': 'bdev_set_options', 'params': {}},
                {'method': 'bdev_malloc_create', 'params': {'name': 'M0'}}]}
            proc = self.rpc('load_subsystem_config', server=keel.server,
                            stdin=json.dumps(document))
            self.assert_ok(proc)
            called = keel.server.methods_called()
            self.assertIn('bdev_malloc_create', called)
            self.assertNotIn('bdev_set_options', called)
            self.assertIn('bdev_set_options', proc.stderr)
        finally:
            keel.server.stop()


class HelpAndModesTests(RpcPyTestCase):
    def test_help_works_for_sub_commands_and_old_names(self):
        for argv, word in ((['--help'], 'framework_start_init'),
                           (['load_config', '--help'], '--json-conf'),
                           (['save_config', '--help'], '--indent'),
                           (['rpc_get_methods', '--help'], '--include-aliases'),
                           (['get_rpc_methods', '--help'], '--current'),
                           (['spdk_kill_instance', '--help'], 'SIGTERM'),
                           (['set_trace_flag', '--help'], 'FLAG'),
                           (['call', '--help'], 'JSON')):
            with self.subTest(argv=argv):
                proc = self.rpc(*argv)
                self.assert_ok(proc)
                self.assertIn(word, proc.stdout)
        self.assertEqual(self.server.requests, [])

    def test_every_sub_command_has_help(self):
        proc = self.rpc('--help')
        names = ['rpc_get_methods', 'spdk_get_version', 'framework_start_init',
                 'framework_wait_init', 'framework_get_reactors', 'framework_get_subsystems',
                 'framework_get_config', 'thread_get_stats', 'spdk_kill_instance',
                 'log_set_flag', 'log_clear_flag', 'log_get_flags', 'log_set_level',
                 'log_get_level', 'log_set_print_level', 'log_get_print_level', 'save_config',
                 'load_config', 'save_subsystem_config', 'load_subsystem_config', 'call']
        for name in names:
            with self.subTest(name=name):
                self.assertIn(name, proc.stdout)
                self.assert_ok(self.rpc(name, '--help'))

    def test_commands_on_stdin_run_over_one_connection(self):
        self.server.methods['log_set_flag'] = True
        self.server.methods['log_get_flags'] = {'a': True}
        script = "# comment\nlog_set_flag a\n\nlog_get_flags\n"
        proc = self.rpc(stdin=script)
        self.assert_ok(proc)
        self.assertEqual(self.server.methods_called(), ['log_set_flag', 'log_get_flags'])
        self.assertEqual([r['id'] for r in self.server.requests], [1, 2])
        self.assertEqual(json.loads(proc.stdout), {'a': True})

    def test_server_mode_ends_each_command_with_its_status(self):
        self.server.methods['log_get_level'] = 'NOTICE'
        lines = "-s {0} log_get_level\n-s {0} call nope\n".format(self.server.addr)
        proc = subprocess.run([sys.executable, RPC_PY, '--server'], input=lines,
                              capture_output=True, text=True, timeout=20)
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, '"NOTICE"\n**STATUS=0\n**STATUS=1\n')


class BdevCommandTests(RpcPyTestCase):
    """The bdev sub-commands: SPDK's names, positional arguments and options."""

    def sent(self):
        return [(r['method'], r.get('params')) for r in self.server.requests]

    def test_construct_malloc_bdev_as_in_spdk_guide_prints_the_name(self):
        self.server.methods['bdev_malloc_create'] = lambda params: params.get('name', 'Malloc0')
        proc = self.rpc('construct_malloc_bdev', '-b', 'Malloc0', '64', '512')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, 'Malloc0\n')
        self.assertIn('construct_malloc_bdev is deprecated', proc.stderr)
        self.assertEqual(self.sent(), [('bdev_malloc_create', {'num_blocks': 131072,
                                                               'block_size': 512,
                                                               'name': 'Malloc0'})])

    def test_bdev_malloc_create_takes_a_float_size_uuid_and_boundary(self):
        self.server.methods['bdev_malloc_create'] = 'Malloc3'
        uuid = '4f1f0d4c-4c7e-4a4e-9a1b-3c3f2a9b8d11'
        proc = self.rpc('bdev_malloc_create', '-u', uuid, '-o', '8', '0.5', '4096')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, 'Malloc3\n')
        self.assertEqual(proc.stderr, '')
        self.assertEqual(self.sent(), [('bdev_malloc_create', {
            'num_blocks': 128, 'block_size': 4096, 'uuid': uuid, 'optimal_io_boundary': 8})])

    def test_bdev_malloc_create_with_block_size_zero_lets_the_server_name_it(self):
        def fail(params):
            raise RpcError(-32602, "Invalid parameter 'block_size': 0 is not a power of two")
        self.server.methods['bdev_malloc_create'] = fail
        proc = self.rpc('bdev_malloc_create', '64', '0')
        self.assertEqual(proc.returncode, 1)
        self.assertIn('block_size', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertEqual(self.sent(), [('bdev_malloc_create', {'num_blocks': 0,
                                                               'block_size': 0})])

    def test_malloc_and_null_delete_send_the_name_and_print_nothing(self):
        for command, method in (('bdev_malloc_delete', 'bdev_malloc_delete'),
                                ('delete_malloc_bdev', 'bdev_malloc_delete'),
                                ('bdev_null_delete', 'bdev_null_delete'),
                                ('delete_null_bdev', 'bdev_null_delete'),
                                ('bdev_aio_delete', 'bdev_aio_delete'),
                                ('delete_aio_bdev', 'bdev_aio_delete'),
                                ('bdev_uring_delete', 'bdev_uring_delete')):
            with self.subTest(command=command):
                self.server.requests.clear()
                self.server.methods[method] = True
                proc = self.rpc(command, 'D0')
                self.assert_ok(proc)
                self.assertEqual(proc.stdout, '')
                self.assertEqual(self.sent(), [(method, {'name': 'D0'})])

    def test_null_create_computes_blocks_from_megabytes(self):
        self.server.methods['bdev_null_create'] = 'Null0'
        for command in ('bdev_null_create', 'construct_null_bdev'):
            with self.subTest(command=command):
                self.server.requests.clear()
                proc = self.rpc(command, 'Null0', '16', '4096', '-u',
                                '0b2f0d4c-4c7e-4a4e-9a1b-3c3f2a9b8d11')
                self.assert_ok(proc)
                self.assertEqual(proc.stdout, 'Null0\n')
                self.assertEqual(self.sent(), [('bdev_null_create', {
                    'name': 'Null0', 'num_blocks': 4096, 'block_size': 4096,
                    'uuid': '0b2f0d4c-4c7e-4a4e-9a1b-3c3f2a9b8d11'})])

    def test_aio_create_block_size_is_optional_and_positional(self):
        self.server.methods['bdev_aio_create'] = 'AIO0'
        proc = self.rpc('construct_aio_bdev', '/tmp/disk.img', 'AIO0')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, 'AIO0\n')
        proc = self.rpc('bdev_aio_create', '/tmp/disk.img', 'AIO0', '4096')
        self.assert_ok(proc)
        self.assertEqual(self.sent(), [
            ('bdev_aio_create', {'name': 'AIO0', 'filename': '/tmp/disk.img'}),
            ('bdev_aio_create', {'name': 'AIO0', 'filename': '/tmp/disk.img',
                                 'block_size': 4096})])

    def test_uring_create_takes_block_size_positional_or_as_option(self):
        self.server.methods['bdev_uring_create'] = 'U0'
        for extra in ([], ['512'], ['-b', '4096']):
            self.assert_ok(self.rpc('bdev_uring_create', '/dev/nvme0n1', 'U0', *extra))
        self.assertEqual([p.get('block_size') for _, p in self.sent()], [None, 512, 4096])
        self.assertEqual({m for m, _ in self.sent()}, {'bdev_uring_create'})

    def test_get_bdevs_and_iostat_take_an_optional_name(self):
        bdevs = [{'name': 'Malloc0', 'num_blocks': 131072, 'block_size': 512}]
        self.server.methods['bdev_get_bdevs'] = bdevs
        self.server.methods['bdev_get_iostat'] = {'tick_rate': 1, 'bdevs': []}
        proc = self.rpc('get_bdevs')
        self.assert_ok(proc)
        self.assertEqual(json.loads(proc.stdout), bdevs)
        self.assert_ok(self.rpc('bdev_get_bdevs', '-b', 'Malloc0', '-t', '100'))
        self.assert_ok(self.rpc('get_bdevs_iostat', '--name', 'Malloc0'))
        self.assert_ok(self.rpc('bdev_get_iostat'))
        self.assertEqual(self.sent(), [('bdev_get_bdevs', None),
                                       ('bdev_get_bdevs', {'name': 'Malloc0',
                                                           'timeout': 100}),
                                       ('bdev_get_iostat', {'name': 'Malloc0'}),
                                       ('bdev_get_iostat', None)])

    def test_set_options_sends_only_what_was_given(self):
        self.server.methods['bdev_set_options'] = True
        self.assert_ok(self.rpc('set_bdev_options', '-p', '1024', '-c', '16', '-s', '8192',
                                '-l', '1024'))
        self.assert_ok(self.rpc('bdev_set_options', '--disable-auto-examine'))
        self.assert_ok(self.rpc('bdev_set_options', '-e'))
        self.assertEqual(self.sent(), [
            ('bdev_set_options', {'bdev_io_pool_size': 1024, 'bdev_io_cache_size': 16,
                                  'small_buf_pool_size': 8192, 'large_buf_pool_size': 1024}),
            ('bdev_set_options', {'bdev_auto_examine': False}),
            ('bdev_set_options', {'bdev_auto_examine': True})])
        proc = self.rpc('bdev_set_options', '-e', '-d')
        self.assertEqual(proc.returncode, 2)

    def test_qos_limit_accepts_old_and_new_option_spellings(self):
        self.server.methods['bdev_set_qos_limit'] = True
        proc = self.rpc('set_bdev_qos_limit', 'Malloc0', '--rw_ios_per_sec', '20000',
                        '--rw_mbytes_per_sec', '100')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, '')
        self.assert_ok(self.rpc('bdev_set_qos_limit', 'Malloc0', '--r-mbytes-per-sec', '10',
                                '--w_mbytes_per_sec', '0'))
        self.assertEqual(self.sent(), [
            ('bdev_set_qos_limit', {'name': 'Malloc0', 'rw_ios_per_sec': 20000,
                                    'rw_mbytes_per_sec': 100}),
            ('bdev_set_qos_limit', {'name': 'Malloc0', 'r_mbytes_per_sec': 10,
                                    'w_mbytes_per_sec': 0})])

    def test_qd_sampling_period_sends_name_and_period_under_both_names(self):
        self.server.methods['bdev_set_qd_sampling_period'] = True
        proc = self.rpc('bdev_set_qd_sampling_period', 'Malloc0', '1000')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, 'true\n')
        proc = self.rpc('set_bdev_qd_sampling_period', 'Malloc0', '0')
        self.assert_ok(proc)
        self.assertIn('set_bdev_qd_sampling_period is deprecated', proc.stderr)
        self.assertEqual(self.sent(), [
            ('bdev_set_qd_sampling_period', {'name': 'Malloc0', 'period': 1000}),
            ('bdev_set_qd_sampling_period', {'name': 'Malloc0', 'period': 0})])
        self.assertEqual(self.rpc('bdev_set_qd_sampling_period', 'Malloc0').returncode, 2)

    def test_error_bdev_sub_commands_send_spdks_params_under_both_names(self):
        for method in ('bdev_error_create', 'bdev_error_delete', 'bdev_error_inject_error'):
            self.server.methods[method] = True
        uuid = '0b4c8d9e-1f2a-4b3c-8d4e-5f6a7b8c9d0e'
        proc = self.rpc('bdev_error_create', 'Malloc0')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, 'true\n')
        self.assert_ok(self.rpc('construct_error_bdev', 'Malloc1', '--uuid', uuid))
        self.assert_ok(self.rpc('bdev_error_inject_error', 'EE_Malloc0', 'read', 'failure'))
        self.assert_ok(self.rpc('bdev_inject_error', 'EE_Malloc0', 'write', 'corrupt_data',
                                '-n', '3', '-q', '2', '-o', '512', '-v', '255'))
        self.assert_ok(self.rpc('bdev_error_inject_error', 'EE_Malloc0', 'all', 'nomem',
                                '--num', '0', '--queue-depth', '4', '--corrupt-offset', '1',
                                '--corrupt-value', '7'))
        proc = self.rpc('delete_error_bdev', 'EE_Malloc0')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, '')
        self.assertEqual(self.sent(), [
            ('bdev_error_create', {'base_name': 'Malloc0'}),
            ('bdev_error_create', {'base_name': 'Malloc1', 'uuid': uuid}),
            ('bdev_error_inject_error', {'name': 'EE_Malloc0', 'io_type': 'read',
                                         'error_type': 'failure'}),
            ('bdev_error_inject_error', {'name': 'EE_Malloc0', 'io_type': 'write',
                                         'error_type': 'corrupt_data', 'num': 3,
                                         'queue_depth': 2, 'corrupt_offset': 512,
                                         'corrupt_value': 255}),
            ('bdev_error_inject_error', {'name': 'EE_Malloc0', 'io_type': 'all',
                                         'error_type': 'nomem', 'num': 0, 'queue_depth': 4,
                                         'corrupt_offset': 1, 'corrupt_value': 7}),
            ('bdev_error_delete', {'name': 'EE_Malloc0'})])

    def test_delete_bdev_sends_the_generic_method(self):
        self.server.methods['delete_bdev'] = True
        proc = self.rpc('delete_bdev', 'Malloc0')
        self.assert_ok(proc)
        self.assertEqual(proc.stdout, '')
        self.assertEqual(self.sent(), [('delete_bdev', {'name': 'Malloc0'})])

    def test_missing_positional_arguments_exit_2_without_connecting(self):
        for argv in (['bdev_malloc_create', '64'], ['bdev_null_create', 'N', '16'],
                     ['bdev_aio_create', '/tmp/f'], ['bdev_set_qos_limit'],
                     ['bdev_malloc_create', 'big', '512']):
            with self.subTest(argv=argv):
                proc = self.rpc(*argv)
                self.assertEqual(proc.returncode, 2)
        self.assertEqual(self.server.requests, [])

    def test_python_api_old_and_new_names(self):
        self.server.methods['bdev_malloc_create'] = 'M'
        self.server.methods['bdev_get_bdevs'] = []
        stderr = io.StringIO()
        with JSONRPCClient(self.server.addr, timeout=5) as client:
            saved, sys.stderr = sys.stderr, stderr
            try:
                self.assertEqual(rpc.bdev.construct_malloc_bdev(client, 8, 512, name='M'), 'M')
                self.assertEqual(rpc.bdev.get_bdevs(client), [])
                self.assertEqual(rpc.bdev.bdev_malloc_create(client, num_blocks=8,
                                                             block_size=512), 'M')
            finally:
                sys.stderr = saved
        self.assertIn('construct_malloc_bdev is deprecated', stderr.getvalue())
        self.assertEqual(self.sent(), [
            ('bdev_malloc_create', {'num_blocks': 8, 'block_size': 512, 'name': 'M'}),
            ('bdev_get_bdevs', None),
            ('bdev_malloc_create', {'num_blocks': 8, 'block_size': 512})])

    def test_every_bdev_sub_command_and_old_name_has_help(self):
        proc = self.rpc('--help')
        names = ['bdev_set_options', 'set_bdev_options', 'bdev_get_bdevs', 'get_bdevs',
                 'bdev_get_iostat', 'get_bdevs_iostat', 'bdev_set_qos_limit',
                 'set_bdev_qos_limit', 'delete_bdev', 'bdev_malloc_create',
                 'construct_malloc_bdev', 'bdev_malloc_delete', 'delete_malloc_bdev',
                 'bdev_null_create', 'construct_null_bdev', 'bdev_null_delete',
                 'delete_null_bdev', 'bdev_aio_create', 'construct_aio_bdev',
                 'bdev_aio_delete', 'delete_aio_bdev', 'bdev_uring_create',
                 'bdev_uring_delete', 'bdev_set_qd_sampling_period',
                 'set_bdev_qd_sampling_period', 'bdev_error_create', 'construct_error_bdev',
                 'bdev_error_delete', 'delete_error_bdev', 'bdev_error_inject_error',
                 'bdev_inject_error']
        for name in names:
            with self.subTest(name=name):
                self.assertIn(name, proc.stdout)
                self.assert_ok(self.rpc(name, '--help'))
        self.assertEqual(self.server.requests, [])


class IscsiCommandTests(RpcPyTestCase):
    """The iSCSI sub-commands: SPDK's names, positional arguments and options, old names."""

    def sent(self):
        return [(r['method'], r.get('params')) for r in self.server.requests]

    def run_lines(self, *lines, result=True):
        """Run each line as one sub-command (rpc.py reads them from stdin)."""
        methods = {'iscsi_create_portal_group', 'iscsi_create_initiator_group',
                   'iscsi_create_target_node', 'iscsi_set_options', 'iscsi_set_discovery_auth',
                   'iscsi_create_auth_group', 'iscsi_delete_auth_group',
                   'iscsi_auth_group_add_secret', 'iscsi_auth_group_remove_secret',
                   'iscsi_start_portal_group', 'iscsi_delete_portal_group',
                   'iscsi_portal_group_set_auth', 'iscsi_initiator_group_add_initiators',
                   'iscsi_initiator_group_remove_initiators', 'iscsi_delete_initiator_group',
                   'iscsi_delete_target_node', 'iscsi_target_node_add_lun',
                   'iscsi_target_node_set_auth', 'iscsi_target_node_add_pg_ig_maps',
                   'iscsi_target_node_remove_pg_ig_maps', 'iscsi_target_node_set_redirect',
                   'iscsi_target_node_request_logout', 'iscsi_enable_histogram'}
        for method in methods:
            self.server.methods[method] = result
        proc = self.rpc(stdin='\n'.join(lines) + '\n')
        self.assert_ok(proc)
        return proc

    def test_the_guide_commands_work_word_for_word(self):
        proc = self.run_lines(
            'add_portal_group 1 127.0.0.1:3260',
            'add_initiator_group 2 ANY 127.0.0.1/32',
            'construct_target_node disk1 "Data Disk1" "Malloc0:0 Malloc1:1" 1:2 64 -d')
        self.assertEqual(proc.stdout, '')
        self.assertIn('add_portal_group is deprecated, use iscsi_create_portal_group',
                      proc.stderr)
        self.assertIn('construct_target_node is deprecated', proc.stderr)
        self.assertEqual(self.sent(), [
            ('iscsi_create_portal_group', {'tag': 1, 'portals': [{'host': '127.0.0.1',
                                                                  'port': '3260'}]}),
            ('iscsi_create_initiator_group', {'tag': 2, 'initiators': ['ANY'],
                                              'netmasks': ['127.0.0.1/32']}),
            ('iscsi_create_target_node', {
                'name': 'disk1', 'alias_name': 'Data Disk1',
                'pg_ig_maps': [{'pg_tag': 1, 'ig_tag': 2}],
                'luns': [{'bdev_name': 'Malloc0', 'lun_id': 0},
                         {'bdev_name': 'Malloc1', 'lun_id': 1}],
                'queue_depth': 64, 'disable_chap': True})])

    def test_portals_as_arguments_or_a_list_with_ipv6_and_cpumasks(self):
        self.run_lines(
            "iscsi_create_portal_group 3 10.0.0.1:3260 '10.0.0.2:3261@0x3 [fd00::1]:3262' -p",
            'iscsi_create_portal_group -w 4 [::1] 10.0.0.3',
            'iscsi_start_portal_group 4',
            'iscsi_delete_portal_group 3',
            'iscsi_portal_group_set_auth 4 -r -m -g 2')
        self.assertEqual(self.sent(), [
            ('iscsi_create_portal_group', {'tag': 3, 'private': True, 'portals': [
                {'host': '10.0.0.1', 'port': '3260'},
                {'host': '10.0.0.2', 'port': '3261', 'cpumask': '0x3'},
                {'host': '[fd00::1]', 'port': '3262'}]}),
            ('iscsi_create_portal_group', {'tag': 4, 'wait': True, 'portals': [
                {'host': '[::1]', 'port': '3260'}, {'host': '10.0.0.3', 'port': '3260'}]}),
            ('iscsi_start_portal_group', {'tag': 4}),
            ('iscsi_delete_portal_group', {'tag': 3}),
            ('iscsi_portal_group_set_auth', {'tag': 4, 'require_chap': True,
                                             'mutual_chap': True, 'chap_group': 2})])

    def test_auth_groups_and_secrets(self):
        self.run_lines(
            "add_iscsi_auth_group 1 -c 'user:u1 secret:s1 muser:mu1 msecret:ms1,user:u2 "
            "secret:s2'",
            'iscsi_create_auth_group 2',
            'iscsi_auth_group_add_secret 2 -u u3 -s s3 -m mu3 -r ms3',
            'delete_secret_from_iscsi_auth_group 2 -u u3',
            'iscsi_delete_auth_group 2',
            'iscsi_set_discovery_auth -d',
            'set_iscsi_discovery_auth -r -g 1')
        self.assertEqual(self.sent(), [
            ('iscsi_create_auth_group', {'tag': 1, 'secrets': [
                {'user': 'u1', 'secret': 's1', 'muser': 'mu1', 'msecret': 'ms1'},
                {'user': 'u2', 'secret': 's2'}]}),
            ('iscsi_create_auth_group', {'tag': 2}),
            ('iscsi_auth_group_add_secret', {'tag': 2, 'user': 'u3', 'secret': 's3',
                                             'muser': 'mu3', 'msecret': 'ms3'}),
            ('iscsi_auth_group_remove_secret', {'tag': 2, 'user': 'u3'}),
            ('iscsi_delete_auth_group', {'tag': 2}),
            ('iscsi_set_discovery_auth', {'disable_chap': True}),
            ('iscsi_set_discovery_auth', {'require_chap': True, 'chap_group': 1})])

    def test_set_options_sends_what_was_given_zeros_included(self):
        self.run_lines('iscsi_set_options -b iqn.2001-04.com.example -n 0 -q 128 -i -p',
                       'set_iscsi_options --no-immediate-data --max-burst-length 65536 '
                       '--min-connections-per-core 4 -o 30')
        self.assertEqual(self.sent(), [
            ('iscsi_set_options', {'node_base': 'iqn.2001-04.com.example', 'nop_in_interval': 0,
                                   'max_queue_depth': 128, 'immediate_data': True,
                                   'allow_duplicated_isid': True}),
            ('iscsi_set_options', {'immediate_data': False, 'max_burst_length': 65536,
                                   'min_connections_per_core': 4, 'nop_timeout': 30})])

    def test_initiator_group_changes(self):
        self.run_lines(
            "iscsi_create_initiator_group 5 'iqn.a:1 !iqn.a:2' '10.0.0.0/8 [fd00::]/8'",
            "add_initiators_to_initiator_group 5 -n 'iqn.a:3 iqn.a:4'",
            "iscsi_initiator_group_remove_initiators 5 -m '10.0.0.0/8'",
            'delete_initiator_group 5')
        self.assertEqual(self.sent(), [
            ('iscsi_create_initiator_group', {'tag': 5, 'initiators': ['iqn.a:1', '!iqn.a:2'],
                                              'netmasks': ['10.0.0.0/8', '[fd00::]/8']}),
            ('iscsi_initiator_group_add_initiators', {'tag': 5,
                                                      'initiators': ['iqn.a:3', 'iqn.a:4']}),
            ('iscsi_initiator_group_remove_initiators', {'tag': 5, 'netmasks': ['10.0.0.0/8']}),
            ('iscsi_delete_initiator_group', {'tag': 5})])

    def test_target_node_commands(self):
        self.run_lines(
            'iscsi_create_target_node t1 a1 Malloc0:0 "1:1 2:1" 32 -r -m -g 3 -H -D',
            'target_node_add_lun t1 Malloc1 -i 4',
            'iscsi_target_node_add_lun t1 Malloc2',
            'set_iscsi_target_node_auth t1 -d',
            "add_pg_ig_maps t1 '3:3 4:4'",
            'iscsi_target_node_remove_pg_ig_maps t1 3:3',
            'iscsi_target_node_set_redirect t1 1 -a 10.0.0.9 -p 3262',
            'iscsi_target_node_set_redirect t1 1',
            'iscsi_target_node_request_logout t1 -t 2',
            'iscsi_target_node_request_logout t1',
            'iscsi_enable_histogram t1',
            'iscsi_enable_histogram t1 --disable',
            'delete_target_node iqn.2016-06.io.spdk:t1')
        self.assertEqual(self.sent(), [
            ('iscsi_create_target_node', {
                'name': 't1', 'alias_name': 'a1', 'pg_ig_maps': [{'pg_tag': 1, 'ig_tag': 1},
                                                                 {'pg_tag': 2, 'ig_tag': 1}],
                'luns': [{'bdev_name': 'Malloc0', 'lun_id': 0}], 'queue_depth': 32,
                'require_chap': True, 'mutual_chap': True, 'chap_group': 3,
                'header_digest': True, 'data_digest': True}),
            ('iscsi_target_node_add_lun', {'name': 't1', 'bdev_name': 'Malloc1', 'lun_id': 4}),
            ('iscsi_target_node_add_lun', {'name': 't1', 'bdev_name': 'Malloc2'}),
            ('iscsi_target_node_set_auth', {'name': 't1', 'disable_chap': True}),
            ('iscsi_target_node_add_pg_ig_maps', {'name': 't1', 'pg_ig_maps': [
                {'pg_tag': 3, 'ig_tag': 3}, {'pg_tag': 4, 'ig_tag': 4}]}),
            ('iscsi_target_node_remove_pg_ig_maps', {'name': 't1', 'pg_ig_maps': [
                {'pg_tag': 3, 'ig_tag': 3}]}),
            ('iscsi_target_node_set_redirect', {'name': 't1', 'pg_tag': 1,
                                                'redirect_host': '10.0.0.9',
                                                'redirect_port': '3262'}),
            ('iscsi_target_node_set_redirect', {'name': 't1', 'pg_tag': 1}),
            ('iscsi_target_node_request_logout', {'name': 't1', 'pg_tag': 2}),
            ('iscsi_target_node_request_logout', {'name': 't1'}),
            ('iscsi_enable_histogram', {'name': 't1', 'enable': True}),
            ('iscsi_enable_histogram', {'name': 't1', 'enable': False}),
            ('iscsi_delete_target_node', {'name': 'iqn.2016-06.io.spdk:t1'})])

    def test_getters_print_the_answer_and_take_no_params(self):
        answers = {'iscsi_get_options': {'node_base': 'iqn.2016-06.io.spdk'},
                   'iscsi_get_portal_groups': [{'tag': 1, 'portals': [], 'private': False}],
                   'iscsi_get_initiator_groups': [], 'iscsi_get_target_nodes': [],
                   'iscsi_get_auth_groups': [], 'iscsi_get_connections': [],
                   'iscsi_get_stats': {'invalid': 0, 'running': 1, 'exiting': 0, 'exited': 0},
                   'scsi_get_devices': [{'id': 0, 'device_name': 'iqn.x:d'}]}
        self.server.methods.update(answers)
        for argv, method in ((['get_iscsi_global_params'], 'iscsi_get_options'),
                             (['get_portal_groups'], 'iscsi_get_portal_groups'),
                             (['iscsi_get_stats'], 'iscsi_get_stats'),
                             (['get_scsi_devices'], 'scsi_get_devices'),
                             (['get_iscsi_devices'], 'scsi_get_devices')):
            with self.subTest(argv=argv):
                proc = self.rpc(*argv)
                self.assert_ok(proc)
                self.assertEqual(json.loads(proc.stdout), answers[method])
        proc = self.rpc(stdin='iscsi_get_initiator_groups\nget_target_nodes\n'
                        'get_iscsi_auth_groups\nget_iscsi_connections\n')
        self.assert_ok(proc)
        self.assertTrue(all(p is None for _, p in self.sent()))
        self.server.methods['iscsi_get_histogram'] = {'histogram': 'AAAA', 'granularity': 7}
        proc = self.rpc('iscsi_get_histogram', 't1')
        self.assert_ok(proc)
        self.assertEqual(self.sent()[-1], ('iscsi_get_histogram', {'name': 't1'}))

    def test_a_server_error_names_the_parameter_and_exits_1(self):
        def fail(params):
            raise RpcError(-32602, "Invalid parameter 'pg_ig_maps': portal group 1 does not "
                                   "exist")
        self.server.methods['iscsi_create_target_node'] = fail
        proc = self.rpc('iscsi_create_target_node', 'd', 'a', 'Malloc0:0', '1:1', '8')
        self.assertEqual(proc.returncode, 1)
        self.assertIn("'pg_ig_maps'", proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)

    def test_missing_arguments_exit_2_without_connecting(self):
        for argv in (['add_portal_group', '1'], ['construct_target_node', 'd', 'a', 'M:0', '1:1'],
                     ['iscsi_auth_group_add_secret', '1', '-u', 'x'],
                     ['iscsi_create_initiator_group', '1', 'ANY']):
            with self.subTest(argv=argv):
                self.assertEqual(self.rpc(*argv).returncode, 2)
        self.assertEqual(self.server.requests, [])

    def test_every_iscsi_sub_command_and_old_name_has_help(self):
        import contextlib
        import importlib.util
        spec = importlib.util.spec_from_file_location('rpc_cli', RPC_PY)
        cli = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cli)
        parser, _ = cli.build_parser([])
        new_names = ['iscsi_set_options', 'iscsi_get_options', 'iscsi_set_discovery_auth',
                     'iscsi_create_auth_group', 'iscsi_delete_auth_group',
                     'iscsi_auth_group_add_secret', 'iscsi_auth_group_remove_secret',
                     'iscsi_get_auth_groups', 'iscsi_create_portal_group',
                     'iscsi_start_portal_group', 'iscsi_delete_portal_group',
                     'iscsi_portal_group_set_auth', 'iscsi_get_portal_groups',
                     'iscsi_create_initiator_group', 'iscsi_initiator_group_add_initiators',
                     'iscsi_initiator_group_remove_initiators', 'iscsi_delete_initiator_group',
                     'iscsi_get_initiator_groups', 'iscsi_create_target_node',
                     'iscsi_delete_target_node', 'iscsi_target_node_add_lun',
                     'iscsi_target_node_set_auth', 'iscsi_target_node_add_pg_ig_maps',
                     'iscsi_target_node_remove_pg_ig_maps', 'iscsi_target_node_set_redirect',
                     'iscsi_target_node_request_logout', 'iscsi_get_target_nodes',
                     'iscsi_enable_histogram', 'iscsi_get_histogram', 'iscsi_get_connections',
                     'iscsi_get_stats', 'scsi_get_devices']
        old_names = ['set_iscsi_options', 'get_iscsi_global_params', 'set_iscsi_discovery_auth',
                     'add_iscsi_auth_group', 'delete_iscsi_auth_group',
                     'add_secret_to_iscsi_auth_group', 'delete_secret_from_iscsi_auth_group',
                     'get_iscsi_auth_groups', 'add_portal_group', 'delete_portal_group',
                     'get_portal_groups', 'add_initiator_group',
                     'add_initiators_to_initiator_group',
                     'delete_initiators_from_initiator_group', 'delete_initiator_group',
                     'get_initiator_groups', 'construct_target_node', 'delete_target_node',
                     'target_node_add_lun', 'set_iscsi_target_node_auth', 'add_pg_ig_maps',
                     'delete_pg_ig_maps', 'get_target_nodes', 'get_iscsi_connections',
                     'get_scsi_devices', 'get_iscsi_devices']
        for name in new_names + old_names:
            with self.subTest(name=name):
                out = io.StringIO()
                with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as caught:
                    parser.parse_args([name, '--help'])
                self.assertEqual(caught.exception.code, 0)
                self.assertIn('usage:', out.getvalue())
        for old in old_names:
            self.assertIn(old, rpc.helpers.deprecated_aliases)

    def test_python_api_old_and_new_names(self):
        self.server.methods['iscsi_create_portal_group'] = True
        self.server.methods['iscsi_get_target_nodes'] = []
        stderr = io.StringIO()
        with JSONRPCClient(self.server.addr, timeout=5) as client:
            saved, sys.stderr = sys.stderr, stderr
            try:
                self.assertTrue(rpc.iscsi.add_portal_group(
                    client, portals=[{'host': '127.0.0.1', 'port': '3260'}], tag=1))
                self.assertEqual(rpc.iscsi.get_target_nodes(client), [])
                self.assertTrue(rpc.iscsi.iscsi_create_portal_group(
                    client, portals=[{'host': '::1', 'port': 3261}], tag=2, private=True))
            finally:
                sys.stderr = saved
        self.assertIn('add_portal_group is deprecated', stderr.getvalue())
        self.assertEqual(self.sent(), [
            ('iscsi_create_portal_group', {'tag': 1, 'portals': [{'host': '127.0.0.1',
                                                                  'port': '3260'}]}),
            ('iscsi_get_target_nodes', None),
            ('iscsi_create_portal_group', {'tag': 2, 'private': True,
                                           'portals': [{'host': '::1', 'port': 3261}]})])


class PythonApiTests(RpcPyTestCase):
    def test_module_functions_call_the_server(self):
        self.server.methods['log_set_flag'] = True
        self.server.methods['log_get_flags'] = {'iscsi': True}
        with JSONRPCClient(self.server.addr, timeout=5) as client:
            self.assertTrue(rpc.log.log_set_flag(client, flag='iscsi'))
            self.assertEqual(rpc.log.log_get_flags(client), {'iscsi': True})
        self.assertEqual([r['id'] for r in self.server.requests], [1, 2])

    def test_error_response_raises_with_code_and_message(self):
        def fail(params):
            raise RpcError(-1, 'Method may not be called in the current state')
        self.server.methods['framework_start_init'] = fail
        with JSONRPCClient(self.server.addr, timeout=5) as client:
            with self.assertRaises(JSONRPCException) as caught:
                rpc.framework_start_init(client)
        self.assertEqual(caught.exception.code, -1)
        self.assertIn('current state', caught.exception.message)

    def test_old_python_names_still_work(self):
        self.server.methods['rpc_get_methods'] = ['x']
        self.server.methods['framework_get_subsystems'] = []
        stderr = io.StringIO()
        with JSONRPCClient(self.server.addr, timeout=5) as client:
            saved, sys.stderr = sys.stderr, stderr
            try:
                self.assertEqual(rpc.get_rpc_methods(client), ['x'])
                self.assertEqual(rpc.subsystem.get_subsystems(client), [])
            finally:
                sys.stderr = saved
        self.assertIn('get_rpc_methods is deprecated', stderr.getvalue())

    def test_save_config_writes_to_a_file_object(self):
        self.server.methods['framework_get_subsystems'] = [{'subsystem': 'bdev'}]
        self.server.methods['framework_get_config'] = []
        out = io.StringIO()
        with JSONRPCClient(self.server.addr, timeout=5) as client:
            rpc.save_config(client, out, indent=2)
        self.assertEqual(json.loads(out.getvalue()),
                         {'subsystems': [{'subsystem': 'bdev', 'config': []}]})


if __name__ == '__main__':
    unittest.main()
