/* The in-container half of the sandbox benchmark: each mode times one
 * workload with clock_gettime, so container start-up is not part of it,
 * and prints its figures as one line the harness parses:
 *
 *   result NAME key=value key=value ...
 *
 * Cheap operations are timed in batches (the clock itself may be a trapped
 * system call in a sandbox, so one reading per call would double what is
 * measured); the figure is the median of the per-call averages of the
 * batches. A mode stops at its call limit or its time budget, whichever
 * comes first, so a slow runtime still finishes in bounded time.
 *
 *   bench_sandbox syscall MAX_CALLS BUDGET_MS   getuid and getpid
 *   bench_sandbox stat PATH MAX_CALLS BUDGET_MS
 *   bench_sandbox read PATH MAX_CALLS BUDGET_MS open + read 4 KiB + close
 *   bench_sandbox spawn N ROUNDS                fork + execve /bin/true + wait
 *   bench_sandbox shloop N ROUNDS               the same loop run by sh
 *
 * The spawn modes time ROUNDS rounds of N spawns and print the median.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The operation a batch repeats; returns 0, or -1 with errno set. */
typedef int (*op_fn)(const char *arg);

static int op_getuid(const char *arg) {
    (void)arg;
    /* The raw system call: no libc caching can hide it. */
    syscall(SYS_getuid);
    return 0;
}

static int op_getpid(const char *arg) {
    (void)arg;
    syscall(SYS_getpid);
    return 0;
}

static int op_stat(const char *path) {
    struct stat st;
    return stat(path, &st);
}

static int op_read(const char *path) {
    static char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)sizeof buf) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

/* Times `op` in batches of `batch` calls until `max_calls` calls or
 * `budget_ms` have passed, after one untimed warm-up batch, and prints
 * the median, 10th and 90th percentile of the per-call batch averages. */
static int measure(const char *name, op_fn op, const char *arg, long batch, long max_calls,
                   long budget_ms) {
    long max_batches = max_calls / batch;
    if (max_batches < 1)
        max_batches = 1;
    double *avg = calloc(max_batches, sizeof *avg);
    if (!avg) {
        perror("calloc");
        return 1;
    }
    for (long i = 0; i < batch; i++) {
        if (op(arg) != 0) {
            fprintf(stderr, "%s: %s: %s\n", name, arg ? arg : "", strerror(errno));
            return 1;
        }
    }
    double start = now_us(), deadline = start + budget_ms * 1e3;
    long done = 0;
    while (done < max_batches) {
        double t0 = now_us();
        for (long i = 0; i < batch; i++)
            if (op(arg) != 0) {
                fprintf(stderr, "%s: %s: %s\n", name, arg ? arg : "", strerror(errno));
                return 1;
            }
        double t1 = now_us();
        avg[done++] = (t1 - t0) / batch;
        if (t1 > deadline)
            break;
    }
    double total = now_us() - start;
    qsort(avg, done, sizeof *avg, cmp_double);
    printf("result %s median_us=%.4f p10_us=%.4f p90_us=%.4f calls=%ld total_ms=%.1f\n", name,
           avg[done / 2], avg[done / 10], avg[done * 9 / 10], done * batch, total / 1e3);
    free(avg);
    return 0;
}

/* Runs argv to completion with fork + execve + waitpid; 0 if it exited 0. */
static int run_child(char *const argv[]) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        execve(argv[0], argv, environ);
        perror("execve");
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: status %#x\n", argv[0], status);
        return -1;
    }
    return 0;
}

/* Prints the median of `rounds` timings of `run_round`, each `n` spawns:
 * a single round is at the mercy of whatever else the machine does. */
static int spawn_rounds(const char *name, int (*run_round)(long n), long n, long rounds) {
    double s[16];
    if (rounds < 1 || rounds > 16)
        rounds = 1;
    for (long r = 0; r < rounds; r++) {
        double t0 = now_us();
        if (run_round(n) != 0)
            return 1;
        s[r] = (now_us() - t0) / 1e6;
    }
    qsort(s, rounds, sizeof *s, cmp_double);
    double med = s[rounds / 2];
    printf("result %s seconds=%.4f min_s=%.4f max_s=%.4f per_spawn_us=%.1f spawns=%ld "
           "rounds=%ld\n",
           name, med, s[0], s[rounds - 1], med * 1e6 / n, n, rounds);
    return 0;
}

/* n times fork + execve /bin/true + waitpid. */
static int spawn_round(long n) {
    char *argv[] = {"/bin/true", NULL};
    for (long i = 0; i < n; i++)
        if (run_child(argv) != 0)
            return 1;
    return 0;
}

/* The same n spawns, by a shell loop. */
static int shloop_round(long n) {
    char script[160];
    snprintf(script, sizeof script,
             "i=0; while [ $i -lt %ld ]; do /bin/true; i=$((i+1)); done", n);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    return run_child(argv);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_sandbox syscall MAX_CALLS BUDGET_MS\n"
                    "       bench_sandbox stat|read PATH MAX_CALLS BUDGET_MS\n"
                    "       bench_sandbox spawn|shloop N ROUNDS\n");
    exit(2);
}

int main(int argc, char **argv) {
    /* Results go to a pipe: flush each line as it is written. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        usage();
    const char *mode = argv[1];
    if (strcmp(mode, "syscall") == 0 && argc == 4) {
        long max = atol(argv[2]), budget = atol(argv[3]);
        if (measure("getuid", op_getuid, NULL, 100, max, budget))
            return 1;
        return measure("getpid", op_getpid, NULL, 100, max, budget);
    }
    if (strcmp(mode, "stat") == 0 && argc == 5)
        return measure("stat", op_stat, argv[2], 50, atol(argv[3]), atol(argv[4]));
    if (strcmp(mode, "read") == 0 && argc == 5)
        return measure("read", op_read, argv[2], 20, atol(argv[3]), atol(argv[4]));
    if (strcmp(mode, "spawn") == 0 && argc == 4)
        return spawn_rounds("spawn", spawn_round, atol(argv[2]), atol(argv[3]));
    if (strcmp(mode, "shloop") == 0 && argc == 4)
        return spawn_rounds("shloop", shloop_round, atol(argv[2]), atol(argv[3]));
    usage();
    return 2;
}
