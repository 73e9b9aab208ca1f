#!/usr/bin/env bash
# Broken inputs, as a careless user or a hostile peer sends them, against
# the real binaries on 127.0.0.1:
#  1. a `checkpoint` file naming a checkpoint whose files are gone: the job
#     resumes from the newest complete one and says so (no fresh start over
#     the old checkpoints); none complete: exit 3, every file left as it was;
#  2-3. frames that claim more than they carry (2^40 strings in 64 bytes,
#     float [2^62] in 0 bytes, 100 connections announcing 16 MiB headers and
#     4 GiB payloads): psflow-ps refuses them, keeps serving, stays small;
#  4. TF_CONFIG with a bad port, a non-numeric worker index, type master;
#  5. a job-file port above 65535;
#  6. psflow-launch does not retry what cannot succeed (corrupt checkpoint,
#     missing data file, missing plugin) and ends with the first error;
#  7. a truncated frame then a close is logged with the peer's address;
#  and a PS task that exits 0 before the chief does not restart the job; after
#  a job restart the last line names the new run's first error.
set -uo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")/.." && pwd)
source "$(dirname "$0")/lib.sh"
need_fashion_mnist
job_dir
fail() { echo "FAIL: $*"; for f in "$DIR"/*.log "$DIR"/*.out; do [[ -f $f ]] && { echo "--- $f"; tail -8 "$f"; }; done; exit 1; }
PEER="python3 $SRC/tests/hostile_peer.py"
LAUNCH=$BUILD/launch/psflow-launch
ports=($(free_ports 3))
job() {  # file model_dir [extra yaml lines]
  cat > "$1" <<YAML
cluster:
  ps: ["127.0.0.1:${ports[0]}"]
  chief: ["127.0.0.1:${ports[1]}"]
model: {type: dnn_classifier, hidden_units: [16], optimizer: {type: adam, learning_rate: 0.002}}
data:
  train: {format: idx, images: $DATA/train-images-idx3-ubyte.gz, labels: $DATA/train-labels-idx1-ubyte.gz}
  batch_size: 32
  shuffle_buffer: 100
run: {model_dir: $2, train_steps: 50, save_checkpoints_steps: 25, log_step_count_steps: 25, tf_random_seed: 7,
      token: cluster-secret}
launch: {bin_dir: "", restart_backoff_secs: 0.5, status_secs: 1, job_restarts: 3}
${3:-}
YAML
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
alive() { kill -0 "$1" 2>/dev/null; }

# --- 2, 3, 7: a PS task under attack -----------------------------------------
job "$DIR/ps.yaml" "$DIR/ps_model"
"$BUILD/ps/psflow-ps" --config "$DIR/ps.yaml" --task_type ps --task_index 0 > "$DIR/ps.log" 2>&1 &
PS=$!; PIDS+=("$PS")
for ((i = 0; i < 100; i++)); do grep -q "serving on" "$DIR/ps.log" && break; sleep 0.1; done
A=127.0.0.1:${ports[0]}
$PEER "$A" status > /dev/null && fail "a Status call without the token was answered"
$PEER "$A" --token cluster-secret status > "$DIR/peer.out" || fail "the PS does not answer a good Status call: $(cat "$DIR/peer.out")"
for t in "" "--token cluster-secret"; do
  $PEER "$A" $t string2e40 >> "$DIR/peer.out" || fail "string2e40 ($t): the PS did not close the connection"
  alive "$PS" || fail "psflow-ps died of a string tensor of 2^40 elements ($t)"
done
$PEER "$A" --token cluster-secret init_overflow >> "$DIR/peer.out" || fail "Initialize/Push of float [2^62] were accepted"
alive "$PS" || fail "psflow-ps died of Initialize/Push with float [2^62]"
before=$(rss_kb "$PS")
for t in "" "--token cluster-secret"; do
  $PEER "$A" $t hold 100 3 > "$DIR/hold.out" &
  HOLD=$!
  sleep 2
  during=$(rss_kb "$PS")
  wait "$HOLD"
  (( during - before < 64 * 1024 )) \
    || fail "100 connections announcing 16 MiB headers ($t) took the PS from $before to $during kB"
done
echo "PS resident memory: $before kB, holding 100 connections announcing 16 MiB headers and 4 GiB payloads: $during kB"
$PEER "$A" --token cluster-secret truncated || fail "truncated attack"
for ((i = 0; i < 50; i++)); do grep -q "truncated frame from 127.0.0.1:" "$DIR/ps.log" && break; sleep 0.1; done
grep -q "closing connection from 127.0.0.1:[0-9]*: DATA_LOSS: truncated frame from 127.0.0.1:[0-9]*: the connection closed after" \
  "$DIR/ps.log" || fail "the truncated frame was not logged with the peer's address"
grep -q "refused connection from 127.0.0.1:[0-9]* (task 'intruder:0', Push): it does not prove it holds the cluster token" "$DIR/ps.log" \
  || fail "the token-less string2e40 was not refused as such"
grep -q "1099511627776 strings cannot fit in 64 bytes" "$DIR/ps.log" || fail "the PS did not say why it closed the connection"
$PEER "$A" --token cluster-secret status > /dev/null || fail "the PS stopped serving after the attacks"
alive "$PS" || fail "psflow-ps died"
kill "$PS"; wait "$PS" 2>/dev/null

# --- 4, 5: TF_CONFIG and ports ------------------------------------------------
task_err() {  # expected_rc pattern binary args... (TF_CONFIG from the environment)
  local rc_want=$1 pattern=$2; shift 2
  timeout 20 "$@" > "$DIR/task.out" 2>&1; local rc=$?
  [[ $rc == "$rc_want" ]] || fail "$* exited $rc, expected $rc_want: $(tail -3 "$DIR/task.out")"
  grep -q -- "$pattern" "$DIR/task.out" || fail "$* did not say '$pattern': $(tail -3 "$DIR/task.out")"
}
TF_CONFIG='{"cluster":{"chief":["127.0.0.1:abc"],"ps":["127.0.0.1:1"]},"task":{"type":"ps","index":0}}' \
  task_err 2 "TF_CONFIG: cluster.chief\[0\] (task chief:0): address '127.0.0.1:abc' must be host:port" \
  "$BUILD/ps/psflow-ps" --config "$DIR/ps.yaml"
TF_CONFIG='{"cluster":{"chief":["c:1"],"ps":["p:2"],"worker":{"one":"w:3"}},"task":{"type":"worker","index":0}}' \
  task_err 2 "TF_CONFIG: a key of cluster.worker must be a task index" "$BUILD/worker/psflow-worker" --config "$DIR/ps.yaml"
TF_CONFIG='{"cluster":{"chief":["c:1"],"ps":["p:2"]},"task":{"type":"trainer","index":0}}' \
  task_err 2 "TF_CONFIG: task type 'trainer' is not one of" "$BUILD/worker/psflow-worker" --config "$DIR/ps.yaml"
sed "s/127.0.0.1:${ports[0]}/127.0.0.1:67758/" "$DIR/ps.yaml" > "$DIR/port.yaml"
task_err 2 "cluster.ps\[0\] (task ps:0): port 67758 of address '127.0.0.1:67758' is outside 1..65535" \
  "$BUILD/ps/psflow-ps" --config "$DIR/port.yaml" --task_type ps --task_index 0
# "master", as TensorFlow's operator names the chief, runs as the chief (here
# it stops at the missing data file, after saying who it is).
TF_CONFIG="{\"cluster\":{\"master\":[\"127.0.0.1:${ports[1]}\"],\"ps\":[\"127.0.0.1:${ports[0]}\"]},\"task\":{\"type\":\"master\",\"index\":0}}" \
  task_err 2 "chief:0 failed: NOT_FOUND: data.train" "$BUILD/chief/psflow-chief" --config "$DIR/ps.yaml" \
  --set "data.train.images=$DIR/none.gz"

# --- 1: resume when the newest checkpoint is gone ------------------------------
M=$DIR/model
job "$DIR/job.yaml" "$M"
launch_job() {  # expected_rc seconds args...; output in $DIR/launch.out
  local want=$1 secs=$2; shift 2
  local t0=$SECONDS
  timeout "$secs" "$LAUNCH" "$DIR/job.yaml" --quiet "$@" > "$DIR/launch.out" 2>&1; local rc=$?
  LAUNCH_SECS=$(( SECONDS - t0 ))
  [[ $rc == "$want" ]] || fail "psflow-launch $* exited $rc, expected $want"
}
launch_job 0 120
for s in 0 25 50; do [[ -f $M/model.ckpt-$s.index ]] || fail "no model.ckpt-$s after the first run"; done
sum0=$(md5sum "$M"/model.ckpt-0.* | md5sum)
rm "$M"/model.ckpt-50.*  # deleted by hand; `checkpoint` still names it
launch_job 0 120 --set run.train_steps=60
grep -q "The latest checkpoint named in $M/checkpoint cannot be used: $M/model.ckpt-50: $M/model.ckpt-50.index is missing; using $M/model.ckpt-25 instead" \
  "$M/logs/chief-0.log" || fail "the chief did not say which checkpoint was missing and which it used"
grep -q "Restoring parameters from $M/model.ckpt-25" "$M/logs/chief-0.log" || fail "did not resume from model.ckpt-25"
[[ $(grep -c "Saving checkpoints for 0 into" "$M/logs/chief-0.log") == 1 ]] || fail "the second run started from step 0"
[[ $(md5sum "$M"/model.ckpt-0.* | md5sum) == "$sum0" ]] || fail "model.ckpt-0 was overwritten"
grep -q '^model_checkpoint_path: "model.ckpt-60"' "$M/checkpoint" || fail "the resumed job did not reach step 60: $(head -1 "$M/checkpoint")"
# Nothing complete: exit 3 at once (not retried), the files untouched.
for f in "$M"/model.ckpt-*.data-00000-of-00001; do truncate -s 10 "$f"; done
sums=$(md5sum "$M"/model.ckpt-* "$M"/checkpoint)
launch_job 3 60 --set run.train_steps=100
grep -q "FAILED_PRECONDITION: no checkpoint in $M can be restored: $M/checkpoint lists [0-9], none complete" "$DIR/launch.out" \
  || fail "no clear error when no checkpoint is complete: $(tail -3 "$DIR/launch.out")"
[[ $(md5sum "$M"/model.ckpt-* "$M"/checkpoint) == "$sums" ]] || fail "a refused start changed model_dir"
! grep -q "restarting the job" "$DIR/launch.out" || fail "an unusable checkpoint was retried"
tail -1 "$DIR/launch.out" | grep -q "^psflow-launch: the first error: psflow chief:0: FAILED_PRECONDITION: no checkpoint in" \
  || fail "the launcher's last line is not the first error: $(tail -2 "$DIR/launch.out")"

# --- 6: what the launcher does not retry ---------------------------------------
# A corrupt checkpoint (a flipped byte: the crc32c check on restore fails).
rm -rf "$M"
launch_job 0 120 --set run.train_steps=25
data=$M/model.ckpt-25.data-00000-of-00001
python3 -c "import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[0] ^= 0xff; open(p, 'wb').write(b)" "$data"
launch_job 3 60 --set run.train_steps=50
(( LAUNCH_SECS < 15 )) || fail "a corrupt checkpoint took $LAUNCH_SECS s to fail (retried?)"
! grep -q "restarting the job" "$DIR/launch.out" || fail "a corrupt checkpoint was retried"
tail -1 "$DIR/launch.out" | grep -q "the first error: psflow chief:0: DATA_LOSS: .*model.ckpt-25" \
  || fail "the launcher's last line does not give the corrupt checkpoint: $(tail -2 "$DIR/launch.out")"
# A missing data file, and a missing plugin: exit 2, at once.
rm -rf "$M"
launch_job 2 60 --set "data.train.images=$DIR/missing-images.gz"
(( LAUNCH_SECS < 15 )) || fail "a missing data file took $LAUNCH_SECS s to fail (retried?)"
tail -1 "$DIR/launch.out" | grep -q "the first error: psflow chief:0: NOT_FOUND: data.train.images: cannot read $DIR/missing-images.gz" \
  || fail "the launcher's last line does not name the missing data file: $(tail -2 "$DIR/launch.out")"
launch_job 2 60 --set "model={type: plugin, plugin: {library: $DIR/libmissing.so}}"
(( LAUNCH_SECS < 15 )) || fail "a missing plugin took $LAUNCH_SECS s to fail (retried?)"
tail -1 "$DIR/launch.out" | grep -q "the first error: psflow chief:0: .*cannot load model plugin $DIR/libmissing.so" \
  || fail "the launcher's last line does not name the missing plugin: $(tail -2 "$DIR/launch.out")"
! grep -q "restarting the job" "$DIR/launch.out" || fail "a missing plugin was retried"
# A PS task that exits 0 (the chief told it the job is done) before the
# chief's own exit is seen is the job ending, not a failure to restart from.
# Stand-in task binaries fix the order: ps exits after 1 s, the chief after 3 s.
mkdir -p "$DIR/fakebin"
printf '#!/bin/sh\nsleep 1\nexit 0\n' > "$DIR/fakebin/psflow-ps"
printf '#!/bin/sh\necho "@psflow-record checkpoint path=%s/model.ckpt-7 step=7" >&2\nsleep 3\nexit 0\n' "$M" \
  > "$DIR/fakebin/psflow-chief"
chmod +x "$DIR/fakebin/psflow-ps" "$DIR/fakebin/psflow-chief"
launch_job 0 60 --set "launch.bin_dir=$DIR/fakebin"
! grep -q "restarting the job" "$DIR/launch.out" || fail "a PS that exited 0 before the chief restarted the job: $(cat "$DIR/launch.out")"
grep -q "job finished after .* (exit code 0): global_step 7" "$DIR/launch.out" || fail "the job did not finish: $(cat "$DIR/launch.out")"
# After a job restart the last line names the restarted run's error, not the
# first run's: ps:0 first fails as a restart may cure (exit 1), the job
# restarts, then it fails on bad input (exit 2), which ends the job.
printf '#!/bin/sh\nif [ -f "%s/ps-ran" ]; then echo "psflow ps:0: second life: bad input" >&2; exit 2; fi\ntouch "%s/ps-ran"\necho "psflow ps:0: first life: transient" >&2\nexit 1\n' "$DIR" "$DIR" \
  > "$DIR/fakebin/psflow-ps"
printf '#!/bin/sh\nsleep 60\n' > "$DIR/fakebin/psflow-chief"
launch_job 2 60 --set "launch.bin_dir=$DIR/fakebin" --set launch.restart_backoff_secs=0.1
grep -q "restarting the job" "$DIR/launch.out" || fail "ps:0's exit 1 did not restart the job: $(cat "$DIR/launch.out")"
tail -1 "$DIR/launch.out" | grep -q "the first error: psflow ps:0: second life: bad input" \
  || fail "the last line does not name the restarted run's error: $(tail -2 "$DIR/launch.out")"
# A PS task asked to listen beyond loopback without a token refuses (exit 2,
# naming the address and the two ways on); run.insecure: true lets it serve.
job "$DIR/open.yaml" "$DIR/open_model"
sed -i "s/127.0.0.1:${ports[0]}/0.0.0.0:${ports[0]}/; s/token: cluster-secret/token: ''/" "$DIR/open.yaml"
"$BUILD/ps/psflow-ps" --config "$DIR/open.yaml" --task_type ps --task_index 0 > "$DIR/open.log" 2>&1
rc=$?
[[ $rc == 2 ]] || fail "a token-less PS on 0.0.0.0 exited $rc, not 2"
grep -q "ps:0 would listen on 0.0.0.0:${ports[0]}, which is not a loopback address, with neither a cluster token nor TLS.*run.insecure: true" \
  "$DIR/open.log" || fail "the refusal does not say why and what to do: $(tail -2 "$DIR/open.log")"
"$BUILD/ps/psflow-ps" --config "$DIR/open.yaml" --task_type ps --task_index 0 --set run.insecure=true > "$DIR/open.log" 2>&1 &
OPEN=$!; PIDS+=("$OPEN")
for ((i = 0; i < 100; i++)); do grep -q "serving on" "$DIR/open.log" && break; sleep 0.1; done
grep -q "serving on 0.0.0.0:${ports[0]}" "$DIR/open.log" || fail "run.insecure: true did not let the PS serve: $(tail -2 "$DIR/open.log")"
kill "$OPEN"; wait "$OPEN" 2>/dev/null
echo "bad_input_test: 1 passed, 0 failed"
