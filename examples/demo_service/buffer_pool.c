/* Buffers are reused from a free list; a buffer that is never released
 * (the caller forgot) stays live forever, which is the leak to find. */
#include "buffer_pool.h"

#include <stdlib.h>

void bufpool_init(struct buffer_pool *pool, size_t max_pooled) {
    pool->free_list = NULL;
    pool->pooled = 0;
    pool->max_pooled = max_pooled;
}

static struct buffer *buffer_new(size_t capacity) {
    struct buffer *buf = malloc(sizeof *buf);
    if (!buf)
        return NULL;
    buf->data = malloc(capacity);
    if (!buf->data) {
        free(buf);
        return NULL;
    }
    buf->capacity = capacity;
    buf->length = 0;
    buf->next = NULL;
    return buf;
}

static void buffer_free(struct buffer *buf) {
    free(buf->data);
    free(buf);
}

struct buffer *bufpool_acquire(struct buffer_pool *pool, size_t capacity) {
    struct buffer **link = &pool->free_list;
    for (; *link; link = &(*link)->next) {
        if ((*link)->capacity >= capacity) {
            struct buffer *buf = *link;
            *link = buf->next;
            pool->pooled--;
            buf->length = 0;
            buf->next = NULL;
            return buf;
        }
    }
    return buffer_new(capacity);
}

void bufpool_release(struct buffer_pool *pool, struct buffer *buf) {
    if (pool->pooled >= pool->max_pooled) {
        buffer_free(buf);
        return;
    }
    buf->next = pool->free_list;
    pool->free_list = buf;
    pool->pooled++;
}

void bufpool_destroy(struct buffer_pool *pool) {
    while (pool->free_list) {
        struct buffer *buf = pool->free_list;
        pool->free_list = buf->next;
        buffer_free(buf);
    }
    pool->pooled = 0;
}
