/* Forks while other threads allocate with deep stacks: every child must
 * allocate and exit. `fork_stress FORKERS ALLOCATORS FORKS`: FORKERS threads
 * fork FORKS times in all, ALLOCATORS threads allocate meanwhile. A child
 * that has not exited within CHILD_WAIT_S seconds is a hang: it is killed,
 * counted, and the program exits 1. Prints "forks=N hangs=H". */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_WAIT_S 10

static int g_forks_left;
static int g_forks_done;
static int g_hangs;
static int g_failed;
static volatile int g_stop;
static pthread_mutex_t g_count_lock = PTHREAD_MUTEX_INITIALIZER;
void *volatile g_sink;

/* No rand(): its lock, held by another thread at the fork, would hang the
 * child without any runtime. */
__attribute__((noinline)) static void allocate_deep(int depth) {
    if (depth > 0) {
        allocate_deep(depth - 1);
        __asm__ volatile("" ::: "memory"); /* keeps the call out of tail position */
        return;
    }
    static __thread unsigned n;
    void *p = malloc(32 + (size_t)(n++ * 37 % 256));
    g_sink = p;
    free(p);
}

static void *short_lived(void *arg) {
    (void)arg;
    allocate_deep(40);
    return NULL;
}

/* Allocates with stacks 20 to 60 frames deep; now and then through a new
 * thread, whose unwinder caches start empty, so that libunwind and the
 * loader's lock keep being used while the forks happen. */
static void *allocator(void *arg) {
    (void)arg;
    unsigned n = 0;
    while (!g_stop) {
        allocate_deep(20 + (int)(n++ % 40));
        if (n % 64 == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, short_lived, NULL) == 0)
                pthread_join(t, NULL);
        }
    }
    return NULL;
}

/* Waits for `child` at most CHILD_WAIT_S seconds; kills it if it hangs. */
static void reap(pid_t child) {
    struct timespec pause = {0, 1000000};
    for (long waited_us = 0; waited_us < CHILD_WAIT_S * 1000000L; waited_us += 1000) {
        int status;
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                pthread_mutex_lock(&g_count_lock);
                ++g_failed;
                pthread_mutex_unlock(&g_count_lock);
            }
            return;
        }
        nanosleep(&pause, NULL);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    pthread_mutex_lock(&g_count_lock);
    ++g_hangs;
    pthread_mutex_unlock(&g_count_lock);
}

static void *forker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_count_lock);
        const int mine = g_forks_left-- > 0;
        pthread_mutex_unlock(&g_count_lock);
        if (!mine)
            return NULL;
        pid_t child = fork();
        if (child == 0) {
            allocate_deep(30);
            g_sink = malloc(64);
            exit(0);
        }
        if (child < 0) {
            perror("fork");
            pthread_mutex_lock(&g_count_lock);
            ++g_failed;
            pthread_mutex_unlock(&g_count_lock);
            continue;
        }
        reap(child);
        pthread_mutex_lock(&g_count_lock);
        ++g_forks_done;
        pthread_mutex_unlock(&g_count_lock);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: fork_stress FORKERS ALLOCATORS FORKS\n");
        return 2;
    }
    const int forkers = atoi(argv[1]), allocators = atoi(argv[2]);
    g_forks_left = atoi(argv[3]);
    pthread_t threads[64];
    if (forkers + allocators > 64)
        return 2;
    for (int i = 0; i < allocators; ++i)
        pthread_create(&threads[i], NULL, allocator, NULL);
    for (int i = 0; i < forkers; ++i)
        pthread_create(&threads[allocators + i], NULL, forker, NULL);
    for (int i = 0; i < forkers; ++i)
        pthread_join(threads[allocators + i], NULL);
    g_stop = 1;
    for (int i = 0; i < allocators; ++i)
        pthread_join(threads[i], NULL);
    printf("forks=%d hangs=%d failed=%d\n", g_forks_done, g_hangs, g_failed);
    return g_hangs || g_failed ? 1 : 0;
}
