/* Threads contending on a mutex built directly on futex(2), plus a
 * FUTEX_WAIT/FUTEX_WAKE ping-pong and pthread joins: the paths a sandbox
 * must leave to the host kernel (futex) or serve (clone, exit, join). */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 20000
#define PINGS 1000

static atomic_int lock_word; /* 0 free, 1 locked, 2 locked with waiters */
static long counter;
static atomic_int turn;

static long futex(atomic_int *addr, int op, int val) {
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static void lock(void) {
    int c = 0;
    if (atomic_compare_exchange_strong(&lock_word, &c, 1))
        return;
    if (c != 2)
        c = atomic_exchange(&lock_word, 2);
    while (c != 0) {
        futex(&lock_word, FUTEX_WAIT_PRIVATE, 2);
        c = atomic_exchange(&lock_word, 2);
    }
}

static void unlock(void) {
    if (atomic_fetch_sub(&lock_word, 1) != 1) {
        atomic_store(&lock_word, 0);
        futex(&lock_word, FUTEX_WAKE_PRIVATE, 1);
    }
}

static void *adder(void *arg) {
    for (int i = 0; i < ROUNDS; i++) {
        lock();
        counter++;
        unlock();
    }
    return arg;
}

/* Two threads hand a token back and forth, sleeping on the futex word. */
static void *pinger(void *arg) {
    int me = (int)(long)arg;
    for (int i = 0; i < PINGS; i++) {
        while (atomic_load(&turn) != me)
            futex(&turn, FUTEX_WAIT_PRIVATE, !me);
        atomic_store(&turn, !me);
        futex(&turn, FUTEX_WAKE_PRIVATE, 1);
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, adder, (void *)i);
    long joined = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        joined += (long)ret;
    }
    printf("counter %ld (expected %d)\n", counter, THREADS * ROUNDS);
    printf("joined %ld\n", joined);

    pthread_t a, b;
    pthread_create(&a, NULL, pinger, (void *)0L);
    pthread_create(&b, NULL, pinger, (void *)1L);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("ping-pong done, turn %d\n", atomic_load(&turn));

    /* A wait on a changed value returns at once with EAGAIN. */
    atomic_int word = 5;
    long r = futex(&word, FUTEX_WAIT_PRIVATE, 4);
    printf("futex wait on stale value: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
    return 0;
}
