"""An HTTP server that hands each request to a multiprocessing.Pool of
forked workers (tests/python/test_servers.py), as a service that keeps its
CPU work out of its request threads does: handler -> pool -> work ->
compute in a worker.

    python poolserver.py PORTFILE

It writes "PORT PID" to PORTFILE once it listens, and stops on SIGTERM.
"""
import http.server
import multiprocessing
import os
import signal
import sys
import threading


def compute(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def work(n):
    return compute(n)


class Handler(http.server.BaseHTTPRequestHandler):
    pool = None

    def do_GET(self):
        body = ("%d\n" % self.pool.apply(work, (20000,))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main(portfile):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        Handler.pool = pool
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        signal.signal(signal.SIGTERM,
                      lambda *_: threading.Thread(target=server.shutdown).start())
        with open(portfile + ".tmp", "w") as f:
            f.write("%d %d" % (server.server_address[1], os.getpid()))
        os.rename(portfile + ".tmp", portfile)
        server.serve_forever()
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1])
