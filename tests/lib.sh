# Shared by the multi-process shell tests (sourced).
# free_ports N: N free TCP ports on 127.0.0.1, space-separated.
free_ports() {
  python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
# The Fashion-MNIST files, or skip (exit 77) when the package is missing.
DATA=/usr/share/datasets/fashion-mnist
if [[ ! -f $DATA/train-images-idx3-ubyte.gz ]]; then echo "SKIP: $DATA missing"; exit 77; fi
export PSFLOW_MIN_LOG_LEVEL=0
