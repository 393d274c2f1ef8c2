/* A fork/exec/wait storm: many children, some exec'ing this program again,
 * all reaped with their exit codes, plus the zombie and orphan cases a
 * process tree must get right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 200

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "child") == 0)
        return atoi(argv[2]);

    long expected = 0, sum = 0;
    int exits = 0, reaped = 0;
    for (int i = 0; i < CHILDREN; i++) {
        int code = i % 7;
        expected += code;
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            if (i % 2) {
                char arg[16];
                snprintf(arg, sizeof arg, "%d", code);
                execl(argv[0], argv[0], "child", arg, (char *)NULL);
                _exit(127);
            }
            _exit(code);
        }
    }
    int status;
    pid_t pid;
    while ((pid = wait(&status)) > 0) {
        reaped++;
        if (WIFEXITED(status)) {
            exits++;
            sum += WEXITSTATUS(status);
        }
    }
    printf("reaped %d, exited %d, sum %ld (expected %ld)\n", reaped, exits, sum, expected);

    /* waitpid with WNOHANG on a running child, then a blocking wait. */
    int p[2];
    if (pipe(p) != 0)
        return 1;
    pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        _exit(read(p[0], &c, 1) == 0 ? 9 : 8);
    }
    close(p[0]);
    printf("WNOHANG while running: %d\n", waitpid(pid, &status, WNOHANG));
    close(p[1]);
    waitpid(pid, &status, 0);
    printf("after EOF: exited %d code %d\n", WIFEXITED(status), WEXITSTATUS(status));

    /* No children left: ECHILD. */
    printf("wait with no children: %d\n", wait(&status));
    return 0;
}
