/*
 * json.h - the test suites' names for the JSON reader of src/core/jsonread.h, and the vector
 * helpers: they locate the golden-vector directory (the first command-line argument, else the
 * JARM_VECTORS_DIR environment variable) and decode hex strings.
 */
#ifndef JARM_TESTS_JSON_H_
#define JARM_TESTS_JSON_H_

#include <stddef.h>
#include <stdint.h>

#include "jsonread.h"

typedef jarm__json_t json_t;
#define JSON_NULL    JARM__JSON_NULL
#define JSON_FALSE   JARM__JSON_FALSE
#define JSON_TRUE    JARM__JSON_TRUE
#define JSON_NUMBER  JARM__JSON_NUMBER
#define JSON_STRING  JARM__JSON_STRING
#define JSON_ARRAY   JARM__JSON_ARRAY
#define JSON_OBJECT  JARM__JSON_OBJECT
#define json_parse   jarm__json_parse
#define json_free    jarm__json_free
#define json_get     jarm__json_get
#define json_at      jarm__json_at
#define json_count   jarm__json_count
#define json_str     jarm__json_str
#define json_is_str  jarm__json_is_str
#define json_is_null jarm__json_is_null
#define json_long    jarm__json_long

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
