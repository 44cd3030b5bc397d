/*
 * certtool.c - the certificate reader and X.509 summary as a command, for tests/cert.py.
 *
 *   certtool hello PROBE HOST         write JARM ClientHello PROBE (0..9) for HOST to stdout
 *   certtool stream [-m MAX] [-s SPLIT] FILE
 *                                     feed FILE (a server's byte stream) to the reader in
 *                                     chunks: SPLIT "all" (default), "1" (byte by byte) or
 *                                     "rand:SEED"; then, at EOF, jarm__cert_finish. Prints
 *                                     "status NAME pos N count C cap B" (B: bytes of the
 *                                     message buffer), then per certificate its summary's
 *                                     JSON object (chain_len = C) or "error CODE-NAME"
 *   certtool der FILE                 the summary of the DER certificate FILE, or
 *                                     "error CODE-NAME"
 *
 * Exit status 0 unless the command line or a file is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "jarm.h"

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n;

    *len = 0;
    *buf = malloc(cap);
    if (f == NULL || *buf == NULL)
        goto Fail;
    while ((n = fread(*buf + *len, 1, cap - *len, f)) > 0) {
        *len += n;
        if (*len == cap) {
            uint8_t *nb = realloc(*buf, cap *= 2);
            if (nb == NULL)
                goto Fail;
            *buf = nb;
        }
    }
    (void)fclose(f);
    return 0;
Fail:
    perror(path);
    if (f != NULL)
        (void)fclose(f);
    free(*buf);
    *buf = NULL;
    return -1;
}

static void print_summary(const uint8_t *der, size_t len, size_t chain_len)
{
    jarm__x509_t x;
    size_t need;
    char *out;
    int err = jarm__x509_summary(der, len, &x);

    if (err != 0) {
        printf("error %s\n", jarm_err_name(err));
        return;
    }
    x.chain_len = chain_len;
    (void)jarm__x509_json(&x, NULL, 0, &need);
    out = malloc(need + 1);
    if (out != NULL && jarm__x509_json(&x, out, need + 1, &need) == 0)
        printf("%s\n", out);
    free(out);
    jarm__x509_free(&x);
}

static int cmd_stream(int argc, char **argv)
{
    jarm__cert_parser_t p;
    const char *split = "all";
    size_t max = 0, at = 0, len;
    unsigned long long seed = 0;
    uint8_t *buf;
    int i;

    for (i = 2; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-m") == 0)
            max = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0)
            split = argv[i + 1];
        else
            return 2;
    }
    if (i != argc - 1 || read_all(argv[i], &buf, &len) != 0)
        return 2; /* read_all freed buf */
    if (strncmp(split, "rand:", 5) == 0)
        seed = strtoull(split + 5, NULL, 10) | 1;
    jarm__cert_init(&p, max);
    while (at < len) {
        size_t n = len - at;
        if (strcmp(split, "1") == 0) {
            n = 1;
        } else if (seed != 0) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            if ((size_t)(seed >> 33) % 1000 + 1 < n)
                n = (size_t)(seed >> 33) % 1000 + 1;
        }
        (void)jarm__cert_feed(&p, buf + at, n);
        at += n;
    }
    (void)jarm__cert_finish(&p);
    printf("status %s pos %zu count %zu cap %zu\n", jarm__cert_status_name(p.status), p.pos,
           jarm__cert_count(&p), p.cap);
    for (size_t k = 0; k < jarm__cert_count(&p); k++) {
        const uint8_t *der;
        size_t dlen;
        if (jarm__cert_der(&p, k, &der, &dlen) == 0)
            print_summary(der, dlen, jarm__cert_count(&p));
    }
    jarm__cert_free(&p);
    free(buf);
    return 0;
}

static void zero_rand(void *ctx, uint8_t *b, size_t n)
{
    (void)ctx;
    memset(b, 0x5a, n);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "hello") == 0) {
        uint8_t rec[JARM_HELLO_MAX];
        size_t n;
        if (jarm_probe_build((unsigned)strtoul(argv[2], NULL, 10), argv[3], strlen(argv[3]),
                             zero_rand, NULL, rec, sizeof(rec), &n) != 0)
            return 2;
        return fwrite(rec, 1, n, stdout) == n ? 0 : 1;
    }
    if (argc >= 3 && strcmp(argv[1], "stream") == 0)
        return cmd_stream(argc, argv);
    if (argc == 3 && strcmp(argv[1], "der") == 0) {
        uint8_t *buf;
        size_t len;
        if (read_all(argv[2], &buf, &len) != 0)
            return 2;
        print_summary(buf, len, 1);
        free(buf);
        return 0;
    }
    (void)fprintf(stderr, "usage: certtool hello PROBE HOST | stream [-m MAX] [-s SPLIT] FILE | "
                          "der FILE\n");
    return 2;
}
