/*
 * Maps the app's fd 5 (planted by the sentry via ADDFD, then continued
 * natively) privately and shared. Writes the first 8 bytes of the private
 * mapping to stdout and stores "SHARED!" through the shared one.
 */
#define SYS(n, a, b, c, d, e, f) ({ long _r; register long _r10 __asm__("r10") = (long)(d); register long _r8 __asm__("r8") = (long)(e); register long _r9 __asm__("r9") = (long)(f); __asm__ volatile("syscall" : "=a"(_r) : "a"((long)(n)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)), "r"(_r10), "r"(_r8), "r"(_r9) : "rcx", "r11", "memory"); _r; })

void _start(void) {
    char *p = (char *)SYS(9, 0, 4096, 1 /* PROT_READ */, 2 /* MAP_PRIVATE */, 5, 0);
    if ((long)p < 0)
        SYS(231, 10, 0, 0, 0, 0, 0);
    SYS(1, 1, p, 8, 0, 0, 0);
    char *s = (char *)SYS(9, 0, 4096, 3, 1 /* MAP_SHARED */, 5, 0);
    if ((long)s < 0)
        SYS(231, 11, 0, 0, 0, 0, 0);
    const char msg[] = "SHARED!";
    for (int i = 0; i < 7; i++)
        s[i] = msg[i];
    SYS(231, 0, 0, 0, 0, 0, 0);
}
