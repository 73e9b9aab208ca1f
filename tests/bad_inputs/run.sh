#!/usr/bin/env bash
# Runs the catalogue of bad inputs (tests/bad_inputs/cases.txt) against the
# real binaries: each case must exit with its code and print an error that
# holds its substring (the file, field or peer, and what to do), and no
# case may change a file of the trained model_dir the checkpoint cases copy
# from, nor of their own copies.
#
#   tests/bad_inputs/run.sh BUILD_DIR [--show]   (--show: print each case's
#       exit code and last line instead of checking)
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SHOW=${2:-}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
source "$SRC/tests/lib.sh"
need_fashion_mnist
job_dir
export PSFLOW_MIN_LOG_LEVEL=1
export B=$BUILD D=$DIR DATA
export LAUNCH=$BUILD/launch/psflow-launch TRAIN=$BUILD/tools/psflow-train-local INSPECT=$BUILD/tools/psflow-inspect
export PEER="python3 $SRC/tests/hostile_peer.py"
fail() { echo "FAIL: $*"; exit 1; }

# Jobs, with free ports and this run's directories.
read -r P0 P1 P2 P3 <<< "$(free_ports 4)"
mkdir -p "$D/jobs"
for f in "$SRC"/tests/bad_inputs/jobs/*.yaml; do
  sed -e "s|@P0@|$P0|g; s|@P1@|$P1|g; s|@P2@|$P2|g; s|@DATA@|$DATA|g; s|@D@|$D|g; s|@B@|$BUILD/|g" "$f" > "$D/jobs/$(basename "$f")"
done
# Data directories broken one way each (train files; the rest good).
for d in idx_truncated idx_magic idx_count; do
  mkdir -p "$D/$d"
  ln -s "$DATA"/t10k-* "$D/$d/"
done
head -c 100000 "$DATA/train-images-idx3-ubyte.gz" > "$D/idx_truncated/train-images-idx3-ubyte.gz"
ln -s "$DATA/train-labels-idx1-ubyte.gz" "$D/idx_truncated/"
printf 'GIF89a not an idx file' | gzip > "$D/idx_magic/train-images-idx3-ubyte.gz"
ln -s "$DATA/train-labels-idx1-ubyte.gz" "$D/idx_magic/"
ln -s "$DATA/train-images-idx3-ubyte.gz" "$D/idx_count/"
ln -s "$DATA/t10k-labels-idx1-ubyte.gz" "$D/idx_count/train-labels-idx1-ubyte.gz"  # 10,000 labels for 60,000 images
# A trained model_dir (20 steps, one checkpoint at step 20 besides step 0), and broken copies.
"$TRAIN" --data_dir "$DATA" --model_dir "$D/ckpt" --hidden_units 16 --train_steps 20 --save_checkpoints_steps 20 \
  --log_step_count_steps 1000 > "$D/ckpt.log" 2>&1 || fail "could not train the model_dir the cases copy: $(tail -3 "$D/ckpt.log")"
[[ -f $D/ckpt/model.ckpt-20.index ]] || fail "no model.ckpt-20 in $D/ckpt"
for c in c_trunc c_flip c_magic c_shard c_other c_state c_newer c_gone; do cp -r "$D/ckpt" "$D/$c"; rm -f "$D/$c"/model.ckpt-0.*; done
truncate -s 40 "$D/c_trunc/model.ckpt-20.index"
python3 - "$D/c_flip/model.ckpt-20.data-00000-of-00002" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 0x40]))
PY
python3 - "$D/c_magic/model.ckpt-20.index" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-1, 2); b = f.read(1); f.seek(-1, 2); f.write(bytes([b[0] ^ 0x01]))
PY
rm "$D/c_shard/model.ckpt-20.data-00001-of-00002"
printf 'model_checkpoint_path: "model.ckpt-20"\nall_model_checkpoint_paths: "model.ckpt-20\n' > "$D/c_state/checkpoint"
python3 "$SRC/tests/bad_inputs/forge.py" newer_bundle "$D/c_newer/model.ckpt-20.index" 7 || fail "forge.py could not edit $D/c_newer"
printf 'model_checkpoint_path: "model.ckpt-90"\nall_model_checkpoint_paths: "model.ckpt-90"\n' > "$D/c_gone/checkpoint"
# Data files a job reads: a CSV with a bad number in row 58, a TFRecord with a flipped byte in record 8.
python3 - "$D" <<'PY'
import random, sys
random.seed(1)
rows = ["a,b,label"] + [f"{random.random():.3f},{random.random():.3f},{i % 2}" for i in range(200)]
rows[57] = "0.25,1.5x,1"
open(sys.argv[1] + "/bad.csv", "w").write("\n".join(rows) + "\n")
PY
"$BUILD/tools/psflow-gen-ctr" --out "$D/ctr" --examples 300 --eval_examples 10 --shards 1 --vocab 10 > "$D/gen.log" 2>&1 \
  || fail "psflow-gen-ctr failed: $(cat "$D/gen.log")"
python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(5000); b = f.read(1); f.seek(5000); f.write(bytes([b[0] ^ 0x10]))" \
  "$D/ctr/train-00000-of-00001.tfrecord"
touch "$D/afile"  # a model_dir under a file cannot be created, even by root
# Plugins: no symbol, and another ABI version.
printf 'int unrelated(void) { return 1; }\n' > "$D/empty.c"
printf 'int psflow_model_fn_abi_version(void) { return 999; }\nvoid psflow_model_fn(void* out) { (void)out; }\n' > "$D/abi.c"
cc -shared -fPIC -o "$D/libempty.so" "$D/empty.c" && cc -shared -fPIC -o "$D/libabi.so" "$D/abi.c" || fail "cc could not build the test plugins"
# A PS task for the frame cases.
"$BUILD/ps/psflow-ps" --config "$D/jobs/base.yaml" --task_type ps --task_index 0 --set run.token=cluster-secret \
  --set "cluster.ps=[\"127.0.0.1:$P3\"]" > "$D/ps.log" 2>&1 &
PIDS+=($!)
disown $!  # ended by job_dir's cleanup, quietly
for ((i = 0; i < 100; i++)); do grep -q "serving on" "$D/ps.log" && break; sleep 0.1; done
export PS_ADDR=127.0.0.1:$P3

manifest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
CKPTS="ckpt c_trunc c_flip c_magic c_shard c_other c_state c_newer c_gone"
for m in $CKPTS; do manifest "$D/$m" > "$D/$m.before"; done

passed=0 failed=0
while IFS='|' read -r name code want cmd; do
  [[ -z ${name// /} || $name == \#* ]] && continue
  name=$(echo "$name" | xargs); code=$(echo "$code" | xargs)
  want=$(echo "$want" | sed 's/^ *//; s/ *$//'); want=$(eval echo "\"$want\"")
  [[ -z $name || $name == \#* ]] && continue
  out=$(timeout 120 bash -c "$cmd" 2>&1)
  rc=$?
  if [[ -n $SHOW ]]; then
    printf '%-22s exit %s: %s\n' "$name" "$rc" "$(echo "$out" | grep -v '^$' | tail -1 | cut -c1-260)"
    continue
  fi
  if [[ $rc == "$code" ]] && grep -qF -- "$want" <<< "$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $rc (want $code), want \"$want\" in:"
    echo "$out" | tail -4 | sed 's/^/    /'
  fi
done < "$SRC/tests/bad_inputs/cases.txt"
for m in $CKPTS; do
  manifest "$D/$m" > "$D/$m.after"
  if ! cmp -s "$D/$m.before" "$D/$m.after"; then
    failed=$((failed + 1))
    echo "FAIL: a case changed $m:"; diff "$D/$m.before" "$D/$m.after" | head -5
  fi
done
alive_ps=$(kill -0 "${PIDS[0]}" 2>/dev/null && echo yes || echo no)
[[ $alive_ps == yes ]] || { failed=$((failed + 1)); echo "FAIL: the PS task died under the frame cases"; }
[[ -n $SHOW ]] && exit 0
echo "bad_inputs: $passed cases passed, $failed failed"
[[ $failed == 0 ]]
