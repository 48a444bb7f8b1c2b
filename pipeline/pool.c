/* pool.c — fixed 2 KiB packet buffers in one region, a free stack over them.
 *
 * The region is one mmap (2 MiB hugepages when the system has them free,
 * otherwise normal pages) so that a DMA driver can later map it whole; every
 * buffer's IOVA starts as its virtual address and a driver that maps the
 * region through VFIO or pagemap rewrites it.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "vs.h"

static void pool_lock(struct vs_pool *pool) {
    while (atomic_flag_test_and_set_explicit(&pool->lock, memory_order_acquire))
        __builtin_ia32_pause();
}

static void pool_unlock(struct vs_pool *pool) {
    atomic_flag_clear_explicit(&pool->lock, memory_order_release);
}

int vs_pool_init(struct vs_pool *pool, uint32_t n) {
    size_t size = (size_t)n * VS_PKT_BUF_SIZE;
    size_t huge = 2u << 20;
    size_t huge_size = (size + huge - 1) & ~(huge - 1);
    void *mem = mmap(NULL, huge_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        huge_size = size;
        mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            vs_set_error("cannot allocate %zu bytes for %u packet buffers", size, n);
            return -1;
        }
    }
    pool->stack = calloc(n, sizeof(*pool->stack));
    if (!pool->stack) {
        munmap(mem, huge_size);
        vs_set_error("out of memory for the buffer stack");
        return -1;
    }
    pool->mem = mem;
    pool->mem_size = huge_size;
    pool->n = n;
    pool->top = 0;
    atomic_flag_clear(&pool->lock);
    for (uint32_t i = n; i-- > 0;) {
        struct vs_pkt *p = (struct vs_pkt *)(pool->mem + (size_t)i * VS_PKT_BUF_SIZE);
        p->pool_index = i;
        p->iova = (uint64_t)(uintptr_t)p;
        pool->stack[pool->top++] = p;
    }
    return 0;
}

void vs_pool_fini(struct vs_pool *pool) {
    if (pool->mem) munmap(pool->mem, pool->mem_size);
    free(pool->stack);
    memset(pool, 0, sizeof(*pool));
}

/* initial-exec: a plain %fs-relative load, not a __tls_get_addr call per packet */
static __thread struct vs_pool_cache *thread_cache __attribute__((tls_model("initial-exec")));

void vs_pool_cache_attach(struct vs_pool_cache *cache) {
    cache->n = 0;
    thread_cache = cache;
}

void vs_pool_cache_detach(struct vs_pool *pool) {
    struct vs_pool_cache *c = thread_cache;
    if (!c) return;
    pool_lock(pool);
    while (c->n) pool->stack[pool->top++] = c->pkts[--c->n];
    pool_unlock(pool);
    thread_cache = NULL;
}

static struct vs_pkt *take(struct vs_pool *pool) {
    struct vs_pool_cache *c = thread_cache;
    if (VS_LIKELY(c != NULL)) {
        if (VS_UNLIKELY(c->n == 0)) {
            pool_lock(pool);
            while (c->n < VS_POOL_CACHE_BULK && pool->top) c->pkts[c->n++] = pool->stack[--pool->top];
            pool_unlock(pool);
            if (!c->n) return NULL;
        }
        return c->pkts[--c->n];
    }
    struct vs_pkt *p = NULL;
    pool_lock(pool);
    if (pool->top) p = pool->stack[--pool->top];
    pool_unlock(pool);
    return p;
}

struct vs_pkt *vs_pool_alloc(struct vs_pool *pool) {
    struct vs_pkt *p = take(pool);
    if (p) {
        p->data_off = VS_PKT_META_SIZE + VS_PKT_HEADROOM;
        p->len = 0;
        p->in_port = VS_NO_PORT;
        p->in_iface = 0;
        p->arrived_tagged = 0;
        p->vlan_pcp = 0;
        p->flags = 0;
        p->next = NULL;
    }
    return p;
}

void vs_pool_free(struct vs_pool *pool, struct vs_pkt *pkt) {
    struct vs_pool_cache *c = thread_cache;
    if (VS_LIKELY(c != NULL)) {
        if (VS_UNLIKELY(c->n == VS_POOL_CACHE_SIZE)) {
            pool_lock(pool);
            while (c->n > VS_POOL_CACHE_SIZE - VS_POOL_CACHE_BULK) pool->stack[pool->top++] = c->pkts[--c->n];
            pool_unlock(pool);
        }
        c->pkts[c->n++] = pkt;
        return;
    }
    pool_lock(pool);
    pool->stack[pool->top++] = pkt;
    pool_unlock(pool);
}

uint32_t vs_pool_available(struct vs_pool *pool) {
    return pool->top;
}

int vs_ring_init(struct vs_ring *r, uint32_t size) {
    r->slots = calloc(size, sizeof(*r->slots));
    if (!r->slots) return -1;
    r->mask = size - 1;
    atomic_store(&r->head, 0);
    atomic_store(&r->tail, 0);
    return 0;
}

void vs_ring_fini(struct vs_ring *r) {
    free(r->slots);
    r->slots = NULL;
}
