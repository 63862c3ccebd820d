#!/bin/sh
# Service control for the demo's stand-in application (deploy/demo/app.py),
# what the agent's configured stop / start / status commands run:
#   service.sh start|stop|status DIR
# DIR holds app.env (APP_HOST, APP_DSN, APP_PORT), and gets app.pid.
# status exits 0 while the app runs and 1 when it is stopped (the convention
# of `systemctl is-active --quiet`); start returns once the health check
# answers; stop returns once the process is gone.
set -eu
cmd=$1
dir=$2
. "$dir/app.env"
pidfile=$dir/app.pid
here=$(cd "$(dirname "$0")" && pwd)

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case "$cmd" in
  status)
    running
    ;;
  start)
    running && exit 0
    setsid /usr/bin/python3 "$here/app.py" --host "$APP_HOST" --dsn "$APP_DSN" --port "$APP_PORT" \
      </dev/null >>"$APP_LOG" 2>&1 &
    echo $! >"$pidfile"
    i=0
    while [ $i -lt 100 ]; do
      if /usr/bin/python3 - "$APP_PORT" <<'PY' 2>/dev/null; then exit 0; fi
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/health" % sys.argv[1], timeout=1)
PY
      running || { echo "app $APP_HOST exited at start (log: $APP_LOG)" >&2; exit 1; }
      sleep 0.1
      i=$((i + 1))
    done
    echo "app $APP_HOST did not answer its health check in 10 s (log: $APP_LOG)" >&2
    exit 1
    ;;
  stop)
    running || { rm -f "$pidfile"; exit 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
      if [ $i -ge 100 ]; then
        echo "app $APP_HOST (pid $pid) did not stop in 10 s" >&2
        exit 1
      fi
      sleep 0.1
      i=$((i + 1))
    done
    rm -f "$pidfile"
    ;;
  *)
    echo "usage: service.sh start|stop|status DIR" >&2
    exit 2
    ;;
esac
