#!/usr/bin/env bash
# vigil's demo: containerd runs a short shell session in a vigil sandbox
# through vigil's shim (`ctr run --runtime io.containerd.vigil.v2`), in an
# image built locally from Debian's busybox-static, showing what the
# application sees (its own kernel, processes and files). containerd is
# private to the demo (its configuration, state and content live in a
# temporary directory removed at the end); `make demo` builds vigil and
# its shim first.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${VIGIL_BIN_DIR:-${CARGO_TARGET_DIR:-$top/target}/release}
cargo=${CARGO:-cargo}

script="echo '== uname -a'; uname -a; echo
echo '== ps'; ps -o pid,user,comm; echo
echo '== a file written and read back'
echo 'hello from the sandbox' > /tmp/greeting; cat /tmp/greeting; ls -l /tmp; echo
echo '== /proc/version'; cat /proc/version"

cd "$top"
# The shim finds the vigil binary next to itself.
exec "$cargo" run --release --quiet -p integration --bin private-ctr -- "$bin" \
    run --rm --runtime io.containerd.vigil.v2 \
    localhost/vigil-busybox:latest vigil-demo sh -c "$script"
