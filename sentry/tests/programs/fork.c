/*
 * Pids are the host's, in the tree's own pid namespace. The init (pid 1)
 * forks; the child checks getppid() == 1 and gettid() == getpid(), makes one
 * trapped call (getuid) and exits with its own getpid(). The parent exits 5
 * if fork() returned exactly that number and wait reported it, else 10-14.
 */
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    if (getpid() != 1)
        return 14;
    pid_t pid = fork();
    if (pid < 0)
        return 10;
    if (pid == 0) {
        getuid();
        if (getppid() != 1 || syscall(SYS_gettid) != getpid())
            _exit(99);
        _exit(getpid());
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return 11;
    if (!WIFEXITED(status))
        return 12;
    return WEXITSTATUS(status) == pid ? 5 : 13;
}
