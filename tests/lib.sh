# Shared by the multi-process shell tests (sourced).
# free_ports N: N free TCP ports on 127.0.0.1, space-separated.
free_ports() {
  python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
# job_dir: a fresh $DIR for a test's files.  At exit it ends what the test
# started (pids in PIDS, $LAUNCHER_PID, every task of a job file in $DIR)
# and removes $DIR (kept with KEEP=1).
job_dir() {
  DIR=$(mktemp -d)
  PIDS=()
  LAUNCHER_PID=
  trap _job_dir_cleanup EXIT
}
_job_dir_cleanup() {
  [[ -n $LAUNCHER_PID ]] && kill -9 "$LAUNCHER_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  pkill -9 -f -- "--config $DIR/" 2>/dev/null
  [[ -n ${KEEP:-} ]] || rm -rf "$DIR"
}
# need_fashion_mnist: $DATA holds the Fashion-MNIST files, or skip (exit 77)
# when the package is missing.
need_fashion_mnist() {
  DATA=/usr/share/datasets/fashion-mnist
  if [[ ! -f $DATA/train-images-idx3-ubyte.gz ]]; then echo "SKIP: $DATA missing"; exit 77; fi
}
export PSFLOW_MIN_LOG_LEVEL=0
# main_job_args MODEL_DIR: MAIN_JOB holds psflow-launch's arguments for the
# main job (configs/fashion_mnist.yaml: 2 PS tasks, a chief, 2 workers, an
# evaluator) on free ports, training into MODEL_DIR, quiet.
main_job_args() {
  local p
  read -r -a p <<< "$(free_ports 6)"
  MAIN_JOB=("$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/configs/fashion_mnist.yaml" --quiet
    --set "cluster.ps=[\"127.0.0.1:${p[0]}\", \"127.0.0.1:${p[1]}\"]" --set "cluster.chief=[\"127.0.0.1:${p[2]}\"]"
    --set "cluster.worker=[\"127.0.0.1:${p[3]}\", \"127.0.0.1:${p[4]}\"]"
    --set "cluster.evaluator=[\"127.0.0.1:${p[5]}\"]" --set "run.model_dir=$1")
}
# SMALL_MODEL: the model and data lines of a small, quick job on Fashion-MNIST
# (need_fashion_mnist first), for job files written by tests.
small_model() {
  SMALL_MODEL="model: {type: dnn_classifier, hidden_units: [16], n_classes: 10}
data:
  train: {format: idx, images: \"$DATA/train-images-idx3-ubyte.gz\", labels: \"$DATA/train-labels-idx1-ubyte.gz\"}
  batch_size: 32"
}
