/*
 * tables.c - prints what libjarm does, for tests/docs/jarm7.py to hold jarm(7)'s tables to.
 *
 *   tables hellos         the ten ClientHellos for example.com, one hex line each, built with
 *                         a random source of zeros (so every GREASE value is 0a0a)
 *   tables names          the ten probe names
 *   tables ciphers        "SUITE CODE" for every 16-bit suite whose cipher code is not 46,
 *                         then "empty CODE" for the empty field
 *   tables version F...   "F CODE" per field (an empty argument is the empty field)
 *   tables hash RAW...    "FINGERPRINT" per raw string
 *
 * Only the public API of jarm.h: what a user of the library would observe.
 */
#include <stdio.h>
#include <string.h>

#include "jarm.h"

static void zeros(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
}

static int hellos(void)
{
    uint8_t buf[JARM_HELLO_MAX];
    size_t n;

    for (unsigned p = 0; p < JARM_PROBES; p++) {
        if (jarm_probe_build(p, "example.com", 11, zeros, NULL, buf, sizeof(buf), &n) != 0)
            return 1;
        for (size_t i = 0; i < n; i++)
            printf("%02x", buf[i]);
        printf("\n");
    }
    return 0;
}

static int ciphers(void)
{
    char field[5], code[2];

    for (unsigned v = 0; v <= 0xffff; v++) {
        snprintf(field, sizeof(field), "%04x", v);
        jarm_cipher_code(field, 4, code);
        if (code[0] != '4' || code[1] != '6')
            printf("%s %.2s\n", field, code);
    }
    jarm_cipher_code("", 0, code);
    printf("empty %.2s\n", code);
    return 0;
}

int main(int argc, char **argv)
{
    char fp[256];
    size_t n;

    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "hellos") == 0)
        return hellos();
    if (strcmp(argv[1], "names") == 0) {
        for (unsigned p = 0; p < JARM_PROBES; p++)
            printf("%s\n", jarm_probe_name(p));
        return 0;
    }
    if (strcmp(argv[1], "ciphers") == 0)
        return ciphers();
    if (strcmp(argv[1], "version") == 0) {
        for (int i = 2; i < argc; i++)
            printf("%s %c\n", argv[i], jarm_version_code(argv[i], strlen(argv[i])));
        return 0;
    }
    if (strcmp(argv[1], "hash") == 0) {
        for (int i = 2; i < argc; i++) {
            if (jarm_fuzzy_hash(argv[i], strlen(argv[i]), fp, sizeof(fp), &n) != 0)
                return 1;
            printf("%s\n", fp);
        }
        return 0;
    }
    return 2;
}
