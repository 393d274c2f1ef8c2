/* Writes each argument followed by a NUL byte, so a test can see exactly
 * which argument vector a #! script produced. */
#include <stdio.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        fwrite(argv[i], 1, __builtin_strlen(argv[i]) + 1, stdout);
    return 0;
}
