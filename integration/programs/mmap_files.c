/* File-backed memory: MAP_PRIVATE copies on write and never reaches the
 * file; MAP_SHARED writes reach the file, other mappings and read(2);
 * shared anonymous memory is shared with a forked child; mprotect and
 * mremap behave. The file-backed paths are where a sandbox must hand the
 * host a real file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE 8192

int main(void) {
    const char *path = "/tmp/mapped";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, SIZE) != 0) {
        perror("setup");
        return 1;
    }
    if (pwrite(fd, "original", 8, 0) != 8)
        return 1;

    char buf[16] = {0};
    char *priv = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    memcpy(priv, "PRIVATE!", 8);
    if (pread(fd, buf, 8, 0) != 8)
        return 1;
    printf("after MAP_PRIVATE write, file has: %s, mapping has: %.8s\n", buf, priv);

    char *shared = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *shared2 = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
    memcpy(shared + 4096, "second-page", 11);
    memcpy(shared, "SHARED!!", 8);
    msync(shared, SIZE, MS_SYNC);
    if (pread(fd, buf, 8, 0) != 8)
        return 1;
    printf("after MAP_SHARED write, file has: %s, other mapping has: %.8s, %.11s\n", buf, shared2, shared2 + 4096);
    printf("private mapping still has: %.8s\n", priv);

    /* A write through the fd is visible in the shared mapping. */
    if (pwrite(fd, "written!", 8, 0) != 8)
        return 1;
    printf("after pwrite, shared mapping has: %.8s\n", shared);

    /* A second descriptor of the same file sees it too. */
    int fd2 = open(path, O_RDONLY);
    char *ro = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd2, 0);
    printf("through a second open: %.8s\n", ro);
    close(fd2);
    munmap(ro, SIZE);

    /* Shared anonymous memory crosses fork. */
    int *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *counter = 1;
    pid_t pid = fork();
    if (pid == 0) {
        *counter = 42;
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("child wrote shared anonymous memory: %d\n", *counter);

    /* Private anonymous memory does not. */
    int *mine = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *mine = 1;
    pid = fork();
    if (pid == 0) {
        *mine = 42;
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("child wrote private anonymous memory: %d\n", *mine);

    /* mremap grows a mapping, keeping its contents. */
    char *grown = mremap(shared, SIZE, SIZE * 2, MREMAP_MAYMOVE);
    printf("mremap kept contents: %.8s\n", grown == MAP_FAILED ? "failed" : grown);

    /* Mapping a read-only fd writable and shared fails with EACCES. */
    int rofd = open(path, O_RDONLY);
    void *bad = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rofd, 0);
    printf("writable shared map of O_RDONLY fd: %s\n", bad == MAP_FAILED ? strerrorname_np(errno) : "mapped");

    munmap(priv, SIZE);
    munmap(shared2, SIZE);
    close(fd);
    close(rofd);
    return 0;
}
