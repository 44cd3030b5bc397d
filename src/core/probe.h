/*
 * probe.h - internals of probe.c shared with the tests.
 */
#ifndef JARM_PROBE_H_
#define JARM_PROBE_H_

#include <stddef.h>

enum jarm__order { FORWARD, REVERSE, TOP_HALF, BOTTOM_HALF, MIDDLE_OUT };

/*
 * The order transforms of jarm(7): write into idx the input positions of list transform
 * `order` (a jarm__order) applied to n items and return the output length, which is at most
 * n (idx needs n slots).
 */
size_t jarm__order_indices(unsigned order, size_t n, size_t *idx);

#endif /* JARM_PROBE_H_ */
