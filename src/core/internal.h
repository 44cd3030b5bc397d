/*
 * internal.h - helpers shared by the files of libjarm and jarmsweep; never installed.
 */
#ifndef JARM_INTERNAL_H_
#define JARM_INTERNAL_H_

#include <assert.h>
#include <stddef.h>
#include <string.h>

#define JARM__ARRAY_SIZE(a)       (sizeof(a) / sizeof((a)[0]))
#define JARM__STATIC_ASSERT(e, m) _Static_assert(e, m)
#define JARM__CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define JARM__UNREACHABLE() __builtin_unreachable()
#define JARM__LIKELY(x)     __builtin_expect(!!(x), 1)
#define JARM__UNLIKELY(x)   __builtin_expect(!!(x), 0)

/*
 * A bounded text writer: bytes past cap are dropped but counted, so after the last write
 * len is the size the whole text needs (the ENOBUFS convention of the public API).
 */
typedef struct jarm__out_s {
    char *p;
    size_t len, cap;
} jarm__out_t;

static inline void jarm__out_put(jarm__out_t *o, const void *s, size_t n)
{
    if (n > 0 && o->len < o->cap && n <= o->cap - o->len)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}

static inline void jarm__out_puts(jarm__out_t *o, const char *s)
{
    jarm__out_put(o, s, strlen(s));
}

#endif /* JARM_INTERNAL_H_ */
