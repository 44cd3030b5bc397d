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
