/*
 * fuzz_jsonput.c - the JSON string writer (jarm__json_put) on arbitrary bytes.
 *
 * Properties checked, in both modes:
 *   - the output is one JSON string that the tree's reader (jarm__json_parse) accepts;
 *   - it decodes to the input with every byte that was escaped as \u00XX turned into the
 *     code point U+00XX: exactly the input when the input is valid UTF-8 (default mode) or
 *     printable ASCII (ASCII mode);
 *   - in ASCII mode the output is printable ASCII only;
 *   - a writer with too little room writes nothing past it and counts the same length.
 * Any violation aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonread.h"
#include "util.h"

/* What the reader must give back: input bytes, with those the writer escapes as \u00XX
 * (bytes >= 0x80 that are not part of well-formed UTF-8, or every byte >= 0x80 in ASCII
 * mode) as the UTF-8 of U+00XX. */
static size_t expected(const uint8_t *in, size_t n, unsigned flags, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t l = in[i] < 0x80                 ? 1
                   : (flags & JARM__JSON_ASCII) ? 0
                                                : jarm__utf8_len(in + i, n - i);
        if (l > 0) {
            memcpy(out + o, in + i, l);
            o += l;
            i += l;
        } else {
            out[o++] = (uint8_t)(0xc0 | in[i] >> 6);
            out[o++] = (uint8_t)(0x80 | (in[i] & 0x3f));
            i++;
        }
    }
    return o;
}

static void check(const uint8_t *data, size_t size, unsigned flags)
{
    size_t cap = 2 + 6 * size, want_len;
    char *buf = malloc(cap + 1), *small;
    uint8_t *want = malloc(2 * size + 1);
    jarm__out_t o = {buf, 0, cap};
    jarm__json_t *v;

    FUZZ_CHECK(buf != NULL && want != NULL);
    jarm__json_put(&o, (const char *)data, size, flags);
    FUZZ_CHECK(o.len <= cap);
    if (flags & JARM__JSON_ASCII)
        for (size_t i = 0; i < o.len; i++)
            FUZZ_CHECK(buf[i] >= 0x20 && buf[i] < 0x7f);
    v = jarm__json_parse(buf, o.len, NULL, 0);
    FUZZ_CHECK(v != NULL && jarm__json_is_str(v));
    want_len = expected(data, size, flags, want);
    FUZZ_CHECK(v->len == want_len && memcmp(v->str, want, want_len) == 0);
    if ((flags & JARM__JSON_ASCII) == 0 && jarm__utf8_valid(data, size))
        FUZZ_CHECK(v->len == size && memcmp(v->str, data, size) == 0);
    jarm__json_free(v);

    /* Bounded: with room for all but the last byte, the byte past the room stays. */
    small = malloc(o.len + 1);
    FUZZ_CHECK(small != NULL);
    memset(small, 0x55, o.len + 1);
    {
        jarm__out_t s = {small, 0, o.len - 1};
        jarm__json_put(&s, (const char *)data, size, flags);
        FUZZ_CHECK(s.len == o.len && (unsigned char)small[o.len - 1] == 0x55);
    }
    free(small);
    free(want);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    check(data, size, 0);
    check(data, size, JARM__JSON_ASCII);
    return 0;
}
