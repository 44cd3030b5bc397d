/*
 * jsonread.c - the JSON reader (see jsonread.h).
 *
 * A recursive-descent parser over [p, end). Every node is zeroed before it is parsed and
 * every container counts an item before parsing into it, so a tree abandoned half-way
 * through a syntax error is always in a state jarm__json_free() can release: nothing leaks on
 * any path, which matters because the suites run under LeakSanitizer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonread.h"

#define JSON_MAX_DEPTH 256

struct parser {
    const char *start, *p, *end;
    const char *msg; /* the first error, or NULL */
    size_t msg_at;   /* its byte offset */
    unsigned depth;
};

/* A growable byte buffer for string contents. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static int fail(struct parser *ps, const char *what)
{
    if (ps->msg == NULL) {
        ps->msg = what;
        ps->msg_at = (size_t)(ps->p - ps->start);
    }
    return -1;
}

static int sbuf_put(struct sbuf *b, const void *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 32;
        char *q;
        while (cap - b->len < n + 1)
            cap *= 2;
        q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Grow an array of `size`-byte elements to hold at least n + 1 of them. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *q;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    q = realloc(*arr, ncap * size);
    if (q == NULL)
        return -1;
    *arr = q;
    *cap = ncap;
    return 0;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(struct parser *ps, unsigned *out)
{
    unsigned v = 0;

    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(ps, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static int put_utf8(struct sbuf *b, unsigned cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return sbuf_put(b, u, n);
}

/* Parse a string starting at its opening quote into b (which the caller frees). */
static int parse_string(struct parser *ps, struct sbuf *b)
{
    ps->p++; /* the opening quote */
    if (sbuf_put(b, "", 0) != 0)
        return fail(ps, "out of memory");
    for (;;) {
        const char *run = ps->p;
        unsigned cp = 0, lo = 0;
        char c;

        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20)
            ps->p++;
        if (sbuf_put(b, run, (size_t)(ps->p - run)) != 0)
            return fail(ps, "out of memory");
        if (ps->p == ps->end)
            return fail(ps, "unterminated string");
        c = *ps->p++;
        if (c == '"')
            return 0;
        if (c != '\\') {
            ps->p--;
            return fail(ps, "control character in string");
        }
        if (ps->p == ps->end)
            return fail(ps, "unterminated escape");
        c = *ps->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            cp = (unsigned char)c;
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (hex4(ps, &cp) != 0)
                return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(ps, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                    return fail(ps, "high surrogate without a low surrogate");
                ps->p += 2;
                if (hex4(ps, &lo) != 0)
                    return -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(ps, "high surrogate without a low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            break;
        default:
            return fail(ps, "unknown escape");
        }
        if (put_utf8(b, cp) != 0)
            return fail(ps, "out of memory");
    }
}

static int parse_number(struct parser *ps, jarm__json_t *v)
{
    const char *s = ps->p;
    char tmp[64];

#define DIGITS()                                                  \
    do {                                                          \
        if (ps->p == ps->end || *ps->p < '0' || *ps->p > '9')     \
            return fail(ps, "bad number");                        \
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') \
            ps->p++;                                              \
    } while (0)

    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0')
        ps->p++;
    else
        DIGITS();
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        DIGITS();
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        DIGITS();
    }
#undef DIGITS
    if ((size_t)(ps->p - s) >= sizeof(tmp))
        return fail(ps, "number too long");
    memcpy(tmp, s, (size_t)(ps->p - s));
    tmp[ps->p - s] = '\0';
    v->type = JARM__JSON_NUMBER;
    v->num = strtod(tmp, NULL);
    if (!isfinite(v->num))
        return fail(ps, "number out of range");
    return 0;
}

static int literal(struct parser *ps, const char *word, jarm__json_t *v, jarm__json_type_t type)
{
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "unexpected character");
    ps->p += n;
    v->type = type;
    return 0;
}

/* The tree is recursive and so are these; JSON_MAX_DEPTH bounds the depth. */
/* NOLINTBEGIN(misc-no-recursion) */
static int parse_value(struct parser *ps, jarm__json_t *v);

/* Consume c if it comes next. */
static int eat(struct parser *ps, char c)
{
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* After a container's item: 1 if another follows, 0 if the container closes, or -1. */
static int next_item(struct parser *ps, char close, const char *expected)
{
    skip_ws(ps);
    if (eat(ps, ','))
        return 1;
    if (eat(ps, close))
        return 0;
    return fail(ps, expected);
}

/* Enter a container of type t at its opening bracket; 1 if it closes at once (empty). */
static int open_container(struct parser *ps, jarm__json_t *v, jarm__json_type_t t, char close)
{
    v->type = t;
    ps->p++;
    skip_ws(ps);
    return eat(ps, close);
}

static int parse_array(struct parser *ps, jarm__json_t *v)
{
    size_t cap = 0;
    int r;

    if (open_container(ps, v, JARM__JSON_ARRAY, ']'))
        return 0;
    do {
        if (grow((void **)&v->items, &cap, v->len, sizeof(jarm__json_t)) != 0)
            return fail(ps, "out of memory");
        memset(&v->items[v->len], 0, sizeof(jarm__json_t));
        if (parse_value(ps, &v->items[v->len++]) != 0)
            return -1;
    } while ((r = next_item(ps, ']', "expected ',' or ']'")) > 0);
    return r;
}

static int parse_object(struct parser *ps, jarm__json_t *v)
{
    size_t cap = 0, kcap = 0, lcap = 0;
    int r;

    if (open_container(ps, v, JARM__JSON_OBJECT, '}'))
        return 0;
    do {
        struct sbuf key = {NULL, 0, 0};

        if (grow((void **)&v->items, &cap, v->len, sizeof(jarm__json_t)) != 0 ||
            grow((void **)&v->keys, &kcap, v->len, sizeof(char *)) != 0 ||
            grow((void **)&v->klens, &lcap, v->len, sizeof(size_t)) != 0)
            return fail(ps, "out of memory");
        skip_ws(ps);
        if (ps->p == ps->end || *ps->p != '"')
            return fail(ps, "expected a member name");
        if (parse_string(ps, &key) != 0) {
            free(key.p);
            return -1;
        }
        memset(&v->items[v->len], 0, sizeof(jarm__json_t));
        v->keys[v->len] = key.p;
        v->klens[v->len] = key.len;
        v->len++;
        skip_ws(ps);
        if (ps->p == ps->end || *ps->p != ':')
            return fail(ps, "expected ':'");
        ps->p++;
        if (parse_value(ps, &v->items[v->len - 1]) != 0)
            return -1;
    } while ((r = next_item(ps, '}', "expected ',' or '}'")) > 0);
    return r;
}

static int parse_value(struct parser *ps, jarm__json_t *v)
{
    int ret;

    skip_ws(ps);
    if (ps->p == ps->end)
        return fail(ps, "unexpected end of input");
    if (++ps->depth > JSON_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    switch (*ps->p) {
    case '{':
        ret = parse_object(ps, v);
        break;
    case '[':
        ret = parse_array(ps, v);
        break;
    case '"': {
        struct sbuf b = {NULL, 0, 0};
        v->type = JARM__JSON_STRING;
        ret = parse_string(ps, &b);
        v->str = b.p;
        v->len = b.len;
        break;
    }
    case 't':
        ret = literal(ps, "true", v, JARM__JSON_TRUE);
        break;
    case 'f':
        ret = literal(ps, "false", v, JARM__JSON_FALSE);
        break;
    case 'n':
        ret = literal(ps, "null", v, JARM__JSON_NULL);
        break;
    default:
        ret = parse_number(ps, v);
        break;
    }
    ps->depth--;
    return ret;
}

static void free_node(jarm__json_t *v)
{
    size_t i;

    switch (v->type) {
    case JARM__JSON_STRING:
        free(v->str);
        break;
    case JARM__JSON_ARRAY:
        for (i = 0; i < v->len; i++)
            free_node(&v->items[i]);
        free(v->items);
        break;
    case JARM__JSON_OBJECT:
        for (i = 0; i < v->len; i++) {
            free(v->keys[i]);
            free_node(&v->items[i]);
        }
        free(v->items);
        free(v->keys);
        free(v->klens);
        break;
    default:
        break;
    }
}
/* NOLINTEND(misc-no-recursion) */

jarm__json_t *jarm__json_parse(const char *text, size_t len, char *err, size_t errcap)
{
    struct parser ps = {text, text, text + len, NULL, 0, 0};
    jarm__json_t *root = calloc(1, sizeof(*root));

    if (root == NULL) {
        fail(&ps, "out of memory");
    } else if (parse_value(&ps, root) == 0) {
        skip_ws(&ps);
        if (ps.p == ps.end)
            return root;
        fail(&ps, "trailing characters");
    }
    jarm__json_free(root);
    if (err != NULL && errcap > 0)
        (void)snprintf(err, errcap, "%s at byte %zu", ps.msg, ps.msg_at);
    return NULL;
}

void jarm__json_free(jarm__json_t *v)
{
    if (v == NULL)
        return;
    free_node(v);
    free(v);
}

const jarm__json_t *jarm__json_get(const jarm__json_t *v, const char *key)
{
    size_t n = strlen(key);

    if (v == NULL || v->type != JARM__JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (v->klens[i] == n && memcmp(v->keys[i], key, n) == 0)
            return &v->items[i];
    return NULL;
}

const jarm__json_t *jarm__json_at(const jarm__json_t *v, size_t i)
{
    if (v == NULL || v->type != JARM__JSON_ARRAY || i >= v->len)
        return NULL;
    return &v->items[i];
}

size_t jarm__json_count(const jarm__json_t *v)
{
    if (v == NULL || (v->type != JARM__JSON_ARRAY && v->type != JARM__JSON_OBJECT))
        return 0;
    return v->len;
}

const char *jarm__json_str(const jarm__json_t *v)
{
    return jarm__json_is_str(v) ? v->str : NULL;
}

int jarm__json_is_str(const jarm__json_t *v)
{
    return v != NULL && v->type == JARM__JSON_STRING;
}

int jarm__json_is_null(const jarm__json_t *v)
{
    return v != NULL && v->type == JARM__JSON_NULL;
}

long jarm__json_long(const jarm__json_t *v, long dflt)
{
    if (v == NULL || v->type != JARM__JSON_NUMBER)
        return dflt;
    return (long)v->num;
}
