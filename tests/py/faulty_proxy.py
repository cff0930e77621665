"""An HTTP proxy in front of the S3 server that injects faults, for tests of what retain
does when object storage misbehaves.

usage: faulty_proxy.py UPSTREAM_URL MODE N [STALL]

Listens on a free loopback port, prints `PORT` on the first line of stdout, then serves
until killed. Every request is forwarded unchanged to UPSTREAM_URL (the Host header too,
so the client's SigV4 signature still verifies), except:

- MODE `throttle`: every Nth request is answered `503 SlowDown` (S3's throttling reply)
  without reaching the server, once per request: its retry (same method, path and
  range) goes through. Transient throttling, the fault object_store retries; without
  the once, concurrent requests would share the count and a request could be refused
  on every retry;
- MODE `outage`: after N requests every request is answered `500 InternalError` without
  reaching the server: the storage is gone for good;
- MODE `chaos`: every Nth request gets a fault, once per request as in `throttle`, the
  kinds taking turns: `503 SlowDown`; a `reset` (the connection closed with an RST and no
  answer); a `stall` (no answer for STALL seconds, the third argument, default 5, longer
  than the client's timeout, then the connection closed); and, for a GET, a `truncated`
  body (the server's full answer and Content-Length, half the body, then the connection
  closed). Every fault but `truncated` happens before the request reaches the server, so
  a create-only PUT that failed was not applied: what a client cannot know for a lost
  answer after the server applied it is not what this mode tests.

Each line of stderr is one request: its number, method, path and what the proxy did.
Written by hand on the standard library: no library in the test virtualenv does fault
injection for S3 (toxiproxy and friends are servers of their own).
"""
import http.client
import http.server
import socket
import struct
import sys
import threading
import time
from urllib.parse import urlparse

ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>injected by faulty_proxy.py</Message></Error>"
)


def main():
    upstream = urlparse(sys.argv[1])
    mode, n = sys.argv[2], int(sys.argv[3])
    stall = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    if mode not in ("throttle", "outage", "chaos") or n < 1:
        sys.exit(f"bad mode {mode} {n}")
    lock = threading.Lock()
    count = [0]
    throttled = set()
    kinds = ["503", "reset", "stall", "truncated"]
    turn = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def fault(self, number):
            if mode in ("throttle", "chaos") and number % n == 0:
                key = (self.command, self.path, self.headers.get("Range"))
                with lock:
                    if key in throttled:
                        return None
                    throttled.add(key)
                    if mode == "throttle":
                        return 503, "SlowDown"
                    kind = kinds[turn[0] % len(kinds)]
                    if kind == "truncated" and self.command != "GET":
                        kind = "503"
                    turn[0] += 1
                return (503, "SlowDown") if kind == "503" else kind
            if mode == "outage" and number > n:
                return 500, "InternalError"
            return None

        def handle_any(self):
            with lock:
                count[0] += 1
                number = count[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = self.fault(number)
            said = fault if isinstance(fault, str) else fault and fault[0]
            print(f"{number} {self.command} {self.path} {said or 'forwarded'}", file=sys.stderr, flush=True)
            if fault == "stall":
                time.sleep(stall)
            if fault in ("reset", "stall"):
                # SO_LINGER 0: close() sends an RST, not a FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault != "truncated":
                status, code = fault
                payload = ERROR.format(code=code).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() in ("transfer-encoding", "connection"):
                    continue
                # A HEAD reply's length is the object's, not the empty body's.
                if k.lower() == "content-length" and self.command != "HEAD":
                    continue
                self.send_header(k, v)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if fault == "truncated":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
