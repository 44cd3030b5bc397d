/*
 * fuzz_json.c - the JSON reader (jarm__json_parse) on arbitrary bytes.
 *
 * Properties checked:
 *   - parsing never crashes, leaks or recurses without bound; a failure has a message;
 *   - on success every node is well formed (strings NUL-terminated at len, containers with
 *     their items, object keys NUL-terminated at their length);
 *   - writing the tree out again and reading that back gives the same tree, and the written
 *     form is a fixed point (written again, it is byte for byte the same).
 * Any violation aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonread.h"

typedef struct out_s {
    char *p;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->cap - o->len < n) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n)
            cap *= 2;
        o->p = realloc(o->p, cap);
        FUZZ_CHECK(o->p != NULL);
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(out_t *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            char e[8];
            (void)snprintf(e, sizeof(e), "\\u%04x", c);
            put(o, e, 6);
        } else {
            put(o, s + i, 1);
        }
    }
    put(o, "\"", 1);
}

/* NOLINTBEGIN(misc-no-recursion): bounded by the reader's nesting limit */
static void write_tree(out_t *o, const jarm__json_t *v)
{
    char num[40];

    switch (v->type) {
    case JARM__JSON_NULL:
        put(o, "null", 4);
        break;
    case JARM__JSON_FALSE:
        put(o, "false", 5);
        break;
    case JARM__JSON_TRUE:
        put(o, "true", 4);
        break;
    case JARM__JSON_NUMBER:
        (void)snprintf(num, sizeof(num), "%.17g", v->num);
        put(o, num, strlen(num));
        break;
    case JARM__JSON_STRING:
        FUZZ_CHECK(v->str != NULL && v->str[v->len] == '\0');
        put_str(o, v->str, v->len);
        break;
    case JARM__JSON_ARRAY:
        FUZZ_CHECK(v->len == 0 || v->items != NULL);
        FUZZ_CHECK(jarm__json_count(v) == v->len);
        put(o, "[", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i > 0)
                put(o, ",", 1);
            FUZZ_CHECK(jarm__json_at(v, i) == &v->items[i]);
            write_tree(o, &v->items[i]);
        }
        FUZZ_CHECK(jarm__json_at(v, v->len) == NULL);
        put(o, "]", 1);
        break;
    case JARM__JSON_OBJECT:
        FUZZ_CHECK(v->len == 0 || (v->items != NULL && v->keys != NULL && v->klens != NULL));
        put(o, "{", 1);
        for (size_t i = 0; i < v->len; i++) {
            if (i > 0)
                put(o, ",", 1);
            FUZZ_CHECK(v->keys[i][v->klens[i]] == '\0');
            put_str(o, v->keys[i], v->klens[i]);
            put(o, ":", 1);
            write_tree(o, &v->items[i]);
        }
        put(o, "}", 1);
        break;
    default:
        FUZZ_CHECK(0);
    }
}
/* NOLINTEND(misc-no-recursion) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128] = "";
    jarm__json_t *v = jarm__json_parse((const char *)data, size, err, sizeof(err));
    jarm__json_t *again;
    out_t a = {0}, b = {0};

    if (v == NULL) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    write_tree(&a, v);
    again = jarm__json_parse(a.p, a.len, err, sizeof(err));
    FUZZ_CHECK(again != NULL);
    write_tree(&b, again);
    FUZZ_CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    jarm__json_free(again);
    jarm__json_free(v);
    free(a.p);
    free(b.p);
    return 0;
}
