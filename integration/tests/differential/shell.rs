//! A user's shell session in a busybox container: builtins and pipelines,
//! files, links, permissions, timestamps, archives, jobs, traps and
//! signals, FIFOs, `/proc/self`, `/dev`, and mounts.

use integration::case::sh;

integration::cases! {
    // --- builtins, expansions and pipelines ---
    echo_and_printf: sh(r#"echo hello world; printf '%s-%d|%5s|%-4s|\n' a 42 right left; printf '%05.2f %x %o\n' 3.14159 255 8"#)
        .stdout("hello world\na-42|right|left|\n03.14 ff 10\n").exit(0),
    arithmetic_and_parameters: sh(r#"a=6 b=7; echo $((a*b)) $((a<<2)) $((17%5)) $((-7/2)); x=${UNSET:-default}; echo $x ${#x}; : ${NEW:=assigned}; echo $NEW"#)
        .stdout("42 24 2 -3\ndefault 7\nassigned\n").exit(0),
    string_trimming: sh(r#"s=archive.tar.gz; echo ${s%.gz} ${s%%.*} ${s#*.} ${s##*.}; p=/a/b/c.txt; echo ${p##*/} ${p%/*}"#)
        .stdout("archive.tar archive tar.gz gz\nc.txt /a/b\n").exit(0),
    pipeline_sort_uniq: sh(r#"printf 'b\na\nc\na\nb\na\n' | sort | uniq -c | sort -rn | awk '{print $2, $1}'"#)
        .stdout("a 3\nb 2\nc 1\n").exit(0),
    pipeline_status_is_last: sh(r#"false | true; echo $?; true | false; echo $?; ! false; echo $?"#)
        .stdout("0\n1\n0\n").exit(0),
    subshells_and_groups: sh(r#"cd /tmp; (cd /; pwd); pwd; { echo a; echo b; } | wc -l; x=outer; (x=inner); echo $x"#)
        .stdout("/\n/tmp\n2\nouter\n").exit(0),
    here_document: sh("n=2\ncat <<EOF\nline $((n+1))\n  indented \\$n\nEOF\ncat <<'RAW'\n$n stays\nRAW")
        .stdout("line 3\n  indented $n\n$n stays\n").exit(0),
    loops_and_case: sh(r#"for i in 1 2 3; do printf "$i "; done; echo; i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i; for w in apple kiwi x; do case $w in a*) echo A;; ?i??) echo four;; *) echo other;; esac; done"#)
        .stdout("1 2 3 \n3\nA\nfour\nother\n").exit(0),
    functions_and_return: sh(r#"f() { local v=$1; echo "in f: $v"; return $(($1 + 1)); }; f 4; echo "status $?"; g() { echo "$# args: $*"; }; g a "b c" d"#)
        .stdout("in f: 4\nstatus 5\n3 args: a b c d\n").exit(0),
    command_substitution: sh(r#"x=$(echo outer $(echo inner)); echo "$x"; y=`expr 2 + 3`; echo $y; echo "$(printf 'a\n\n\n')|""#)
        .stdout("outer inner\n5\na|\n").exit(0),
    read_lines_from_stdin: sh(r#"while read a b; do echo "[$a][$b]"; done; echo done"#).stdin(b"alpha beta gamma\none\n  spaced   out  \n")
        .stdout("[alpha][beta gamma]\n[one][]\n[spaced][out]\ndone\n").exit(0),
    stdin_passthrough_binary: sh(r#"cat | od -An -tx1"#).stdin(b"\x00\x01\x7f\x80\xff\nend")
        .stdout(" 00 01 7f 80 ff 0a 65 6e 64\n").exit(0),
    exit_code: sh("echo before; exit 42")
        .stdout("before\n").exit(42),
    set_e_stops: sh("set -e; echo one; false; echo unreachable")
        .stdout("one\n").exit(1),
    test_builtin: sh(r#"[ -d /tmp ] && echo dir; [ -f /bin/busybox ] && echo file; [ -x /bin/sh ] && echo exec; [ -e /nope ] || echo absent; test 3 -lt 5 && echo lt; [ abc \< abd ] && echo sorted; [ -z "" ] && echo empty"#)
        .stdout("dir\nfile\nexec\nabsent\nlt\nsorted\nempty\n").exit(0),
    env_from_spec: sh(r#"echo "$GREETING"; echo "$EMPTY_VAR|"; env | grep -c '^GREETING='"#).env("GREETING=hi there").env("EMPTY_VAR=")
        .stdout("hi there\n|\n1\n").exit(0),
    default_environment: sh("env | grep -v '^_=' | sort")
        .stdout("HOME=/root\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/\nSHLVL=1\nTERM=xterm\n").exit(0),
    xargs_and_seq: sh(r#"seq 1 7 | xargs -n3 echo; seq -s, 5 -2 -3; echo a b c | xargs -n1 | tac"#)
        .stdout("1 2 3\n4 5 6\n7\n5,3,1,-1,-3\nc\nb\na\n").exit(0),
    text_tools: sh(r#"echo 'Hello World' | tr a-z A-Z | sed 's/WORLD/there/'; echo 'a:b:c' | awk -F: '{print $3 $2 $1, NF}'; printf 'x 3\ny 1\nz 2\n' | sort -k2n | cut -d' ' -f1 | paste -sd+"#)
        .stdout("HELLO there\ncba 3\ny+z+x\n").exit(0),
    large_output_through_pipes: sh("seq 1 200000 | tail -n 1; seq 1 50000 | md5sum; yes abcdefgh | head -c 3000000 | wc -c")
        .stdout("200000\nc1d4ba52c72ac7bcc71ff2d6c083e684  -\n3000000\n").exit(0),
    stderr_is_separate: sh("echo out; echo err >&2; echo out2; ls /nonexistent")
        .stdout("out\nout2\n").exit(1),
    fd_redirections: sh(r#"exec 3>/tmp/f; echo x >&3; echo y 1>&3; exec 3>&-; cat /tmp/f; echo z >> /tmp/f; wc -l < /tmp/f; exec 4</tmp/f; read first <&4; echo "first=$first"; { echo to-err >&2; } 2>&1"#)
        .stdout("x\ny\n3\nfirst=x\nto-err\n").exit(0),

    // --- files and directories ---
    file_create_write_read: sh(r#"echo data > /tmp/a; cat /tmp/a; printf more >> /tmp/a; cat /tmp/a; echo; ls -l /tmp/a | awk '{print $1, $2, $3, $4, $5}'"#)
        .stdout("data\ndata\nmore\n-rw-r--r-- 1 root root 9\n").exit(0),
    mkdir_tree_and_remove: sh(r#"mkdir -p /tmp/x/y/z; touch /tmp/x/y/f; find /tmp/x | sort; rmdir /tmp/x/y 2>/dev/null || echo not-empty; rm -r /tmp/x; ls -A /tmp | wc -l"#)
        .stdout("/tmp/x\n/tmp/x/y\n/tmp/x/y/f\n/tmp/x/y/z\nnot-empty\n0\n").exit(0),
    rename_files_and_dirs: sh(r#"cd /tmp; echo 1 > a; echo 2 > b; mv a b; cat b; ls; mkdir d e; mv b d/c; cat d/c; mv d e/; find e | sort; mkdir f; touch f/x; mv e f; find f | sort"#)
        .stdout("1\nb\n1\ne\ne/d\ne/d/c\nf\nf/e\nf/e/d\nf/e/d/c\nf/x\n").exit(0),
    hard_links: sh(r#"cd /tmp; echo x > a; ln a b; stat -c '%h' a; echo y >> b; cat a; [ "$(stat -c %i a)" = "$(stat -c %i b)" ] && echo same-inode; rm a; stat -c %h b; cat b; mkdir d; ln d d2 2>/dev/null || echo no-dir-links"#)
        .stdout("2\nx\ny\nsame-inode\n1\nx\ny\nno-dir-links\n").exit(0),
    symlinks: sh(r#"cd /tmp; ln -s target l; readlink l; [ -L l ] && echo link; [ -e l ] || echo dangling; echo t > target; cat l; ln -s /tmp/target abs; readlink -f abs; mkdir dir; ln -s dir dl; touch dl/inside; ls dir; stat -c '%F' l dir dl"#)
        .stdout("target\nlink\ndangling\nt\n/tmp/target\ninside\nsymbolic link\ndirectory\nsymbolic link\n").exit(0),
    symlink_loop: sh(r#"cd /tmp; ln -s a b; ln -s b a; cat a 2>/dev/null || echo "cat failed"; [ -e a ] || echo unresolvable; readlink a"#)
        .stdout("cat failed\nunresolvable\nb\n").exit(0),
    chmod_and_umask: sh(r#"cd /tmp; umask; touch f; stat -c %a f; chmod 640 f; stat -c %a f; chmod u+x,o+r f; stat -c %A f; umask 027; touch g; mkdir d; stat -c '%a %n' g d; chmod 4755 g; stat -c %A g"#)
        .stdout("0022\n644\n640\n-rwxr--r--\n640 g\n750 d\n-rwsr-xr-x\n").exit(0),
    root_without_dac_override: sh(r#"cd /tmp; echo secret > f; chmod 000 f; cat f 2>/dev/null || echo read-denied; echo more 2>/dev/null >> f || echo write-denied; chmod 600 f; cat f; mkdir d; touch d/x; chmod 000 d; ls d 2>/dev/null || echo list-denied; chmod 755 d; ls d"#)
        .stdout("read-denied\nwrite-denied\nsecret\nlist-denied\nx\n").exit(0),
    chown_needs_capability: sh(r#"touch /tmp/f; chown nobody /tmp/f 2>/dev/null || echo chown-denied; chown root:root /tmp/f && echo chown-to-self-ok; stat -c '%U %G' /tmp/f"#)
        .stdout("chown-denied\nchown-to-self-ok\nroot root\n").exit(0),
    timestamps: sh(r#"cd /tmp; touch -d '2001-02-03 04:05:06' f; stat -c %Y f; date -u -r f '+%Y-%m-%d %H:%M:%S'; touch -r f g; stat -c %Y g; touch h; [ h -nt f ] && echo h-newer; [ f -ot h ] && echo f-older"#)
        .stdout("981173106\n2001-02-03 04:05:06\n981173106\nh-newer\nf-older\n").exit(0),
    timestamps_survive_copy_and_rename: sh(r#"cd /tmp; touch -d '1999-12-31 23:59:59' f; cp -p f g; mv f h; stat -c '%Y %n' g h; cp h i; [ "$(stat -c %Y i)" != 915148799 ] && echo plain-copy-is-new"#)
        .stdout("946684799 g\n946684799 h\nplain-copy-is-new\n").exit(0),
    tar_gzip_round_trip: sh(r#"cd /tmp; mkdir -p src/sub; echo one > src/a; seq 1 1000 > src/sub/b; ln -s a src/link; chmod 750 src/sub; tar czf t.tgz src; mkdir out; tar xzf t.tgz -C out; diff -r src out/src && echo identical; tar tzf t.tgz | sort; stat -c '%a %F' out/src/sub out/src/link; readlink out/src/link"#)
        .stdout("identical\nsrc/\nsrc/a\nsrc/link\nsrc/sub/\nsrc/sub/b\n750 directory\n777 symbolic link\na\n").exit(0),
    gzip_round_trip: sh(r#"cd /tmp; seq 1 5000 > f; md5sum f | cut -c1-32 > sum; gzip -9 f; ls; [ $(stat -c %s f.gz) -lt 25000 ] && echo compressed; gunzip f.gz; md5sum f | cut -c1-32 | cmp - sum && echo same; echo text | gzip -c | gzip -dc"#)
        .stdout("f.gz\nsum\ncompressed\nsame\ntext\n").exit(0),
    dd_truncate_and_holes: sh(r#"cd /tmp; dd if=/dev/zero of=z bs=4096 count=10 2>/dev/null; stat -c %s z; truncate -s 100 z; wc -c < z; dd if=/dev/zero of=s bs=1 count=1 seek=1048575 2>/dev/null; stat -c %s s; od -An -c -j 1048575 s"#)
        .stdout("40960\n100\n1048576\n  \\0\n").exit(0),
    big_file_checksum: sh(r#"yes 0123456789abcdef | head -c 8000000 > /tmp/big; md5sum < /tmp/big; sha256sum /tmp/big | cut -c1-64; head -c 3000000 /tmp/big > /tmp/part.a; dd if=/tmp/big of=/tmp/part.b bs=1000000 skip=3 2>/dev/null; ls /tmp | grep -c part; cat /tmp/part.a /tmp/part.b | cmp - /tmp/big && echo rejoined"#)
        .stdout("e79e026d0b969838b9aa8affad04778d  -\nddb8509a73ed4b48f34077f64387fc939cdd82635956bc2e0583b905bcc0d1c4\n2\nrejoined\n").exit(0),
    many_directory_entries: sh(r#"mkdir /tmp/d; cd /tmp/d; i=0; while [ $i -lt 600 ]; do : > f$i; i=$((i+1)); done; ls | wc -l; ls | sort | tail -n 1; rm f1*; ls | wc -l"#)
        .stdout("600\nf99\n489\n").exit(0),
    copy_archive_mode: sh(r#"cd /tmp; mkdir a; echo x > a/f; chmod 604 a/f; ln -s f a/l; cp -a a b; stat -c '%a %F %n' b/f b/l; cmp a/f b/f && echo same"#)
        .stdout("604 regular file b/f\n777 symbolic link b/l\nsame\n").exit(0),
    find_exec_and_xargs: sh(r#"mkdir -p /tmp/t/a /tmp/t/b; echo 1 > /tmp/t/a/x.txt; echo 22 > /tmp/t/b/y.txt; touch /tmp/t/b/z.log; find /tmp/t -name '*.txt' -exec wc -c {} \; | sort; find /tmp/t -type f | sort | xargs cat; find /tmp/t -type d | wc -l"#)
        .stdout("2 /tmp/t/a/x.txt\n3 /tmp/t/b/y.txt\n1\n22\n3\n").exit(0),

    // --- jobs, traps and signals ---
    background_job_wait: sh(r#"(sleep 0.2; echo from-background) & wait $!; echo "waited $?""#)
        .stdout("from-background\nwaited 0\n").exit(0),
    background_job_kill_and_wait: sh(r#"sleep 30 & p=$!; kill $p; wait $p; echo "TERM: $?"; sleep 30 & p=$!; kill -9 $p; wait $p; echo "KILL: $?""#)
        .stdout("TERM: 143\nKILL: 137\n").exit(0),
    several_jobs_exit_codes: sh(r#"(exit 3) & a=$!; (sleep 0.1; exit 5) & b=$!; wait $a; echo $?; wait $b; echo $?; wait; echo all"#)
        .stdout("3\n5\nall\n").exit(0),
    trap_on_exit: sh(r#"trap 'echo bye from trap' EXIT; echo hi; exit 3"#)
        .stdout("hi\nbye from trap\n").exit(3),
    trap_signal_to_self: sh(r#"trap 'echo got USR1' USR1; kill -USR1 $$; echo after; trap - USR1; trap 'echo got TERM; exit 7' TERM; kill $$; echo not-reached"#)
        .stdout("got USR1\nafter\ngot TERM\n").exit(7),
    trap_in_child_shell: sh(r#"sh -c 'trap "echo child got INT; exit 4" INT; kill -INT $$; sleep 5'; echo "child status $?""#)
        .stdout("child got INT\nchild status 4\n").exit(0),
    signal_kills_child_128_plus_n: sh(r#"sh -c 'kill -TERM $$'; echo $?; sh -c 'kill -KILL $$'; echo $?; sh -c 'kill -SEGV $$'; echo $?; sh -c 'kill -USR1 $$'; echo $?"#)
        .stdout("143\n137\n139\n138\n").exit(0),
    pid1_ignores_unhandled_signals: sh(r#"echo pid $$; kill -TERM $$; kill -USR1 $$; kill -HUP $$; echo survived; kill -INT $$; echo not-reached"#)
        .stdout("pid 1\nsurvived\n").exit(130),
    ignored_signal_inherited: sh(r#"trap '' TERM; sh -c 'kill -TERM $$; echo child survived'; echo $?"#)
        .stdout("child survived\n0\n").exit(0),
    sigpipe_stops_writer: sh(r#"{ yes; echo "yes exited $?" > /tmp/st; } | head -n 2; cat /tmp/st"#)
        .stdout("y\ny\nyes exited 141\n").exit(0),
    timeout_kills: sh(r#"timeout 1 sleep 10; echo "timeout: $?"; timeout -s KILL 1 sleep 10; echo "timeout KILL: $?""#).timeout(20)
        .stdout("timeout: 143\ntimeout KILL: 137\n").exit(0),
    init_survives_its_own_sigkill: sh(r#"echo before; exec sh -c 'kill -KILL $$; echo still here'"#)
        .stdout("before\nstill here\n").exit(0),

    // --- FIFOs ---
    fifo_round_trip: sh(r#"mkfifo /tmp/p; [ -p /tmp/p ] && echo is-fifo; (echo through-fifo > /tmp/p) & cat /tmp/p; wait; stat -c %F /tmp/p"#)
        .stdout("is-fifo\nthrough-fifo\nfifo\n").exit(0),
    fifo_many_lines_and_eof: sh(r#"mkfifo /tmp/p; (seq 1 20000 > /tmp/p) & wc -l < /tmp/p; wait; (exec 3>/tmp/p; echo one >&3; echo two >&3) & cat /tmp/p; wait"#)
        .stdout("20000\none\ntwo\n").exit(0),

    // --- /proc ---
    proc_self_status: sh(r#"grep -E '^(Name|State|Uid|Gid|PPid|Threads):' /proc/self/status | tr -s '\t ' ' '"#)
        .stdout("Name: grep\nState: R (running)\nPPid: 1\nUid: 0 0 0 0\nGid: 0 0 0 0\nThreads: 1\n").exit(0),
    proc_self_cmdline_and_comm: sh(r#"tr '\0' ' ' < /proc/self/cmdline; echo; cat /proc/self/comm; sh -c 'tr "\0" "|" < /proc/$$/cmdline'; echo"#)
        .stdout("/bin/sh -c tr '\\0' ' ' < /proc/self/cmdline; echo; cat /proc/self/comm; sh -c 'tr \"\\0\" \"|\" < /proc/$$/cmdline'; echo \ncat\ntr|\\||||\n").exit(0),
    proc_self_fd: sh(r#"exec 5</etc/passwd 6>/tmp/out; ls /proc/self/fd | sort -n | tr '\n' ' '; echo; readlink /proc/self/fd/5; readlink /proc/self/fd/6"#)
        .stdout("0 1 2 3 5 6 \n/etc/passwd\n/tmp/out\n").exit(0),
    proc_self_exe_and_cwd: sh(r#"readlink /proc/self/exe; cd /tmp; readlink /proc/self/cwd; readlink /proc/$$/cwd; readlink /proc/self/root"#)
        .stdout("/bin/busybox\n/tmp\n/tmp\n/\n").exit(0),
    proc_pids_in_namespace: sh(r#"echo $$; sh -c 'echo $PPID'; ls -d /proc/[0-9]* > /tmp/pids; wc -l < /tmp/pids; cat /proc/1/comm"#)
        .stdout("1\n1\n1\ncat\n").exit(0),
    proc_self_limits: sh(r#"grep 'Max open files' /proc/self/limits | tr -s ' '; ulimit -n; ulimit -Hn"#)
        .stdout("Max open files 1024 1024 files \n1024\n1024\n").exit(0),
    proc_system_files: sh(r#"head -n 1 /proc/meminfo | cut -d: -f1; grep -c '^processor' /proc/cpuinfo >/dev/null && echo cpuinfo; [ -r /proc/uptime ] && echo uptime; cat /proc/sys/kernel/hostname; echo x 2>/dev/null > /proc/sys/kernel/hostname || echo proc-sys-read-only"#)
        .stdout("MemTotal\ncpuinfo\nuptime\nsandbox\nproc-sys-read-only\n").exit(0),
    uname_hostname_identity: sh(r#"hostname; uname -s; cat /etc/hostname 2>/dev/null || echo no-etc-hostname; id; id -u nobody; whoami"#)
        .stdout("sandbox\nLinux\nno-etc-hostname\nuid=0(root) gid=0(root)\n65534\nroot\n").exit(0),

    // --- /dev ---
    dev_listing: sh("ls /dev | sort | tr '\\n' ' '")
        .stdout("fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ").exit(0),
    dev_null_zero_full_random: sh(r#"echo x > /dev/null; wc -c < /dev/null; head -c 8 /dev/zero | od -An -tx1; echo x 2>/dev/null > /dev/full || echo full-fails; head -c 64 /dev/urandom | wc -c; head -c 16 /dev/random | wc -c"#)
        .stdout("0\n 00 00 00 00 00 00 00 00\nfull-fails\n64\n16\n").exit(0),
    dev_stdio_links: sh(r#"echo via-dev-stdin | cat /dev/stdin; echo via-dev-stdout > /dev/stdout; readlink /dev/fd; readlink /dev/stdin; ls -l /dev/null | cut -c1"#)
        .stdout("via-dev-stdin\nvia-dev-stdout\n/proc/self/fd\n/proc/self/fd/0\nc\n").exit(0),
    dev_tty_absent_without_terminal: sh(r#"cat /dev/tty 2>/dev/null || echo no-controlling-tty; [ -t 0 ] || echo stdin-not-a-tty; [ -t 1 ] || echo stdout-not-a-tty"#)
        .stdout("no-controlling-tty\nstdin-not-a-tty\nstdout-not-a-tty\n").exit(0),
    dev_shm_is_writable: sh(r#"echo shm > /dev/shm/x; cat /dev/shm/x; stat -c %a /dev/shm"#)
        .stdout("shm\n1777\n").exit(0),

    // --- mounts ---
    root_is_read_only: sh(r#"touch /bin/new 2>/dev/null || echo root-read-only; mkdir /newdir 2>/dev/null || echo no-mkdir; touch /tmp/ok && echo tmp-writable; stat -c %a /tmp"#)
        .stdout("root-read-only\nno-mkdir\ntmp-writable\n1777\n").exit(0),
    bind_mount_persists_to_host: sh(r#"cd /mnt/host; cat seed.txt; echo written > out.txt; mkdir sub; echo nested > sub/f; mv out.txt renamed.txt; ln -s renamed.txt link; rm seed.txt; ls"#).bind("/mnt/host", &[("seed.txt", "from the host\n")])
        .stdout("from the host\nlink\nrenamed.txt\nsub\n").exit(0).host_after("link -> renamed.txt\nrenamed.txt=written\nsub/\nsub/f=nested\n"),
    bind_mount_links_and_modes: sh(r#"cd /mnt/host; echo data > a; ln a b; chmod 600 a; stat -c '%a %h' b; echo appended >> b; cat a; mkfifo p; ls -l p | cut -c1"#).bind("/mnt/host", &[])
        .stdout("600 2\ndata\nappended\np\n").exit(0).host_after("a=data\\nappended\nb=data\\nappended\np (special)\n"),
    read_only_bind_mount: sh(r#"cat /mnt/host/seed.txt; touch /mnt/host/x 2>/dev/null || echo read-only; rm /mnt/host/seed.txt 2>/dev/null || echo no-remove"#).bind_readonly("/mnt/host", &[("seed.txt", "seeded\n")])
        .stdout("seeded\nread-only\nno-remove\n").exit(0).host_after("seed.txt=seeded\n"),
    tmpfs_mount: sh(r#"echo scratch > /mnt/scratch/f; cat /mnt/scratch/f; stat -f -c %T /mnt/scratch; stat -c %a /mnt/scratch; grep ' /mnt/scratch ' /proc/self/mounts | cut -d' ' -f1,3"#).tmpfs("/mnt/scratch")
        .stdout("scratch\ntmpfs\n755\ntmpfs tmpfs\n").exit(0),
    sys_is_read_only: sh(r#"[ -d /sys/kernel ] && echo sysfs; touch /sys/x 2>/dev/null || echo sys-read-only; grep -E ' /(sys|proc) ' /proc/self/mounts | cut -d' ' -f2,3 | sort -u"#)
        .stdout("sysfs\nsys-read-only\n/proc proc\n/sys sysfs\n").exit(0),
}
