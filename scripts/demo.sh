#!/usr/bin/env bash
# vigil's demo: podman runs a short shell session with vigil as its OCI
# runtime, in an image built locally from Debian's busybox-static, showing
# what the application sees (its own kernel, processes and files). podman
# is private to the demo (its storage and configuration live in a temporary
# directory removed at the end); `make demo` builds vigil first.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
vigil=${VIGIL:-${CARGO_TARGET_DIR:-$top/target}/release/vigil}
cargo=${CARGO:-cargo}

script="echo '== uname -a'; uname -a; echo
echo '== ps'; ps -o pid,user,comm; echo
echo '== a file written and read back'
echo 'hello from the sandbox' > /tmp/greeting; cat /tmp/greeting; ls -l /tmp; echo
echo '== /proc/version'; cat /proc/version"

cd "$top"
exec "$cargo" run --release --quiet -p integration --bin private-podman -- \
    run --rm --runtime "$vigil" --pull=never --network=none \
    --hostname vigil-demo localhost/vigil-busybox:latest sh -c "$script"
