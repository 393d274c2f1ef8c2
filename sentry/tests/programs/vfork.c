/*
 * vfork() and clone(CLONE_VM | CLONE_VFORK | SIGCHLD) run as plain forks:
 * each child writes a global and exits (7, then 9); the parent reaps both
 * natively and checks that its memory is intact and that the children's
 * writes are NOT visible to it (the chosen semantics: the child gets a copy
 * of the memory, which a correct vfork child cannot tell apart).
 * Prints what it saw and exits 0 if all is as expected, else 10-19.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int by_vfork_child;
static volatile int by_clone_child;
static char child_stack[64 * 1024] __attribute__((aligned(16)));

static int clone_child(void *arg) {
    (void)arg;
    by_clone_child = 2;
    return 9;
}

static int reap(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int main(void) {
    by_vfork_child = 1;
    by_clone_child = 1;
    pid_t pid = vfork();
    if (pid < 0)
        return 10;
    if (pid == 0) {
        by_vfork_child = 2;
        _exit(7);
    }
    int vfork_code = reap(pid);

    pid = clone(clone_child, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                NULL);
    if (pid < 0)
        return 11;
    int clone_code = reap(pid);

    char buf[128];
    int n = snprintf(buf, sizeof buf, "vfork=%d g=%d clone=%d h=%d\n", vfork_code, by_vfork_child,
                     clone_code, by_clone_child);
    write(1, buf, n);
    if (vfork_code != 7 || clone_code != 9)
        return 12;
    if (by_vfork_child != 1 || by_clone_child != 1)
        return 13;
    return 0;
}
