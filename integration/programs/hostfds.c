/* What descriptors the container's init can find: exactly its stdio. It
 * probes every number with fcntl, tries to map guessed numbers (a host FD
 * left in the process would map), and counts /proc/self/fd entries. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    printf("open fds:");
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            printf(" %d", fd);
    printf("\n");
    int mapped = 0;
    for (int fd = 3; fd < 1024; fd++) {
        void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            mapped++;
            munmap(p, 4096);
        }
    }
    printf("mappable guessed fds: %d\n", mapped);
    int links = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                links++;
        closedir(d);
    }
    /* The directory stream itself is one of them. */
    printf("fd links: %d\n", links - 1);
    return 0;
}
