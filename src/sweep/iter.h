/*
 * iter.h - a sweep's targets: ranges x ports, in a seeded random order, one shard of it,
 * minus the blocklist, without materialising anything.
 *
 * The index space. The ranges are sorted and merged (overlapping or adjacent ranges are
 * scanned once), IPv4 before IPv6, and numbered consecutively: address number a is the
 * a-th address of that union. The ports are deduplicated, keeping their first order. Target
 * t in [0, total) is address t / nports on port ports[t % nports]; total = addresses x
 * ports. The permutation (cyclic.h) walks [0, total) in seed order and the shard takes its
 * share; the blocklist is applied last, so the order, the shards and every index below are
 * the same whatever the blocklist says (a blocklist edited between a run and its resume
 * changes what is visited, never where the run is).
 *
 * Positions and resume. Each shard has jarm__iter_length() positions, numbered from 0; a
 * position holds at most one target. jarm__iter_next() returns targets in increasing
 * position order together with their position (the "index"): it is stable, a function of
 * (ranges, ports, seed, shard) only, so it names the target across runs. A checkpoint is:
 *   - P = jarm__iter_position(): everything at a position < P has been handed out; or
 *   - when targets complete out of order (they do: many are in flight), a low watermark W
 *     (every target below W is done) plus the set of done indices >= W.
 * A resumed run built from the same arguments calls jarm__iter_seek(W) (O(log p)) and
 * skips the indices in the set: nothing is repeated, nothing lost. jarm__iter_digest()
 * identifies the arguments, for the checkpoint to be checked against.
 *
 * Memory: the struct plus a copy of the merged ranges and the ports, whatever the size of
 * the ranges: a /8 x 3 ports costs what one target does.
 */
#ifndef JARM_ITER_H_
#define JARM_ITER_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "blocklist.h"
#include "cyclic.h"
#include "range.h"

typedef struct jarm__iter_s {
    jarm__range_t *ranges; /* merged, sorted, IPv4 first; owned */
    uint64_t *ends;        /* ends[r]: addresses in ranges[0..r]; owned */
    size_t nranges;
    uint16_t *ports; /* deduplicated; owned */
    size_t nports;
    uint64_t naddrs;                    /* addresses in the ranges */
    uint64_t total;                     /* naddrs x nports: targets of all shards */
    uint64_t allowed;                   /* of those, allowed by the blocklist */
    uint64_t seed;                      /* as given */
    const jarm__blocklist_t *blocklist; /* borrowed; NULL: everything allowed */
    jarm__cyclic_t cyc;
    uint64_t emitted; /* targets returned by jarm__iter_next */
    uint64_t blocked; /* targets stepped over because the blocklist denies them */
} jarm__iter_t;

/*
 * Prepare the walk of shard shard_i of shard_n (shard_i < shard_n <= 2^32) over the
 * nranges ranges (any order, may overlap; IPv4 and IPv6 may mix) times the nports ports
 * (1..65535, duplicates ignored), in the order chosen by seed. ranges and ports are copied;
 * blocklist is borrowed and must outlive the iterator (NULL: no blocklist). Returns 0, or
 * -1 with a one-line message in err: no ports, port 0, bad shard, more than
 * JARM__CYCLIC_MAX (2^62) targets, out of memory. No ranges at all is an empty sweep.
 * Release with jarm__iter_free.
 */
int jarm__iter_init(jarm__iter_t *it, const jarm__range_t *ranges, size_t nranges,
                    const uint16_t *ports, size_t nports, uint64_t seed, uint32_t shard_i,
                    uint32_t shard_n, const jarm__blocklist_t *blocklist, char *err, size_t errlen);

/* Release what it owns. */
void jarm__iter_free(jarm__iter_t *it);

/*
 * The next allowed target of the shard: returns 1, with the address and port in *addr and
 * its position in *index (may be NULL), or 0 when the shard is done (and on every later
 * call). Denied targets are counted in it->blocked and stepped over.
 */
int jarm__iter_next(jarm__iter_t *it, struct sockaddr_storage *addr, uint64_t *index);

/*
 * Continue at position pos: the next jarm__iter_next returns the first allowed target at a
 * position >= pos. pos >= jarm__iter_length() ends the walk. O(log p). The counters are
 * left alone.
 */
void jarm__iter_seek(jarm__iter_t *it, uint64_t pos);

/*
 * The target at position pos of this shard, without moving: returns 1 and fills *addr if
 * pos holds a target the blocklist allows; 0 otherwise (no target there, denied, or pos
 * beyond the end). O(log p).
 */
int jarm__iter_at(const jarm__iter_t *it, uint64_t pos, struct sockaddr_storage *addr);

/* The position the next jarm__iter_next starts looking at (all below it are handed out). */
static inline uint64_t jarm__iter_position(const jarm__iter_t *it)
{
    return it->cyc.pos;
}

/* Positions in this shard; jarm__iter_position() / this is the shard's progress. */
static inline uint64_t jarm__iter_length(const jarm__iter_t *it)
{
    return it->cyc.len;
}

/* Targets of the whole sweep (all shards), before the blocklist: addresses x ports. */
static inline uint64_t jarm__iter_total(const jarm__iter_t *it)
{
    return it->total;
}

/* Targets of the whole sweep that the blocklist allows (saturated at UINT64_MAX). A shard
 * gets about allowed / shard_n of them. */
static inline uint64_t jarm__iter_allowed(const jarm__iter_t *it)
{
    return it->allowed;
}

/*
 * A 64-bit digest of what fixes every position: the merged ranges, the ports, the seed and
 * the shard (not the blocklist). A checkpoint stores it; a resume with a different digest
 * would visit other targets at the saved positions and must be refused.
 */
uint64_t jarm__iter_digest(const jarm__iter_t *it);

/*
 * Parse "I/N" (--shard): 0 <= I < N <= 2^32 - 1, decimal. Returns 0, or -1 with a message
 * in err.
 */
int jarm__shard_parse(const char *s, uint32_t *shard_i, uint32_t *shard_n, char *err,
                      size_t errlen);

#endif /* JARM_ITER_H_ */
