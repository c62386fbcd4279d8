/* A pool of I/O buffers: acquire one per response, release it when sent. */
#ifndef DEMO_BUFFER_POOL_H
#define DEMO_BUFFER_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct buffer {
    char *data;
    size_t capacity;
    size_t length;
    struct buffer *next; /* free list link while pooled */
};

struct buffer_pool {
    struct buffer *free_list;
    size_t pooled;
    size_t max_pooled;
};

void bufpool_init(struct buffer_pool *pool, size_t max_pooled);
struct buffer *bufpool_acquire(struct buffer_pool *pool, size_t capacity);
void bufpool_release(struct buffer_pool *pool, struct buffer *buf);
void bufpool_destroy(struct buffer_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
