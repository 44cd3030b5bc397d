/*
 * units.c - which of the scanner's units are complete, for --resume.
 *
 * Every target handed to the engine and every row written without a scan is a unit with a
 * sequence number (feed.c numbers them). Units complete out of order: a ring of bits from
 * the low watermark (every unit below it is complete) records the ones above it, and the
 * watermark advances over the completed run at its front. The ring doubles when a unit
 * beyond it is numbered. A resumed run asks, per unit, whether the checkpoint it was given
 * lists it as done.
 */
#include <stdlib.h>

#include "scanner.h"

static int ring_get(const jarm__scanner_t *sc, uint64_t seq)
{
    uint64_t i = seq & (sc->ring_cap - 1);
    return sc->ring[i >> 3] >> (i & 7) & 1;
}

static void ring_set(jarm__scanner_t *sc, uint64_t seq, int v)
{
    uint64_t i = seq & (sc->ring_cap - 1);
    if (v)
        sc->ring[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
        sc->ring[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

int jarm__scanner_unit_done(const jarm__scanner_t *sc, uint64_t seq)
{
    return ring_get(sc, seq);
}

int jarm__units_fit(jarm__scanner_t *sc, uint64_t seq)
{
    uint64_t cap = sc->ring_cap;
    uint8_t *old = sc->ring;
    if (seq - sc->low < cap)
        return 0;
    while (seq - sc->low >= cap)
        cap *= 2;
    sc->ring = calloc(cap / 8, 1);
    if (sc->ring == NULL) {
        sc->ring = old;
        return -1;
    }
    for (uint64_t s = sc->low; s < sc->low + sc->ring_cap; s++) {
        uint64_t i = s & (sc->ring_cap - 1);
        if (old[i >> 3] >> (i & 7) & 1) {
            uint64_t j = s & (cap - 1);
            sc->ring[j >> 3] |= (uint8_t)(1u << (j & 7));
        }
    }
    free(old);
    sc->ring_cap = cap;
    return 0;
}

void jarm__scanner_complete(jarm__scanner_t *sc, uint64_t seq)
{
    if (seq < sc->low)
        return;
    ring_set(sc, seq, 1);
    while (sc->low < sc->seq_next && ring_get(sc, sc->low)) {
        ring_set(sc, sc->low, 0);
        sc->low++;
    }
}

int jarm__units_resumed(const jarm__scanner_t *sc, uint64_t seq)
{
    size_t lo = 0, hi = sc->opts.resume_ndone;
    if (seq < sc->opts.resume_low)
        return 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sc->opts.resume_done[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sc->opts.resume_ndone && sc->opts.resume_done[lo] == seq;
}
