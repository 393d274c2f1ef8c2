//! A Debian userland: bash scripts and python3 programs (os, subprocess,
//! threading, json, tempfile, signal, multiprocessing), the way an
//! application image uses the kernel. These skip, with the reason, when the
//! Debian root file system cannot be built.

use integration::case::{bash, python};

integration::cases! {
    bash_arrays_and_pipestatus: bash(r#"a=(x "y z" w); echo ${#a[@]} "${a[1]}"; declare -A m=([k]=v [n]=1); echo ${m[k]} ${!m[@]} | tr ' ' '\n' | sort | tr '\n' ' '; echo; true | false | true; echo "${PIPESTATUS[@]}"; set -o pipefail; true | false | true; echo $?"#)
        .stdout("3 y z\nk n v \n0 1 0\n1\n").exit(0),
    bash_process_substitution: bash(r#"diff <(seq 1 3) <(printf '1\n2\n3\n') && echo same; while read l; do echo "got $l"; done < <(echo a; echo b); exec {fd}>/tmp/f; echo via-fd >&$fd; exec {fd}>&-; cat /tmp/f"#)
        .stdout("same\ngot a\ngot b\nvia-fd\n").exit(0),
    bash_traps_and_jobs: bash(r#"trap 'echo ERR trapped' ERR; false; trap - ERR; sleep 30 & kill %1; wait %1; echo "job: $?"; ( trap 'echo sub got HUP; exit 9' HUP; kill -HUP $BASHPID; sleep 5 ); echo "sub: $?"; coproc cat; echo ping >&${COPROC[1]}; read -u ${COPROC[0]} r; echo "coproc: $r"; kill $COPROC_PID"#)
        .stdout("ERR trapped\njob: 143\nsub got HUP\nsub: 9\ncoproc: ping\n").exit(0),
    bash_text_and_files: bash(r#"cd /tmp; printf '%s\n' {1..5} > n; mapfile -t arr < n; echo "${arr[@]}" $(( ${arr[0]} + ${arr[4]} )); [[ "abc123" =~ ^([a-z]+)([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}-${BASH_REMATCH[2]}"; touch -d @1000000000 t; stat -c '%Y %s' t; stat -c %s n; readlink -f /proc/self/exe"#)
        .stdout("1 2 3 4 5 6\nabc-123\n1000000000 0\n10\n/usr/bin/readlink\n").exit(0),
    dpkg_and_libc: bash(r#"dpkg-query -W -f='${Package} ${Status}\n' python3 bash | sort; ldd /bin/true | grep -c libc.so.6; getent passwd root nobody | cut -d: -f1,3; getconf PAGESIZE"#)
        .stdout("bash install ok installed\npython3 install ok installed\n1\nroot:0\nnobody:65534\n4096\n").exit(0),
    python_os_and_files: python(r#"
import os, stat
print(os.getpid(), os.getppid(), os.getuid(), os.getcwd())
print(os.uname().sysname, os.uname().nodename)
os.makedirs('/tmp/a/b')
with open('/tmp/a/b/f', 'w') as f:
    f.write('x' * 5000)
st = os.stat('/tmp/a/b/f')
print(st.st_size, oct(stat.S_IMODE(st.st_mode)), stat.S_ISREG(st.st_mode))
os.rename('/tmp/a/b/f', '/tmp/a/g'); os.symlink('g', '/tmp/a/l'); os.link('/tmp/a/g', '/tmp/a/h')
print(sorted(os.listdir('/tmp/a')), os.readlink('/tmp/a/l'), os.stat('/tmp/a/g').st_nlink)
print(sorted(e.name for e in os.scandir('/tmp/a') if e.is_dir()))
try:
    os.open('/etc/nope', os.O_RDONLY)
except FileNotFoundError as e:
    print('ENOENT', e.errno)
r, w = os.pipe(); os.write(w, b'pipe'); os.close(w); print(os.read(r, 10), os.read(r, 10))
print(os.path.exists('/proc/self/fd/0'), len(os.sched_getaffinity(0)) >= 1)
"#)
        .stdout("1 0 0 /\nLinux sandbox\n5000 0o644 True\n['b', 'g', 'h', 'l'] g 2\n['b']\nENOENT 2\nb'pipe' b''\nTrue True\n").exit(0),
    python_subprocess: python(r#"
import subprocess, sys
r = subprocess.run(['sh', '-c', 'echo out; echo err >&2; exit 3'], capture_output=True, text=True)
print(repr(r.stdout), repr(r.stderr), r.returncode)
p = subprocess.Popen(['cat'], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
out, _ = p.communicate(b'x' * 200000)
print(len(out), p.returncode)
try:
    subprocess.run(['sleep', '10'], timeout=0.3)
except subprocess.TimeoutExpired:
    print('timeout expired')
k = subprocess.Popen(['sleep', '10']); k.terminate(); print('terminated', k.wait())
print(subprocess.check_output('seq 3 | tac', shell=True).decode().split())
try:
    subprocess.run(['/nonexistent'])
except FileNotFoundError:
    print('no such program')
"#)
        .stdout("'out\\n' 'err\\n' 3\n200000 0\ntimeout expired\nterminated -15\n['3', '2', '1']\nno such program\n").exit(0),
    python_threading: python(r#"
import threading, queue
lock = threading.Lock(); total = [0]
def add():
    for _ in range(20000):
        with lock:
            total[0] += 1
ts = [threading.Thread(target=add) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print('total', total[0])
q = queue.Queue(); ev = threading.Event(); results = []
def worker():
    while (item := q.get()) is not None:
        results.append(item * item)
ws = [threading.Thread(target=worker) for _ in range(4)]
[w.start() for w in ws]
for i in range(100): q.put(i)
for _ in ws: q.put(None)
[w.join() for w in ws]
print('squares', sum(results), len(results))
cond = threading.Condition(); state = []
def waiter():
    with cond:
        cond.wait_for(lambda: state)
        print('woken with', state[0])
w = threading.Thread(target=waiter); w.start()
with cond:
    state.append('go'); cond.notify_all()
w.join()
t = threading.Timer(0.05, lambda: ev.set()); t.start()
print('event set', ev.wait(5))
print('threads left', threading.active_count())
"#)
        .stdout("total 160000\nsquares 328350 100\nwoken with go\nevent set True\nthreads left 1\n").exit(0),
    python_json_and_tempfile: python(r#"
import json, tempfile, os
data = {'name': 'vigil', 'list': [1, 2.5, None, True], 'nested': {'k': 'v\u00e9'}}
with tempfile.NamedTemporaryFile('w+', suffix='.json', delete=False) as f:
    json.dump(data, f, sort_keys=True)
    name = f.name
print(os.path.dirname(name), name.endswith('.json'))
with open(name) as f:
    back = json.load(f)
print(back == data, json.dumps(back, sort_keys=True, ensure_ascii=False))
os.unlink(name)
with tempfile.TemporaryDirectory() as d:
    for i in range(3):
        open(os.path.join(d, f'f{i}'), 'w').write(str(i))
    print(sorted(os.listdir(d)))
    kept = d
print('removed', not os.path.exists(kept))
with tempfile.TemporaryFile() as t:
    t.write(b'anonymous'); t.seek(0); print(t.read())
"#)
        .stdout("/tmp True\nTrue {\"list\": [1, 2.5, null, true], \"name\": \"vigil\", \"nested\": {\"k\": \"vé\"}}\n['f0', 'f1', 'f2']\nremoved True\nb'anonymous'\n").exit(0),
    python_signals: python(r#"
import signal, os, time
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print('handled', got == [signal.SIGUSR1])
signal.signal(signal.SIGALRM, lambda s, f: got.append('alarm'))
signal.setitimer(signal.ITIMER_REAL, 0.05)
time.sleep(1)
print('alarm', got[-1])
r, w = os.pipe()
signal.signal(signal.SIGALRM, lambda s, f: os.write(w, b'!'))
signal.setitimer(signal.ITIMER_REAL, 0.05)
print('read after signal', os.read(r, 1))
pid = os.fork()
if pid == 0:
    signal.pause()
    os._exit(0)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print('child', os.WIFSIGNALED(status), os.WTERMSIG(status))
"#)
        .stdout("handled True\nalarm alarm\nread after signal b'!'\nchild True 15\n").exit(0),
    python_multiprocessing: python(r#"
import multiprocessing as mp
def square(x):
    return x * x
if __name__ == '__main__':
    with mp.Pool(2) as pool:
        print(pool.map(square, range(10)))
    q = mp.Queue()
    p = mp.Process(target=q.put, args=('from child',))
    p.start(); print(q.get()); p.join(); print('exitcode', p.exitcode)
    v = mp.Value('i', 0)
    def bump(v):
        with v.get_lock():
            v.value += 5
    ps = [mp.Process(target=bump, args=(v,)) for _ in range(4)]
    [p.start() for p in ps]; [p.join() for p in ps]
    print('shared value', v.value)
"#).timeout(60)
        .stdout("[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\nfrom child\nexitcode 0\nshared value 20\n").exit(0),
    python_credentials_need_capabilities: python(r#"
import os
# The default spec grants neither CAP_SETUID nor CAP_SETGID.
for name, change in [('setgroups', lambda: os.setgroups([])),
                     ('setgid', lambda: os.setgid(65534)),
                     ('setuid', lambda: os.setuid(65534)),
                     ('setuid to self', lambda: os.setuid(0))]:
    try:
        change()
        print(name, 'ok')
    except PermissionError as e:
        print(name, e.strerror)
print(os.getuid(), os.getgid(), os.getgroups())
"#)
        .stdout("setgroups Operation not permitted\nsetgid Operation not permitted\nsetuid Operation not permitted\nsetuid to self ok\n0 0 []\n").exit(0),
    python_exit_status: python(r#"
import sys
print('exiting', flush=True)
sys.exit(17)
"#)
        .stdout("exiting\n").exit(17),
    python_uncaught_exception: python("raise SystemExit(print('printed') or 'message to stderr')")
        .stdout("printed\n").exit(1),
}
