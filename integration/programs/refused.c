/* Calls each system call a sandbox must refuse and prints `name: ok` or
 * `name: ERRNO`, one line each, in this order. Arguments are harmless or
 * invalid on purpose: the question is only whether the call is served. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long r) {
    printf("%s: %s\n", name, r < 0 ? strerrorname_np(errno) : "ok");
}

int main(void) {
    union bpf_attr battr;
    memset(&battr, 0, sizeof battr);
    battr.map_type = BPF_MAP_TYPE_ARRAY;
    battr.key_size = 4;
    battr.value_size = 4;
    battr.max_entries = 1;
    report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &battr, sizeof battr));

    struct io_uring_params uparams;
    memset(&uparams, 0, sizeof uparams);
    report("io_uring_setup", syscall(SYS_io_uring_setup, 4, &uparams));

    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));

    struct perf_event_attr pattr;
    memset(&pattr, 0, sizeof pattr);
    pattr.type = PERF_TYPE_SOFTWARE;
    pattr.size = sizeof pattr;
    pattr.config = PERF_COUNT_SW_TASK_CLOCK;
    pattr.disabled = 1;
    pattr.exclude_kernel = 1;
    report("perf_event_open", syscall(SYS_perf_event_open, &pattr, 0, -1, -1, 0));

    static const char image[64];
    report("init_module", syscall(SYS_init_module, image, sizeof image, ""));

    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));

    char handle[sizeof(struct file_handle) + 128];
    struct file_handle *fh = (struct file_handle *)handle;
    fh->handle_bytes = 128;
    fh->handle_type = 1;
    memset(fh->f_handle, 0, 128);
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, fh, O_RDONLY));

    /* Namespace and mount changes: refused with the default capabilities,
     * and never reaching the host under vigil. */
    report("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
    report("umount2", syscall(SYS_umount2, "/proc", 0));
    report("unshare", syscall(SYS_unshare, CLONE_NEWNS | CLONE_NEWUSER));
    report("setns", syscall(SYS_setns, 0, CLONE_NEWNET));
    report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    report("chroot_escape", syscall(SYS_chroot, "/nonexistent"));
    return 0;
}
