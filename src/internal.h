/*
 * internal.h - helpers shared by the files of libjarm and jarmsweep; never installed.
 */
#ifndef JARM_INTERNAL_H_
#define JARM_INTERNAL_H_

#include <assert.h>
#include <stddef.h>

#define JARM__ARRAY_SIZE(a)       (sizeof(a) / sizeof((a)[0]))
#define JARM__STATIC_ASSERT(e, m) _Static_assert(e, m)
#define JARM__CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define JARM__UNREACHABLE() __builtin_unreachable()
#define JARM__LIKELY(x)     __builtin_expect(!!(x), 1)
#define JARM__UNLIKELY(x)   __builtin_expect(!!(x), 0)

#endif /* JARM_INTERNAL_H_ */
