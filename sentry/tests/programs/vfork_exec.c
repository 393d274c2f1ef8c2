/*
 * Children created with shared-memory calls exec while the parent goes on:
 * a vfork() child execs "/bin/second" (the sentry installs the image in
 * place), then posix_spawn (clone with CLONE_VM | CLONE_VFORK in glibc)
 * does the same. The parent reaps both natively (each exits 42) and then
 * sums memory it filled before creating them; it prints the results and
 * exits 3, or 10-19 on a failure.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int table[4096];

static char *child_argv[] = {"second", "arg-one", NULL};
static char *child_envp[] = {"GREETING=hi", NULL};

static int reap(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static long sum(const int *p, int n) {
    long s = 0;
    for (int i = 0; i < n; i++)
        s += p[i];
    return s;
}

int main(void) {
    int *heap = malloc(sizeof table);
    if (!heap)
        return 10;
    for (int i = 0; i < 4096; i++)
        table[i] = heap[i] = i;

    pid_t pid = vfork();
    if (pid < 0)
        return 11;
    if (pid == 0) {
        execve("/bin/second", child_argv, child_envp);
        _exit(127);
    }
    int vfork_code = reap(pid);

    if (posix_spawn(&pid, "/bin/second", NULL, NULL, child_argv, child_envp) != 0)
        return 12;
    int spawn_code = reap(pid);

    long s = sum(table, 4096) + sum(heap, 4096);
    char buf[128];
    int n = snprintf(buf, sizeof buf, "vfork child=%d spawn child=%d parent sum=%ld\n", vfork_code,
                     spawn_code, s);
    write(1, buf, n);
    if (vfork_code != 42 || spawn_code != 42)
        return 13;
    return s == 2L * 4095 * 4096 / 2 ? 3 : 14;
}
