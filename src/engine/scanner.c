/*
 * scanner.c - the engine-side scanner.
 */
#include <stdlib.h>

#include "scanner.h"

/* Allocation points left before the one that fails; -1: none fails. Tests only. */
static long fault_left = -1;

void jarm__fault_arm(void)
{
    const char *s = getenv("JARMSWEEP_TEST_FAIL_ALLOC");
    long n = s != NULL ? strtol(s, NULL, 10) : 0;
    __atomic_store_n(&fault_left, n > 0 ? n - 1 : -1, __ATOMIC_RELAXED);
}

int jarm__fault(void)
{
    long n = __atomic_load_n(&fault_left, __ATOMIC_RELAXED);
    if (n < 0)
        return 0;
    return __atomic_fetch_sub(&fault_left, 1, __ATOMIC_RELAXED) == 0;
}
