/*
 * A C program that frees everything it allocates itself but leaves glibc
 * its usual end-of-process caches: stdio buffers, locale, time zone,
 * thread stacks. Its report must be empty and its output and exit status
 * unchanged.
 */
#define _GNU_SOURCE
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *worker(void *arg) {
    long n = (long)arg;
    char *p = malloc(100 + n);
    snprintf(p, 100 + n, "thread %ld", n);
    free(p);
    return NULL;
}

int main(void) {
    setlocale(LC_ALL, "C.UTF-8");
    time_t t = 86400 * 365;
    struct tm tm;
    localtime_r(&t, &tm);
    char *s = strdup("clean");
    printf("%s %d\n", s, tm.tm_year);
    free(s);

    FILE *f = tmpfile();
    if (f != NULL) {
        fprintf(f, "buffered %d\n", 42);
        fclose(f);
    }

    pthread_t th[4];
    for (long i = 0; i < 4; ++i)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; ++i)
        pthread_join(th[i], NULL);
    printf("report_clean done\n");
    return 0;
}
