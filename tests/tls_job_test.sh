#!/usr/bin/env bash
# TLS end to end (run.tls): a job of separate processes (2 PS tasks, a
# chief, a worker) trains with every connection over mutually authenticated
# TLS, the certificates given relative to the job file; a PS task with TLS
# and no token may listen on a non-loopback address; a peer in clear, or
# with a certificate of another CA, is refused and logged while the PS
# serves on; a TLS peer with the right certificate and token is answered.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$SRC/tests/lib.sh"
need_fashion_mnist
small_model
job_dir
export PSFLOW_MIN_LOG_LEVEL=1
fail() { echo "FAIL: $*"; exit 1; }
PEER="python3 $SRC/tests/hostile_peer.py"

"$SRC/scripts/make_certs.sh" "$DIR/certs" 127.0.0.1 > /dev/null || fail "make_certs.sh failed"
"$SRC/scripts/make_certs.sh" "$DIR/other" 127.0.0.1 > /dev/null || fail "make_certs.sh failed (second CA)"
read -r P0 P1 P2 P3 P4 <<< "$(free_ports 5)"
cat > "$DIR/job.yaml" <<YAML
cluster:
  ps: ["127.0.0.1:$P0", "127.0.0.1:$P1"]
  chief: ["127.0.0.1:$P2"]
  worker: ["127.0.0.1:$P3"]
$SMALL_MODEL
run: {model_dir: "$DIR/model", train_steps: 60, save_checkpoints_steps: 30, token: s3cret,
      tls: {ca: certs/ca.pem, cert: certs/cert.pem, key: certs/key.pem}}
YAML
"$BUILD/launch/psflow-launch" "$DIR/job.yaml" --quiet > "$DIR/launch.out" 2>&1 \
  || fail "the TLS job failed: $(tail -4 "$DIR/launch.out")"
grep -q "job finished.*global_step 6[0-9]" "$DIR/launch.out" || fail "the TLS job did not reach step 60: $(tail -2 "$DIR/launch.out")"

# One PS task on every address, TLS and no token: allowed (TLS authenticates).
PSFLOW_MIN_LOG_LEVEL=0 "$BUILD/ps/psflow-ps" --config "$DIR/job.yaml" --task_type ps --task_index 0 --set run.token= \
  --set "cluster.ps=[\"0.0.0.0:$P4\"]" > "$DIR/ps.log" 2>&1 &
PIDS+=($!)
disown $!  # ended by job_dir's cleanup, quietly
for ((i = 0; i < 100; i++)); do grep -q "serving on" "$DIR/ps.log" && break; sleep 0.1; done
grep -q "serving on" "$DIR/ps.log" || fail "a PS with TLS and no token did not serve on 0.0.0.0: $(cat "$DIR/ps.log")"
A=127.0.0.1:$P4
$PEER "$A" plaintext > "$DIR/p1" || fail "a Hello in clear was not closed: $(cat "$DIR/p1")"
$PEER "$A" --tls "$DIR/other" status > "$DIR/p2" 2>&1 && fail "a peer of another CA was answered: $(cat "$DIR/p2")"
$PEER "$A" --tls "$DIR/certs" status > "$DIR/p3" 2>&1 || fail "a TLS peer with the right certificate was not answered: $(cat "$DIR/p3")"
grep -q "refused connection: TLS handshake with 127.0.0.1:[0-9]* failed" "$DIR/ps.log" \
  || fail "the PS did not log the refused peers: $(tail -3 "$DIR/ps.log")"
kill -0 "${PIDS[0]}" || fail "the PS died"
echo "tls_job: passed ($(grep -c 'refused connection: TLS' "$DIR/ps.log") refused handshakes logged)"
