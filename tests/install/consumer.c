/*
 * consumer.c - a program outside the tree, built by tests/install/install.py against the
 * installed jarm.h and libjarm (shared and static) through `pkg-config libjarm`. It uses only
 * the public header, so it also proves the header and the exported symbols suffice: probe 0
 * for "example.com" from an all-zero random source is the 425-byte record of probes.json,
 * the empty raw string hashes to 62 zeros, and a known fingerprint decodes.
 *
 * Prints one line per check and "consumer: ok" at the end; exits 0 only if all passed.
 */
#include <stdio.h>
#include <string.h>

#include <jarm.h>

static int failed;

static void check(int cond, const char *what)
{
    printf("%s: %s\n", cond ? "pass" : "FAIL", what);
    if (!cond)
        failed = 1;
}

static void zero_rand(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0, len);
}

int main(void)
{
    static const char zeros[] = "00000000000000000000000000000000000000000000000000000000000000";
    static const char fp[] = "07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d";
    uint8_t hello[JARM_HELLO_MAX];
    char out[JARM_FP_LEN + 1];
    jarm_fp_probe_t probes[JARM_PROBES];
    size_t len = 0;
    int r;

    r = jarm_probe_build(0, "example.com", 11, zero_rand, NULL, hello, sizeof(hello), &len);
    check(r == 0 && len == 425, "probe 0 for example.com is a 425-byte record");
    check(len >= 5 && hello[0] == 0x16 && hello[1] == 0x03 && hello[2] == 0x03 &&
              (size_t)(hello[3] << 8 | hello[4]) + 5 == len,
          "it is one TLS 1.2 handshake record");
    r = jarm_fuzzy_hash(JARM_RAW_EMPTY, strlen(JARM_RAW_EMPTY), out, sizeof(out), &len);
    check(r == 0 && len == JARM_FP_LEN && strcmp(out, zeros) == 0,
          "jarm_fuzzy_hash(JARM_RAW_EMPTY) is 62 zeros");
    r = jarm_fp_decode(fp, strlen(fp), NULL, NULL, probes);
    check(r == 0 && probes[0].cipher == 0x0033 && probes[0].version != NULL &&
              strcmp(probes[0].version, "TLS 1.2") == 0,
          "jarm_fp_decode: probe 1 of a capture is 0033 / TLS 1.2");
    check(jarm_fp_decode("xyz", 3, NULL, NULL, NULL) == JARM_EFORMAT &&
              strcmp(jarm_err_name(JARM_EFORMAT), "EFORMAT") == 0,
          "errors: JARM_EFORMAT and its name");
    printf("consumer: %s (libjarm %s)\n", failed ? "FAILED" : "ok", JARM_VERSION_STRING);
    return failed;
}
