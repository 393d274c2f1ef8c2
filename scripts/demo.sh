#!/usr/bin/env bash
# vigil's demo: builds a busybox root file system from Debian's
# busybox-static and runs a short shell session in a vigil sandbox, showing
# what the application sees (its own kernel, processes and files).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
vigil=${VIGIL:-$top/target/release/vigil}
demo=$top/target/demo
rootfs=$demo/rootfs

rm -rf "$demo"
mkdir -p "$rootfs"/{bin,dev,etc,proc,root,sys,tmp}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"

cat > "$demo/config.json" <<'EOF'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": ["/bin/sh", "-c",
      "echo '== uname -a'; uname -a; echo; echo '== ps'; ps; echo; echo '== a file written and read back'; echo 'hello from the sandbox' > /tmp/greeting; cat /tmp/greeting; ls -l /tmp; echo; echo '== /proc/version'; cat /proc/version"],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/"
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "vigil-demo",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"] },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"] }
  ],
  "linux": {
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
      { "type": "uts" }, { "type": "mount" }
    ]
  }
}
EOF

exec "$vigil" --root "$demo/state" run --bundle "$demo" "vigil-demo-$$"
