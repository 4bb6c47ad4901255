"""JSON-RPC 2.0 client for keel's RPC server (a Unix socket, or TCP when given an IP address).

One JSONRPCClient holds one connection. call() sends one request, then reads until the response
with the same id has arrived complete, however many pieces it comes in.
"""

import codecs
import json
import os
import re
import socket
import sys
import time

DEFAULT_SOCKET = '/var/tmp/spdk.sock'
DEFAULT_PORT = 5260
DEFAULT_TIMEOUT = 60.0

_RECV_BYTES = 65536


def print_dict(value):
    """Print a result as JSON indented by 2 (strings keep their quotes)."""
    print(json.dumps(value, indent=2))


def print_json(value):
    """Print a result: strings as plain text, anything else as JSON indented by 2."""
    if isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=2))


class JSONRPCException(Exception):
    """A failed call: an error response, or no usable response at all.

    message is the text to show the user. For an error response, code and error hold the
    server's error code and its whole error object; both are None otherwise.
    """

    def __init__(self, message, code=None, error=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.error = error


class _ValueFramer:
    """Cut a stream of JSON text into complete top-level values without parsing it.

    It tracks only nesting depth and string state, so the cost is linear in the text however
    many pieces a large response arrives in.
    """

    _NON_SPACE = re.compile(r'\S')
    _STRUCTURE = re.compile(r'[{}\[\]"]')
    _STRING_SPECIAL = re.compile(r'["\\]')

    def __init__(self):
        self._parts = []
        self._in_value = False
        self._depth = 0
        self._in_string = False
        self._escape = False

    def pending(self):
        """True when part of a value has been seen."""
        return self._in_value

    def feed(self, text):
        """Add text; return the list of values (as text) that it completed."""
        values = []
        pos = 0
        start = 0
        end = len(text)
        while pos < end:
            if not self._in_value:
                match = self._NON_SPACE.search(text, pos)
                if match is None:
                    break
                if match.group() not in '{[':
                    raise ValueError("response does not start with '{' or '['")
                self._in_value = True
                self._depth = 0
                start = pos = match.start()
            if self._escape:
                self._escape = False
                pos += 1
                continue
            if self._in_string:
                match = self._STRING_SPECIAL.search(text, pos)
                if match is None:
                    pos = end
                    break
                pos = match.end()
                if match.group() == '\\':
                    self._escape = True
                else:
                    self._in_string = False
                continue
            match = self._STRUCTURE.search(text, pos)
            if match is None:
                pos = end
                break
            pos = match.end()
            char = match.group()
            if char == '"':
                self._in_string = True
            elif char in '{[':
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._parts.append(text[start:pos])
                    values.append(''.join(self._parts))
                    self._parts = []
                    self._in_value = False
        if self._in_value:
            self._parts.append(text[start:])
        return values


def _verbosity(verbose, log_level):
    """Map verbose (bool or 'ERROR'/'INFO'/'DEBUG') or a logging level to 0, 1 or 2."""
    if log_level is not None:
        if isinstance(log_level, int):
            return 2 if log_level <= 10 else (1 if log_level <= 20 else 0)
        verbose = log_level
    if isinstance(verbose, str):
        return {'DEBUG': 2, 'INFO': 1}.get(verbose.upper(), 0)
    return 1 if verbose else 0


class JSONRPCClient:
    """A connection to the RPC server.

    addr is a Unix socket path, or an IPv4/IPv6 address or host name (then port is used).
    timeout bounds connecting and each call, in seconds. verbose prints every request and
    response on stderr (True, or 'INFO'; 'DEBUG' adds connection details). Connection
    problems raise JSONRPCException with a message that says what to check.
    """

    def __init__(self, addr=DEFAULT_SOCKET, port=DEFAULT_PORT, timeout=DEFAULT_TIMEOUT,
                 verbose=False, conn_retries=0, log_level=None):
        self.addr = addr
        self.port = port
        self.timeout = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
        self.verbose = _verbosity(verbose, log_level)
        self.sock = None
        self._request_id = 0
        self._decoder = codecs.getincrementaldecoder('utf-8')()
        self._framer = _ValueFramer()
        self._backlog = []

        for _ in range(max(0, int(conn_retries))):
            try:
                self._connect()
                return
            except JSONRPCException:
                time.sleep(0.2)
        self._connect()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def __del__(self):
        self.close()

    def _debug(self, text):
        if self.verbose >= 2:
            print(text, file=sys.stderr)

    def _is_unix_path(self):
        return '/' in self.addr or os.path.exists(self.addr) or not self.port

    def _connect(self):
        addr = self.addr
        try:
            if self._is_unix_path():
                self._debug("connecting to Unix socket {}".format(addr))
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(addr)
                except OSError:
                    sock.close()
                    raise
                where = addr
            else:
                host = addr[1:-1] if addr.startswith('[') and addr.endswith(']') else addr
                self._debug("connecting to {} port {}".format(host, self.port))
                sock = socket.create_connection((host, self.port), timeout=self.timeout)
                where = "{} port {}".format(host, self.port)
        except OSError as ex:
            reason = ex.strerror or str(ex)
            hint = ''
            if self._is_unix_path():
                hint = ("\nIs iscsi_tgt running, and is this its RPC socket (its -r option)? "
                        "Choose another socket with -s.")
            raise JSONRPCException("Error while connecting to {}: {}{}".format(
                addr if self._is_unix_path() else "{} port {}".format(addr, self.port),
                reason, hint)) from None
        self.sock = sock
        self._debug("connected to {}".format(where))

    def close(self):
        """Close the connection (safe to call twice)."""
        sock = getattr(self, 'sock', None)
        if sock is not None:
            self.sock = None
            try:
                sock.close()
            except OSError:
                pass

    def _send(self, request):
        data = json.dumps(request).encode('utf-8')
        if self.verbose:
            print("request:\n" + json.dumps(request, indent=2), file=sys.stderr)
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except socket.timeout:
            raise JSONRPCException("Timeout while sending '{}' to {}".format(
                request['method'], self.addr)) from None
        except OSError as ex:
            raise JSONRPCException("Error while sending '{}' to {}: {}".format(
                request['method'], self.addr, ex.strerror or ex)) from None

    def _next_value(self, deadline, method):
        """Return the next complete JSON value from the server (parsed)."""
        while not self._backlog:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            data = self.sock.recv(_RECV_BYTES)
            if not data:
                return None
            self._debug("received {} bytes".format(len(data)))
            try:
                text = self._decoder.decode(data)
                self._backlog.extend(self._framer.feed(text))
            except (UnicodeDecodeError, ValueError) as ex:
                raise JSONRPCException("Invalid response to '{}': {}".format(method, ex)) from None
        text = self._backlog.pop(0)
        try:
            return json.loads(text)
        except ValueError as ex:
            raise JSONRPCException("Invalid JSON in the response to '{}': {}".format(
                method, ex)) from None

    def _receive(self, request_id, method):
        """Read until the response for request_id arrives; return it (a dict)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                response = self._next_value(deadline, method)
            except socket.timeout:
                raise JSONRPCException("Timeout while waiting for the response to '{}' "
                                       "({} s; see -t)".format(method, self.timeout)) from None
            except OSError as ex:
                raise JSONRPCException("Error while reading the response to '{}': {}".format(
                    method, ex.strerror or ex)) from None
            if response is None:
                self.close()
                if method == 'spdk_kill_instance':
                    # The server may exit before it answers; that is the point of the call.
                    self._debug("connection closed by the server after spdk_kill_instance")
                    return {'jsonrpc': '2.0', 'id': request_id, 'result': True}
                partial = " (after a partial response)" if self._framer.pending() else ""
                raise JSONRPCException("Connection closed by the server before it answered "
                                       "'{}'{}".format(method, partial))
            if not isinstance(response, dict):
                self._debug("ignoring a response that is not an object")
                continue
            response_id = response.get('id')
            if response_id == request_id or (response_id is None and 'error' in response):
                return response
            self._debug("ignoring the response with id {!r}".format(response_id))

    def call(self, method, params=None):
        """Call method with params (a dict or list; None or {} sends none); return its result.

        Raises JSONRPCException on an error response, with the request and the server's
        error in its message.
        """
        if self.sock is None:
            self._connect()
        self._request_id += 1
        request = {'jsonrpc': '2.0', 'method': method, 'id': self._request_id}
        if params is not None and params != {}:
            request['params'] = params
        self._send(request)
        response = self._receive(self._request_id, method)
        if self.verbose:
            print("response:\n" + json.dumps(response, indent=2), file=sys.stderr)
        if 'error' in response:
            error = response['error']
            code = error.get('code') if isinstance(error, dict) else None
            message = "\n".join(["request:", json.dumps(request, indent=2),
                                 "Got JSON-RPC error response",
                                 "response:", json.dumps(error, indent=2)])
            raise JSONRPCException(message, code=code, error=error)
        if 'result' not in response:
            raise JSONRPCException("Invalid response to '{}': neither result nor error:\n{}".format(
                method, json.dumps(response, indent=2)))
        return response['result']
