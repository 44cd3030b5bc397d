/*
 * fuzz_targetspec.c - the target grammar from files and argv: ranges (jarm__range_parse),
 * single targets (jarm__target_parse), port lists (jarm__ports_parse) and shards
 * (jarm__shard_parse), on arbitrary bytes.
 *
 * The input is one line. Properties checked:
 *   - a range has a valid family, first <= last <= the family's maximum, at most 2^62
 *     addresses, and without force an IPv6 range at most 2^32; force only ever widens what
 *     is accepted; its "first-last" text parses back to the same range; a small range
 *     walks completely through the iterator (two shards, two ports);
 *   - a refused range comes with a message starting "bad ";
 *   - a line that is not a range gets a verdict from jarm__target_parse with a consistent
 *     host (NUL-terminated at host_len) or a message;
 *   - the same bytes as a port list yield 1..65535 only, at most the room given, or -1
 *     with a message; as a shard, 0 <= I < N.
 * Any violation aborts.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "fuzz.h"
#include "iter.h"
#include "target.h"

static uint16_t ports[65536];

static void check_range(const jarm__range_t *r, unsigned flags)
{
    char text[JARM__RANGE_STRLEN], err[160];
    jarm__range_t back;
    uint64_t count = jarm__range_count(r);

    FUZZ_CHECK(r->family == AF_INET || r->family == AF_INET6);
    FUZZ_CHECK(jarm__u128_cmp(r->first, r->last) <= 0);
    FUZZ_CHECK(jarm__u128_cmp(r->last, jarm__u128_family_max(r->family)) <= 0);
    FUZZ_CHECK(count >= 1 && count <= JARM__RANGE_MAX);
    if (r->family == AF_INET6 && !(flags & JARM__RANGE_FORCE))
        FUZZ_CHECK(count <= JARM__RANGE_V6_LIMIT);
    FUZZ_CHECK(jarm__range_format(r, text, sizeof(text)) > 0);
    FUZZ_CHECK(jarm__range_parse(text, strlen(text), JARM__RANGE_FORCE, &back, err, sizeof(err)) ==
               JARM__RANGE_OK);
    FUZZ_CHECK(back.family == r->family && jarm__u128_cmp(back.first, r->first) == 0 &&
               jarm__u128_cmp(back.last, r->last) == 0);

    if (count <= 64) {
        const uint16_t two[] = {443, 8443};
        uint64_t seen = 0;
        for (uint32_t s = 0; s < 2; s++) {
            jarm__iter_t it;
            struct sockaddr_storage ss;
            uint64_t idx;
            FUZZ_CHECK(jarm__iter_init(&it, r, 1, two, 2, count, s, 2, NULL, err, sizeof(err)) ==
                       0);
            FUZZ_CHECK(jarm__iter_total(&it) == 2 * count);
            while (jarm__iter_next(&it, &ss, &idx)) {
                FUZZ_CHECK(ss.ss_family == r->family);
                seen++;
            }
            jarm__iter_free(&it);
        }
        FUZZ_CHECK(seen == 2 * count);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    jarm__range_t r0, r1;
    jarm__target_spec_t t;
    char err[160] = "", *z;
    int k0, k1, n;
    uint32_t si, sn;

    k0 = jarm__range_parse(line, size, 0, &r0, err, sizeof(err));
    FUZZ_CHECK(k0 == JARM__RANGE_NONE || k0 == JARM__RANGE_OK || k0 == JARM__RANGE_BAD);
    if (k0 == JARM__RANGE_BAD)
        FUZZ_CHECK(strncmp(err, "bad ", 4) == 0);
    err[0] = '\0';
    k1 = jarm__range_parse(line, size, JARM__RANGE_FORCE, &r1, err, sizeof(err));
    /* The classification does not depend on force, only the size limit does. */
    FUZZ_CHECK((k0 == JARM__RANGE_NONE) == (k1 == JARM__RANGE_NONE));
    if (k0 == JARM__RANGE_OK) {
        FUZZ_CHECK(k1 == JARM__RANGE_OK);
        FUZZ_CHECK(r0.family == r1.family && jarm__u128_cmp(r0.first, r1.first) == 0 &&
                   jarm__u128_cmp(r0.last, r1.last) == 0);
        check_range(&r0, 0);
    }
    if (k1 == JARM__RANGE_OK)
        check_range(&r1, JARM__RANGE_FORCE);
    if (k1 == JARM__RANGE_BAD)
        FUZZ_CHECK(strncmp(err, "bad ", 4) == 0);
    /* An error message never depends on a size of buffer it was not given. */
    FUZZ_CHECK(jarm__range_parse(line, size, 0, &r0, NULL, 0) == k0);

    if (k0 == JARM__RANGE_NONE) {
        jarm__target_parse(line, size, &t);
        switch (t.kind) {
        case JARM__TARGET_SKIP:
            break;
        case JARM__TARGET_IP:
        case JARM__TARGET_NAME:
            FUZZ_CHECK(t.kind == JARM__TARGET_NAME || t.addr.ss_family == AF_INET ||
                       t.addr.ss_family == AF_INET6);
            FUZZ_CHECK(t.host_len > 0 && t.host_len <= JARM_HOST_MAX);
            FUZZ_CHECK(strlen(t.host) == t.host_len);
            break;
        case JARM__TARGET_BAD:
            FUZZ_CHECK(t.error[0] != '\0');
            break;
        default:
            FUZZ_CHECK(0);
        }
    }

    /* The same bytes as --ports and --shard values (NUL-terminated strings there). */
    z = malloc(size + 1);
    FUZZ_CHECK(z != NULL);
    if (size > 0)
        memcpy(z, data, size);
    z[size] = '\0';
    n = jarm__ports_parse(z, ports, 1024, err, sizeof(err));
    if (n < 0) {
        FUZZ_CHECK(err[0] != '\0');
    } else {
        FUZZ_CHECK(n >= 1 && n <= 1024);
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(ports[i] != 0);
    }
    if (jarm__shard_parse(z, &si, &sn, err, sizeof(err)) == 0)
        FUZZ_CHECK(si < sn);
    free(z);
    return 0;
}
