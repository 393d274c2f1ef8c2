/*
 * The image installed at exec: prints its arguments and environment (so the
 * stack the sentry built is checked), uses the vDSO for the time, exits 42.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <time.h>

int main(int argc, char **argv) {
    struct timespec ts;
    int clock_ok = clock_gettime(CLOCK_MONOTONIC, &ts) == 0 && ts.tv_sec + ts.tv_nsec > 0;
    printf("argc=%d argv0=%s argv1=%s GREETING=%s clock=%d vdso=%d\n", argc, argv[0], argv[1],
           getenv("GREETING"), clock_ok, getauxval(AT_SYSINFO_EHDR) != 0);
    fflush(stdout);
    return 42;
}
