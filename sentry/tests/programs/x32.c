/* An x32 system call number (getpid | 0x40000000): the filter kills it. */
#define SYS(n, a, b, c, d, e, f) ({ long _r; register long _r10 __asm__("r10") = (long)(d); register long _r8 __asm__("r8") = (long)(e); register long _r9 __asm__("r9") = (long)(f); __asm__ volatile("syscall" : "=a"(_r) : "a"((long)(n)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)), "r"(_r10), "r"(_r8), "r"(_r9) : "rcx", "r11", "memory"); _r; })

void _start(void) {
    SYS(0x40000000 | 39, 0, 0, 0, 0, 0, 0);
    SYS(231, 0, 0, 0, 0, 0, 0);
}
