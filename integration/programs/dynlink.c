/* Dynamic linking: the interpreter loads libc and libm at start, and
 * dlopen/dlsym load more at run time, so the loader must serve PT_INTERP,
 * file-backed mmap of shared objects, and the auxiliary vector. */
#include <dlfcn.h>
#include <link.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

static int count_objects(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    if (strstr(info->dlpi_name, "libc.so.6"))
        ((int *)data)[0] = 1;
    return 0;
}

int main(void) {
    void *m = dlopen("libm.so.6", RTLD_NOW);
    if (!m) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    double (*cosine)(double) = (double (*)(double))dlsym(m, "cos");
    printf("cos(0) via dlsym = %.3f\n", cosine(0.0));
    int found[1] = {0};
    dl_iterate_phdr(count_objects, found);
    printf("libc.so.6 loaded: %d\n", found[0]);
    printf("AT_PAGESZ = %lu\n", getauxval(AT_PAGESZ));
    printf("AT_SECURE = %lu\n", getauxval(AT_SECURE));
    printf("interpreter mapped: %d\n", getauxval(AT_BASE) != 0);
    dlclose(m);
    void *missing = dlopen("libdoesnotexist.so", RTLD_NOW);
    printf("missing library: %s\n", missing ? "loaded" : "refused");
    return 0;
}
