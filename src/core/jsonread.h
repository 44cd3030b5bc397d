/*
 * jsonread.h - the one JSON reader of the tree: whole documents into a tree, bounded.
 *
 * jarm__json_parse() turns a document into a tree of nodes: objects (keys kept in document
 * order), arrays, strings (decoded to UTF-8, \uXXXX escapes and surrogate pairs included; a
 * string may contain NUL bytes, so use `len`), numbers (as finite doubles: 1e999 is refused),
 * true, false and null.
 * The parser is strict RFC 8259 apart from nesting, which is limited to 256 levels, so its
 * stack is bounded whatever the input. The caller owns the tree (jarm__json_free).
 */
#ifndef JARM_JSONREAD_H_
#define JARM_JSONREAD_H_

#include <stddef.h>
#include <stdint.h>

typedef enum jarm__json_type_e {
    JARM__JSON_NULL,
    JARM__JSON_FALSE,
    JARM__JSON_TRUE,
    JARM__JSON_NUMBER,
    JARM__JSON_STRING,
    JARM__JSON_ARRAY,
    JARM__JSON_OBJECT
} jarm__json_type_t;

typedef struct jarm__json_s jarm__json_t;

struct jarm__json_s {
    jarm__json_type_t type;
    size_t len;          /* bytes of a string; items of an array; members of an object */
    double num;          /* JARM__JSON_NUMBER */
    char *str;           /* JARM__JSON_STRING: UTF-8, NUL-terminated (may contain NULs, see len) */
    jarm__json_t *items; /* JARM__JSON_ARRAY items, JARM__JSON_OBJECT member values */
    char **keys;         /* JARM__JSON_OBJECT member names, NUL-terminated */
    size_t *klens;       /* JARM__JSON_OBJECT member name lengths */
};

/*
 * Parse text[0..len). Returns the root (caller owns it; free with jarm__json_free), or NULL with
 * a message in err (errcap bytes) on a syntax error or allocation failure.
 */
jarm__json_t *jarm__json_parse(const char *text, size_t len, char *err, size_t errcap);

/* Free a tree returned by jarm__json_parse (NULL is allowed). */
void jarm__json_free(jarm__json_t *v);

/* Member `key` of an object, or NULL if v is not an object or has no such member. */
const jarm__json_t *jarm__json_get(const jarm__json_t *v, const char *key);

/* Item i of an array, or NULL if v is not an array or i is out of range. */
const jarm__json_t *jarm__json_at(const jarm__json_t *v, size_t i);

/* Number of items of an array or members of an object; 0 for anything else (or NULL). */
size_t jarm__json_count(const jarm__json_t *v);

/* The text of a string node, or NULL if v is NULL or not a string. */
const char *jarm__json_str(const jarm__json_t *v);

/* 1 if v is a JSON string, 0 otherwise (NULL included). */
int jarm__json_is_str(const jarm__json_t *v);

/* 1 if v is JSON null, 0 otherwise (a missing member, NULL, is not null). */
int jarm__json_is_null(const jarm__json_t *v);

/* The value of a number node as a long, or `dflt` if v is not a number. */
long jarm__json_long(const jarm__json_t *v, long dflt);

#endif /* JARM_JSONREAD_H_ */
