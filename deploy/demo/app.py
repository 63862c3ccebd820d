#!/usr/bin/python3
"""Stand-in application for the ebb demo: one service per host that holds a
database connection and answers an HTTP health check.

    app.py --host NAME --dsn CONNINFO --port PORT

GET /health answers 200 with {"host", "database": "ok", "revision"} while the
connection works (the revision is what ebb's registry says is applied), 503
otherwise; a broken connection is opened again on the next request. SIGTERM or
SIGINT closes the connection and exits 0, as a service manager expects.
"""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg2


class App:
    def __init__(self, host, dsn):
        self.host = host
        self.dsn = dsn
        self.conn = None

    def connect(self):
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(self.dsn, application_name="shop-app-" + self.host)
            self.conn.autocommit = True
        return self.conn

    def check(self):
        """(healthy, details) from one round trip on the held connection."""
        try:
            with self.connect().cursor() as cur:
                cur.execute("SELECT to_regclass('ebb.applied') IS NOT NULL")
                if cur.fetchone()[0]:
                    cur.execute("SELECT revision FROM ebb.applied ORDER BY seq DESC LIMIT 1")
                    row = cur.fetchone()
                    revision = row[0] if row else "base"
                else:
                    revision = "base"
            return True, {"host": self.host, "database": "ok", "revision": revision}
        except psycopg2.Error as e:
            if self.conn is not None:
                self.conn.close()
            return False, {"host": self.host, "database": "error",
                           "error": str(e).strip().splitlines()[0] if str(e).strip() else "?"}

    def close(self):
        if self.conn is not None and not self.conn.closed:
            self.conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    app = App(args.host, args.dsn)
    app.connect()  # fail at start, loudly, when the database is not there

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/health":
                self.send_error(404)
                return
            ok, details = app.check()
            body = (json.dumps(details) + "\n").encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            sys.stderr.write("%s app %s: %s\n" % (self.log_date_time_string(), args.host, fmt % a))

    server = HTTPServer(("127.0.0.1", args.port), Handler)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("app %s: serving http://127.0.0.1:%d/health" % (args.host, args.port), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        app.close()
        print("app %s: stopped" % args.host, flush=True)


if __name__ == "__main__":
    main()
