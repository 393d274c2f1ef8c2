/*
 * Probes the confinement. The kernel under test answers getuid by planting
 * a host fd at number 7 (as a file-backed mmap would leave behind); read on
 * it must still be trapped, as must mount, ptrace and bpf. Writes one byte
 * per probe: 'T' when the call returned what the test kernel answers.
 */
#define SYS(n, a, b, c, d, e, f) ({ long _r; register long _r10 __asm__("r10") = (long)(d); register long _r8 __asm__("r8") = (long)(e); register long _r9 __asm__("r9") = (long)(f); __asm__ volatile("syscall" : "=a"(_r) : "a"((long)(n)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)), "r"(_r10), "r"(_r8), "r"(_r9) : "rcx", "r11", "memory"); _r; })

void _start(void) {
    char buf[16];
    char out[4];
    SYS(102, 0, 0, 0, 0, 0, 0);
    out[0] = SYS(0, 7, buf, sizeof buf, 0, 0, 0) == -9 ? 'T' : 'N';        /* EBADF */
    out[1] = SYS(165, "none", "/", "tmpfs", 0, 0, 0) == -1 ? 'T' : 'N';   /* EPERM */
    out[2] = SYS(101, 0, 1, 0, 0, 0, 0) == -1 ? 'T' : 'N';                /* EPERM */
    out[3] = SYS(321, 0, 0, 0, 0, 0, 0) == -38 ? 'T' : 'N';               /* ENOSYS */
    SYS(1, 1, out, 4, 0, 0, 0);
    SYS(231, 0, 0, 0, 0, 0, 0);
}
