"""An HTTP proxy in front of the S3 server that injects faults, for tests of what retain
does when object storage misbehaves.

usage: faulty_proxy.py UPSTREAM_URL MODE N

Listens on a free loopback port, prints `PORT` on the first line of stdout, then serves
until killed. Every request is forwarded unchanged to UPSTREAM_URL (the Host header too,
so the client's SigV4 signature still verifies), except:

- MODE `throttle`: every Nth request is answered `503 SlowDown` (S3's throttling reply)
  without reaching the server, once per request: its retry (same method, path and
  range) goes through. Transient throttling, the fault object_store retries; without
  the once, concurrent requests would share the count and a request could be refused
  on every retry;
- MODE `outage`: after N requests every request is answered `500 InternalError` without
  reaching the server: the storage is gone for good.

Each line of stderr is one request: its number, method, path and what the proxy did.
Written by hand on the standard library: no library in the test virtualenv does fault
injection for S3 (toxiproxy and friends are servers of their own).
"""
import http.client
import http.server
import sys
import threading
from urllib.parse import urlparse

ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>injected by faulty_proxy.py</Message></Error>"
)


def main():
    upstream = urlparse(sys.argv[1])
    mode, n = sys.argv[2], int(sys.argv[3])
    if mode not in ("throttle", "outage") or n < 1:
        sys.exit(f"bad mode {mode} {n}")
    lock = threading.Lock()
    count = [0]
    throttled = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def fault(self, number):
            if mode == "throttle" and number % n == 0:
                key = (self.command, self.path, self.headers.get("Range"))
                with lock:
                    if key in throttled:
                        return None
                    throttled.add(key)
                return 503, "SlowDown"
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
            print(f"{number} {self.command} {self.path} {fault or 'forwarded'}", file=sys.stderr, flush=True)
            if fault:
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
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
