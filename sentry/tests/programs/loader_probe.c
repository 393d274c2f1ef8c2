/* Reports what Linux set up for this process at exec, for comparison with
 * the sentry's loader: brk and argument ranges from /proc/self/stat, the
 * stack top from /proc/self/maps, the auxiliary vector, and the raw bytes
 * of the initial stack from the entry stack pointer to the top. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
    /* argv sits right above argc, where the entry rsp pointed. */
    uintptr_t sp = (uintptr_t)argv - 8;
    unsigned long lo, hi, top = 0;
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
            top = hi;

    char stat[4096] = {0};
    FILE *sf = fopen("/proc/self/stat", "r");
    if (!sf || !fgets(stat, sizeof stat, sf))
        return 1;
    /* Fields from the third on follow the command name's ')'. */
    char *p = strrchr(stat, ')') + 2;
    unsigned long field[64] = {0};
    for (int i = 3; i < 64 && p && *p; i++) {
        sscanf(p, "%lu", &field[i]);
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);

    printf("sp %lx\ntop %lx\nstart_brk %lx\n", (unsigned long)sp, top, field[47]);
    printf("arg_start %lx\narg_end %lx\nenv_start %lx\nenv_end %lx\n", field[48], field[49], field[50], field[51]);
    printf("rlimit %lx\n", (unsigned long)rl.rlim_cur);

    char **e = argv + argc + 1;
    while (*e)
        e++;
    for (uint64_t *a = (uint64_t *)(e + 1);; a += 2) {
        printf("aux %lx %lx\n", (unsigned long)a[0], (unsigned long)a[1]);
        if (a[0] == 0)
            break;
    }
    printf("stack ");
    for (uintptr_t q = sp; q < top; q++)
        printf("%02x", *(unsigned char *)q);
    printf("\n");
    return 0;
}
