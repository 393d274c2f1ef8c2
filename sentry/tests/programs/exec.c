/*
 * Starts a thread parked in a trapped read and one spinning natively, then
 * execs "/bin/second" with one argument and one environment variable. The
 * sentry installs the new image; nothing of this program survives.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

static void *blocked(void *arg) {
    char c;
    (void)arg;
    read(0, &c, 1);
    return NULL;
}

static void *spinning(void *arg) {
    (void)arg;
    for (;;)
        sched_yield();
    return NULL;
}

int main(void) {
    pthread_t a, b;
    pthread_create(&a, NULL, blocked, NULL);
    pthread_create(&b, NULL, spinning, NULL);
    write(1, "before exec\n", 12);
    char *argv[] = {"second", "arg-one", NULL};
    char *envp[] = {"GREETING=hi", NULL};
    execve("/bin/second", argv, envp);
    return 99;
}
