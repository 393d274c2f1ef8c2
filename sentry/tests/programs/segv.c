/* Writes to page zero with the default SIGSEGV action; no libc. */
void _start(void) {
    *(volatile long *)0 = 1;
    for (;;)
        ;
}
