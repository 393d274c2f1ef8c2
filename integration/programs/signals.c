/* Signal delivery and the restart rules: EINTR without SA_RESTART, a
 * restarted read with it, blocked and pending signals, sigsuspend,
 * SIGCHLD, sigaltstack, and (with the argument "crash") a fault that kills
 * the process even when it is a PID namespace's init. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static int wake_pipe[2];
static volatile sig_atomic_t on_altstack;

static void count(int sig) { (void)sig; hits++; }

static void wake(int sig) {
    (void)sig;
    hits++;
    (void)!write(wake_pipe[1], "w", 1);
}

static void where(int sig) {
    (void)sig;
    stack_t ss;
    sigaltstack(NULL, &ss);
    on_altstack = (ss.ss_flags & SS_ONSTACK) != 0;
}

static void arm(int sig, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void alarm_in_ms(int ms) {
    struct itimerval it = {{0, 0}, {0, ms * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "crash") == 0) {
        printf("about to fault\n");
        fflush(stdout);
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        return 0;
    }
    char c;
    if (pipe(wake_pipe) != 0)
        return 1;

    /* Without SA_RESTART a blocked read fails with EINTR. */
    int p[2];
    if (pipe(p) != 0)
        return 1;
    arm(SIGALRM, count, 0);
    alarm_in_ms(50);
    ssize_t n = read(p[0], &c, 1);
    printf("read without SA_RESTART: %zd %s, handler ran %d\n", n, n < 0 ? strerrorname_np(errno) : "", hits);

    /* With SA_RESTART the read resumes and gets the handler's byte. */
    hits = 0;
    arm(SIGALRM, wake, SA_RESTART);
    alarm_in_ms(50);
    n = read(wake_pipe[0], &c, 1);
    printf("read with SA_RESTART: %zd '%c', handler ran %d\n", n, c, hits);

    /* A blocked signal stays pending until unblocked, and is delivered once. */
    hits = 0;
    arm(SIGUSR1, count, 0);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigset_t pending;
    sigpending(&pending);
    printf("pending while blocked: %d, handled %d\n", sigismember(&pending, SIGUSR1), hits);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock: handled %d\n", hits);

    /* sigsuspend returns EINTR after the awaited signal's handler. */
    hits = 0;
    sigprocmask(SIG_BLOCK, &set, &old);
    pid_t child = fork();
    if (child == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    sigset_t none;
    sigemptyset(&none);
    int r = sigsuspend(&none);
    printf("sigsuspend: %d %s, handled %d\n", r, strerrorname_np(errno), hits);
    sigprocmask(SIG_SETMASK, &old, NULL);
    waitpid(child, NULL, 0);

    /* SIGCHLD arrives when a child exits. */
    hits = 0;
    arm(SIGCHLD, count, SA_RESTART);
    child = fork();
    if (child == 0)
        _exit(3);
    int status;
    waitpid(child, &status, 0);
    for (int i = 0; i < 100 && !hits; i++)
        usleep(1000);
    printf("SIGCHLD handled %d, child code %d\n", hits, WEXITSTATUS(status));

    /* A handler on an alternate stack sees SS_ONSTACK. */
    stack_t ss = {.ss_sp = malloc(SIGSTKSZ * 4), .ss_size = SIGSTKSZ * 4, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    arm(SIGUSR2, where, SA_ONSTACK);
    raise(SIGUSR2);
    printf("handler on altstack: %d\n", on_altstack);

    /* A child killed by a signal reports it through wait. */
    child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    printf("child signaled %d by %s\n", WIFSIGNALED(status), sigabbrev_np(WTERMSIG(status)));

    /* An ignored signal is dropped; SIG_DFL SIGCONT/SIGWINCH too. */
    signal(SIGTERM, SIG_IGN);
    raise(SIGTERM);
    raise(SIGWINCH);
    printf("survived ignored signals\n");
    return 0;
}
