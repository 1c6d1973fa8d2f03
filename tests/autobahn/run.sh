#!/usr/bin/env bash
# The Autobahn|Testsuite, cases 1-10, 12 and 13 (permessage-deflate), against
# the `autobahn` guest running in `wit-websocket run`, and cases 1-10 against the
# native tokio-tungstenite baseline (which has no deflate) in the same
# fuzzing-server run. Prints each failing case of the guest, the 9.*
# durations of both, and ends with `autobahn: P passed, F failed` (exit 1 if F > 0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$root/target/autobahn
python2=${PYTHON2:-$HOME/.pyenv/versions/2.7.18/bin/python}
mkdir -p "$work"

# The suite is Python 2.7 only; it lives in its own folder, imported with
# site.addsitedir (a plain PYTHONPATH misses the zope namespace package).
if [ ! -d "$work/site/autobahntestsuite" ]; then
  "$python2" -m pip install --quiet --disable-pip-version-check --target "$work/site" autobahntestsuite==25.10.1
fi

cargo build --release -p wit-websocket-cli -p autobahn-native
cli=$root/target/release/wit-websocket
native=$root/target/release/autobahn-native
guest=$root/target/wasm-guests/wasm32-wasip2/release/autobahn.wasm

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$work"
rm -rf reports
sed "s/127.0.0.1:9001/127.0.0.1:$port/" "$here/fuzzingclient.json" > fuzzingclient.json

# Every listening socket of the suite binds to loopback only.
"$python2" - > fuzzingserver.log 2>&1 <<PY &
import site, sys
site.addsitedir("$work/site")
from twisted.internet import reactor
listen_tcp = reactor.listenTCP
reactor.listenTCP = lambda port, factory, backlog=50, interface='': listen_tcp(port, factory, backlog, interface or '127.0.0.1')
from autobahntestsuite.wstest import run
sys.argv = ['wstest', '-m', 'fuzzingserver', '-s', 'fuzzingclient.json', '--webport', '0']
sys.exit(run())
PY
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  sleep 0.2
done

url=ws://127.0.0.1:$port
start=$(date +%s.%N)
"$native" "$url" tokio-tungstenite
middle=$(date +%s.%N)
"$cli" run --allow-net=127.0.0.1 "$guest" -- "$url" wit-websocket
end=$(date +%s.%N)
python3 -c "print('autobahn: wall time native %.1f s, guest %.1f s' % ($middle - $start, $end - $middle))"

python3 "$here/summarize.py" reports/clients/index.json wit-websocket tokio-tungstenite
