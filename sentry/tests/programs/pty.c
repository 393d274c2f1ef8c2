/* Pseudo-terminals as an application meets them: a pair from /dev/ptmx,
 * a child that makes the replica its controlling terminal, and a parent
 * that drives it through the master (cooked input with an erase, ^C to
 * the foreground group, a resize, raw mode, hangup). Only the parent
 * prints, so the output is the same wherever it runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t got_int, got_winch;
static void on_int(int s) { (void)s; got_int = 1; }
static void on_winch(int s) { (void)s; got_winch = 1; }

static void say(int fd, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(fd, buf, n) != n) _exit(90);
}

static void wait_for(volatile sig_atomic_t *flag) {
    sigset_t none;
    sigemptyset(&none);
    while (!*flag) sigsuspend(&none);
}

static void child(const char *name) {
    setsid();
    int s = open(name, O_RDWR); /* no O_NOCTTY: becomes the terminal */
    if (s < 0) _exit(91);
    signal(SIGINT, on_int);
    signal(SIGWINCH, on_winch);
    int tty = open("/dev/tty", O_RDWR);
    say(s, "ctty=%d fg=%d devtty=%d isatty=%d ttyname=%d\n",
        tcgetsid(s) == getpid(), tcgetpgrp(s) == getpgrp(), tty >= 0,
        isatty(s), strcmp(ttyname(s), name) == 0);
    struct termios t;
    tcgetattr(s, &t);
    say(s, "icanon=%d echo=%d isig=%d icrnl=%d opost=%d onlcr=%d vmin=%d\n",
        !!(t.c_lflag & ICANON), !!(t.c_lflag & ECHO), !!(t.c_lflag & ISIG),
        !!(t.c_iflag & ICRNL), !!(t.c_oflag & OPOST), !!(t.c_oflag & ONLCR),
        t.c_cc[VMIN]);
    struct winsize ws;
    ioctl(s, TIOCGWINSZ, &ws);
    say(s, "size %d %d\n", ws.ws_row, ws.ws_col);

    char buf[64];
    say(s, "ready1\n");
    int n = read(s, buf, sizeof buf);
    say(s, "read %d [%.*s]\n", n, n > 0 ? n - 1 : 0, buf);

    say(s, "ready2\n");
    wait_for(&got_int);
    say(s, "SIGINT\n");

    say(s, "ready3\n");
    wait_for(&got_winch);
    ioctl(s, TIOCGWINSZ, &ws);
    say(s, "SIGWINCH %d %d\n", ws.ws_row, ws.ws_col);

    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
    struct pollfd p = {.fd = s, .events = POLLIN};
    say(s, "raw poll=%d\nready4\n", poll(&p, 1, 0));
    n = read(s, buf, sizeof buf);
    int queued = -1;
    ioctl(s, FIONREAD, &queued);
    say(s, "raw read %d [%.*s] left %d\n", n, n > 0 ? n : 0, buf, queued);
    _exit(5);
}

/* Reads the master until `marker` has come (or the pair hangs up), and
 * prints what came with \r and controls made visible. */
static void expect(int m, const char *marker) {
    static char seen[8192];
    static size_t len;
    const char *hung_up = NULL;
    for (;;) {
        seen[len] = 0;
        char *at = marker ? strstr(seen, marker) : NULL;
        if (at || hung_up) {
            size_t upto = at ? at - seen + strlen(marker) : len;
            for (size_t i = 0; i < upto; i++) {
                unsigned char c = seen[i];
                if (c == '\r') printf("\\r");
                else if (c == '\n') printf("\\n\n");
                else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
                else putchar(c);
            }
            memmove(seen, seen + upto, len - upto);
            len -= upto;
            if (hung_up) printf("[%s]\n", hung_up);
            return;
        }
        struct pollfd p = {.fd = m, .events = POLLIN};
        if (poll(&p, 1, 10000) != 1) {
            printf("timeout waiting for %s\n", marker ? marker : "hangup");
            exit(1);
        }
        int n = read(m, seen + len, sizeof seen - 1 - len);
        if (n <= 0) {
            if (marker) exit(1);
            hung_up = n < 0 ? strerror(errno) : "eof";
            continue;
        }
        len += n;
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int is = isatty(1);
    printf("isatty(stdout)=%d %s\n", is, strerror(errno));

    pid_t p = fork();
    if (p == 0) {
        setsid();
        _exit(open("/dev/tty", O_RDWR) < 0 && errno == ENXIO ? 6 : 7);
    }
    int st;
    waitpid(p, &st, 0);
    printf("/dev/tty without a terminal: %s\n",
           WEXITSTATUS(st) == 6 ? "ENXIO" : "?");

    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0) return 2;
    char name[64];
    strcpy(name, ptsname(m));
    int ptn = -1;
    ioctl(m, TIOCGPTN, &ptn);
    char expect_name[64];
    snprintf(expect_name, sizeof expect_name, "/dev/pts/%d", ptn);
    printf("ptsname matches TIOCGPTN: %d\n", strcmp(name, expect_name) == 0);
    int locked = open(name, O_RDWR | O_NOCTTY);
    printf("open while locked: %s\n", locked < 0 ? strerror(errno) : "opened");
    unlockpt(m);
    int peer = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    printf("TIOCGPTPEER: %d, master isatty=%d\n", peer >= 0 && isatty(peer), isatty(m));
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(m, TIOCSWINSZ, &ws);

    p = fork();
    if (p == 0) child(name);
    expect(m, "ready1\r\n");
    /* Only now: with no replica open, the master reads EIO. */
    close(peer);
    write(m, "ab\x7f" "c\r", 5);
    expect(m, "ready2\r\n");
    write(m, "\x03", 1);
    expect(m, "ready3\r\n");
    ws.ws_row = 50;
    ws.ws_col = 132;
    ioctl(m, TIOCSWINSZ, &ws);
    expect(m, "ready4\n");
    write(m, "xyz", 3);
    expect(m, NULL);
    waitpid(p, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));

    /* Closing the master hangs the replica up: its session leader gets
     * SIGHUP, and its reads end. */
    m = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(m);
    unlockpt(m);
    strcpy(name, ptsname(m));
    p = fork();
    if (p == 0) {
        close(m);
        setsid();
        int s = open(name, O_RDWR);
        signal(SIGHUP, on_int);
        say(s, "ready5\n");
        wait_for(&got_int);
        char c;
        _exit(read(s, &c, 1) == 0 ? 8 : 9);
    }
    expect(m, "ready5\r\n");
    close(m);
    waitpid(p, &st, 0);
    printf("after hangup: child exit %d\n", WEXITSTATUS(st));
    return 0;
}
