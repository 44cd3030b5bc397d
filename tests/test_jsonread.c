/*
 * test_jsonread.c - the JSON reader (src/core/jsonread.c): values, escapes, errors, the nesting
 * limit (suite 'unit').
 */
#include <stdlib.h>
#include <string.h>

#include "jsonread.h"
#include "tap.h"

static jarm__json_t *parse(const char *s, char *err, size_t cap)
{
    err[0] = '\0';
    return jarm__json_parse(s, strlen(s), err, cap);
}

/* "[[[...1...]]]" with depth brackets on each side. */
static char *nested(size_t depth)
{
    char *s = malloc(depth * 2 + 2);
    memset(s, '[', depth);
    s[depth] = '1';
    memset(s + depth + 1, ']', depth);
    s[depth * 2 + 1] = '\0';
    return s;
}

int main(void)
{
    char err[128], *deep;
    jarm__json_t *v;
    const jarm__json_t *x;
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"", "unexpected end of input at byte 0"},
        {"{\"a\":1", "expected ',' or '}' at byte 6"},
        {"[1,]", "bad number at byte 3"},
        {"\"a\\q\"", "unknown escape at byte 4"},
        {"\"\\ud800\"", "high surrogate without a low surrogate at byte 7"},
        {"\"\\udc00\"", "lone low surrogate at byte 7"},
        {"\"a\nb\"", "control character in string at byte 2"},
        {"01", "trailing characters at byte 1"},
        {"1e999", "number out of range at byte 5"},
        {"tru", "unexpected character at byte 0"},
        {"{} x", "trailing characters at byte 3"},
    };

    v = parse(" {\"host\":\"a\\u00e9\\ud83d\\ude00\\n\",\"port\":443,\"n\":-2.5e1,"
              "\"l\":[true,false,null],\"z\":\"a\\u0000b\",\"host\":\"second\"} ",
              err, sizeof(err));
    if (!ok(v != NULL, "a row parses (%s)", err))
        return done_testing();
    x = jarm__json_get(v, "host");
    ok(jarm__json_is_str(x) && x->len == 8 && memcmp(x->str, "a\xc3\xa9\xf0\x9f\x98\x80\n", 8) == 0,
       "escapes decode to UTF-8, a surrogate pair to one code point");
    ok(jarm__json_long(jarm__json_get(v, "port"), 0) == 443, "an integer");
    ok(jarm__json_get(v, "n")->num == -25.0, "a number with fraction and exponent");
    ok(jarm__json_count(jarm__json_get(v, "l")) == 3 &&
           jarm__json_at(jarm__json_get(v, "l"), 0)->type == JARM__JSON_TRUE &&
           jarm__json_at(jarm__json_get(v, "l"), 1)->type == JARM__JSON_FALSE &&
           jarm__json_is_null(jarm__json_at(jarm__json_get(v, "l"), 2)) &&
           jarm__json_at(jarm__json_get(v, "l"), 3) == NULL,
       "an array of literals, and nothing past its end");
    x = jarm__json_get(v, "z");
    ok(x->len == 3 && memcmp(x->str, "a\0b", 4) == 0, "a string may hold NUL: use len");
    ok(jarm__json_count(v) == 6, "members in document order, repeats kept (%zu)",
       jarm__json_count(v));
    ok(jarm__json_get(v, "missing") == NULL && jarm__json_str(jarm__json_get(v, "port")) == NULL &&
           jarm__json_long(jarm__json_get(v, "host"), -7) == -7,
       "absent members and wrong types give NULL or the default");
    jarm__json_free(v);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = parse(bad[i].text, err, sizeof(err));
        ok(v == NULL && strcmp(err, bad[i].err) == 0, "bad text %zu is refused: %s", i, err);
        jarm__json_free(v);
    }

    /* 256 levels: 255 arrays and the number inside them. */
    deep = nested(255);
    v = parse(deep, err, sizeof(err));
    ok(v != NULL, "256 levels of nesting parse (%s)", err);
    jarm__json_free(v);
    free(deep);
    deep = nested(256);
    v = parse(deep, err, sizeof(err));
    ok(v == NULL && strcmp(err, "nesting too deep at byte 256") == 0, "257 levels are refused: %s",
       err);
    jarm__json_free(v);
    free(deep);
    deep = nested(100000);
    v = parse(deep, err, sizeof(err));
    ok(v == NULL, "100000 levels are refused without deep recursion");
    free(deep);
    return done_testing();
}
