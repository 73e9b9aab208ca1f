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
