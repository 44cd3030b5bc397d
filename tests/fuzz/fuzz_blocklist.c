/*
 * fuzz_blocklist.c - the blocklist file format (jarm__blocklist_parse) on arbitrary bytes.
 *
 * The input is a blocklist file. Properties checked:
 *   - parsing never crashes; on failure the message is "fuzz:LINE: bad CIDR '...'" and
 *     nothing was painted (the list is still all allowed);
 *   - on success the count equals the number of non-blank, non-comment lines, and for every
 *     entry (re-parsed here line by line) its first and last address are denied when painted
 *     over an allowed list, and allowed - with exactly its size counted - when painted over
 *     a denied list;
 *   - both lists stay in normal form: sorted, disjoint, non-adjacent, inside the family.
 * Any violation aborts.
 */
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include "blocklist.h"
#include "fuzz.h"

/* At most this many entries are checked one by one, to keep each run fast. */
#define CHECK_MAX 256

static void check_normal(const jarm__ivlset_t *s, int family)
{
    jarm__u128_t max = jarm__u128_family_max(family);
    for (size_t i = 0; i < s->n; i++) {
        FUZZ_CHECK(jarm__u128_cmp(s->v[i].lo, s->v[i].hi) <= 0);
        FUZZ_CHECK(jarm__u128_cmp(s->v[i].hi, max) <= 0);
        if (i > 0) /* strictly after the previous one, with a gap */
            FUZZ_CHECK(jarm__u128_cmp(jarm__u128_add64(s->v[i - 1].hi, 1), s->v[i].lo) < 0);
    }
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    jarm__blocklist_t deny, allow;
    char err[256] = "";
    int64_t n1, n2;
    size_t at = 0, entries = 0, checked = 0;

    FUZZ_CHECK(jarm__blocklist_init(&deny, 1) == 0);
    FUZZ_CHECK(jarm__blocklist_init(&allow, 0) == 0);
    n1 = jarm__blocklist_parse(&deny, "fuzz", buf, size, 0, err, sizeof(err));
    if (n1 < 0) {
        FUZZ_CHECK(strncmp(err, "fuzz:", 5) == 0);
        FUZZ_CHECK(strstr(err, ": bad CIDR '") != NULL || strstr(err, "out of memory") != NULL);
        /* All or nothing: still exactly the initial everything-allowed list. */
        FUZZ_CHECK(deny.v4.n == 1 && deny.v6.n == 1 && deny.entries == 0);
        goto Exit;
    }
    n2 = jarm__blocklist_parse(&allow, "fuzz", buf, size, 1, err, sizeof(err));
    FUZZ_CHECK(n2 == n1);
    check_normal(&deny.v4, AF_INET);
    check_normal(&deny.v6, AF_INET6);
    check_normal(&allow.v4, AF_INET);
    check_normal(&allow.v6, AF_INET6);

    while (at < size) {
        const char *line = buf + at, *nl = memchr(line, '\n', size - at), *hash;
        size_t ll = nl ? (size_t)(nl - line) : size - at;
        jarm__range_t r;

        at += ll + (nl != NULL);
        if ((hash = memchr(line, '#', ll)) != NULL)
            ll = (size_t)(hash - line);
        while (ll > 0 && is_space(line[0])) {
            line++;
            ll--;
        }
        while (ll > 0 && is_space(line[ll - 1]))
            ll--;
        if (ll == 0)
            continue;
        entries++;
        FUZZ_CHECK(jarm__cidr_parse(line, ll, &r) == 0);
        if (checked++ >= CHECK_MAX)
            continue;
        FUZZ_CHECK(!jarm__blocklist_allowed(&deny, r.family, r.first));
        FUZZ_CHECK(!jarm__blocklist_allowed(&deny, r.family, r.last));
        FUZZ_CHECK(jarm__blocklist_count(&deny, &r) == 0);
        /* Over a denied list the IPv4-mapped part of an entry (::ffff:0:0/96) also needs
         * its IPv4 addresses allowed: skip entries that touch it. */
        if (r.family == AF_INET6 && r.first.hi == 0 && r.first.lo <= 0x0000ffffffffffffu &&
            (r.last.hi != 0 || r.last.lo >= 0x0000ffff00000000u))
            continue;
        FUZZ_CHECK(jarm__blocklist_allowed(&allow, r.family, r.first));
        FUZZ_CHECK(jarm__blocklist_allowed(&allow, r.family, r.last));
        FUZZ_CHECK(jarm__blocklist_count(&allow, &r) == jarm__range_count(&r));
    }
    FUZZ_CHECK((int64_t)entries == n1);
Exit:
    jarm__blocklist_free(&deny);
    jarm__blocklist_free(&allow);
    return 0;
}
