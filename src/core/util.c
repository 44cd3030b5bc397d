/*
 * util.c - see util.h.
 */
#include <string.h>

#include "util.h"

void jarm__quote(char *dst, size_t cap, const char *s, size_t n, size_t max, int keep_utf8)
{
    size_t o = 0, i;

    if (cap == 0)
        return;
    for (i = 0; i < n && i < max && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep_utf8)) ? '?' : (char)c;
    }
    if (i < n && o + 4 <= cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

int jarm__is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void jarm__trim(const char **s, size_t *n)
{
    while (*n > 0 && jarm__is_space((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && jarm__is_space((*s)[*n - 1]))
        (*n)--;
}

int jarm__hex_digit(char c, int upper_ok)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (upper_ok && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void jarm__hex_encode(char *dst, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[b[i] >> 4];
        dst[2 * i + 1] = digits[b[i] & 15];
    }
    dst[2 * n] = '\0';
}

size_t jarm__utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
        hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    return need + 1;
}

int jarm__utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t l = s[i] < 0x80 ? 1 : jarm__utf8_len(s + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

void jarm__json_put(jarm__out_t *o, const char *str, size_t n, unsigned flags)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0, run = 0;

    jarm__out_put(o, "\"", 1);
    while (i < n) {
        uint8_t c = s[i];
        char esc[6] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 15]};
        size_t l = 0;
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (c < 0x7f)
                l = 1;
            else if (!(flags & JARM__JSON_ASCII))
                l = c == 0x7f ? 1 : jarm__utf8_len(s + i, n - i);
        }
        if (l > 0) {
            i += l;
            run += l;
            continue;
        }
        jarm__out_put(o, s + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            jarm__out_put(o, esc, 2);
        } else if (!(flags & JARM__JSON_ASCII) && (c == '\n' || c == '\r' || c == '\t')) {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            jarm__out_put(o, esc, 2);
        } else {
            jarm__out_put(o, esc, 6);
        }
        i++;
    }
    jarm__out_put(o, s + i - run, run);
    jarm__out_put(o, "\"", 1);
}

void jarm__out_u64(jarm__out_t *o, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    jarm__out_put(o, tmp + i, sizeof(tmp) - i);
}
