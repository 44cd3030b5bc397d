/*
 * json.h - a small JSON reader for the test suites (never linked into the library).
 *
 * json_parse() turns a whole document into a tree of json_t nodes: objects (keys kept in
 * document order), arrays, strings (decoded to UTF-8, \uXXXX escapes and surrogate pairs
 * included; a string may contain NUL bytes, so use `len`), numbers (as double), true, false
 * and null. The parser is strict RFC 8259 apart from nesting, which is limited to 256
 * levels. The caller owns the tree and frees it with json_free().
 *
 * The vector helpers locate the golden-vector directory (the first command-line argument,
 * else the JARM_VECTORS_DIR environment variable) and decode hex strings.
 */
#ifndef JARM_TESTS_JSON_H_
#define JARM_TESTS_JSON_H_

#include <stddef.h>
#include <stdint.h>

typedef enum json_type_e {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type_t;

typedef struct json_s json_t;

struct json_s {
    json_type_t type;
    size_t len;    /* bytes of a string; items of an array; members of an object */
    double num;    /* JSON_NUMBER */
    char *str;     /* JSON_STRING: UTF-8, NUL-terminated (may contain NULs, see len) */
    json_t *items; /* JSON_ARRAY items, JSON_OBJECT member values */
    char **keys;   /* JSON_OBJECT member names, NUL-terminated */
    size_t *klens; /* JSON_OBJECT member name lengths */
};

/*
 * Parse text[0..len). Returns the root (caller owns it; free with json_free), or NULL with
 * a message in err (errcap bytes) on a syntax error or allocation failure.
 */
json_t *json_parse(const char *text, size_t len, char *err, size_t errcap);

/* Free a tree returned by json_parse (NULL is allowed). */
void json_free(json_t *v);

/* Member `key` of an object, or NULL if v is not an object or has no such member. */
const json_t *json_get(const json_t *v, const char *key);

/* Item i of an array, or NULL if v is not an array or i is out of range. */
const json_t *json_at(const json_t *v, size_t i);

/* Number of items of an array or members of an object; 0 for anything else (or NULL). */
size_t json_count(const json_t *v);

/* The text of a string node, or NULL if v is NULL or not a string. */
const char *json_str(const json_t *v);

/* 1 if v is a JSON string, 0 otherwise (NULL included). */
int json_is_str(const json_t *v);

/* 1 if v is JSON null, 0 otherwise (a missing member, NULL, is not null). */
int json_is_null(const json_t *v);

/* The value of a number node as a long, or `dflt` if v is not a number. */
long json_long(const json_t *v, long dflt);

/*
 * Decode the hex string v into a new buffer (caller frees it with free(); never NULL on
 * success, even for zero bytes) and store its length in *n. Returns NULL if v is not a
 * string of an even number of hex digits.
 */
uint8_t *json_hex(const json_t *v, size_t *n);

/*
 * Load `<vectors dir>/<file>`, where the directory is argv[1] if present, else the
 * JARM_VECTORS_DIR environment variable. Returns the tree (caller frees it), or NULL after
 * printing a TAP "Bail out!" line explaining why.
 */
json_t *json_load_vector(int argc, char **argv, const char *file);

#endif /* JARM_TESTS_JSON_H_ */
