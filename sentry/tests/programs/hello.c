/* write(1, "hello\n", 6), then exit_group(3); no libc. */
#define SYS(n, a, b, c, d, e, f) ({ long _r; register long _r10 __asm__("r10") = (long)(d); register long _r8 __asm__("r8") = (long)(e); register long _r9 __asm__("r9") = (long)(f); __asm__ volatile("syscall" : "=a"(_r) : "a"((long)(n)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)), "r"(_r10), "r"(_r8), "r"(_r9) : "rcx", "r11", "memory"); _r; })

void _start(void) {
    SYS(1, 1, "hello\n", 6, 0, 0, 0);
    SYS(231, 3, 0, 0, 0, 0, 0);
}
