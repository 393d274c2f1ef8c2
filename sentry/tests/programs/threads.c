/* Four pthreads, each making a trapped write; exits 0 after joining them. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static void *worker(void *arg) {
    char msg[] = "thread ?\n";
    msg[7] = '0' + (int)(long)arg;
    write(1, msg, strlen(msg));
    return NULL;
}

int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 10;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    return 0;
}
