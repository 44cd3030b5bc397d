/*
 * test_fplist.c - fingerprint lists (src/interpret/fplist.c) and baselines
 * (src/interpret/baseline.c).
 *
 * Argument: the directory of the bundled lists (contrib/fingerprints), whose files must
 * parse and hold the entries the README there promises. Without it those cases are skipped.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "baseline.h"
#include "fplist.h"
#include "jarm.h"
#include "tap.h"

/* Fingerprints used throughout: the OpenSSL default (= the reference's Metasploit entry),
 * a second one sharing its 30-character half, and one with another half. */
#define FP_OSSL  "07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d"
#define FP_SIB   "07d14d16d21d21d00042d43d00000076e5b3c488a88e5790970b78ffb8afc2"
#define FP_OTHER "2ad2ad0002ad2ad00042d42d000000ad9bf51cc3f5a1e29eecb81d0c7b06eb"
#define HALF     "07d14d16d21d21d00042d43d000000"
#define ZEROS    "00000000000000000000000000000000000000000000000000000000000000"
#define FP_CS    "07d14d16d21d21d07c42d41d00041d24a458a375eef0c576d23a7bab9a9fb1"

static char tmpdir[] = "/tmp/test_fplist.XXXXXX";

/* Write text to tmpdir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    FILE *f;
    (void)snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "wb");
    if (f == NULL)
        return path;
    (void)fputs(text, f);
    (void)fclose(f);
    return path;
}

static int64_t parse_str(jarm__fplist_t *l, const char *name, const char *text, char *err)
{
    return jarm__fplist_parse(l, name, text, strlen(text), err, 256);
}

/* Match fp and render the labels as "exact1,exact2|prefix1,prefix2". */
static const char *match_str(const jarm__fplist_t *l, const char *fp)
{
    static char out[1024];
    const char *ex[16], *pr[16];
    size_t ne, np, o = 0;

    (void)jarm__fplist_match(l, fp, strlen(fp), ex, &ne, pr, &np, 16);
    out[0] = '\0';
    for (size_t i = 0; i < ne; i++)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "," : "", ex[i]);
    o += (size_t)snprintf(out + o, sizeof(out) - o, "|");
    for (size_t i = 0; i < np; i++)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "," : "", pr[i]);
    return out;
}

static void test_valid(void)
{
    ok(jarm__fplist_valid(FP_OSSL, 62, 0) == 62, "valid: a real fingerprint");
    ok(jarm__fplist_valid(ZEROS, 62, 0) == 62, "valid: the zero fingerprint is well formed");
    ok(jarm__fplist_valid(HALF, 30, 0) == 0, "valid: a half needs JARM__FP_HALF");
    ok(jarm__fplist_valid(HALF, 30, JARM__FP_HALF) == 30, "valid: a half with JARM__FP_HALF");
    ok(jarm__fplist_valid("07D14D16D21D21D00042D43D000000AA99CE74E2C6D013C745AA52B5CC042D", 62,
                          0) == 62,
       "valid: upper case");
    ok(jarm__fplist_valid("47d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d", 62,
                          0) == 0,
       "valid: cipher code 47 is past the table");
    ok(jarm__fplist_valid("46j14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d", 62,
                          0) == 62,
       "valid: cipher code 46 and version j (the non-crashing rule) are fine");
    ok(jarm__fplist_valid("07k14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d", 62,
                          0) == 0,
       "valid: version code k is not");
    ok(jarm__fplist_valid("07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042g", 62,
                          0) == 0,
       "valid: hash must be hex");
    ok(jarm__fplist_valid(FP_OSSL, 61, JARM__FP_HALF | JARM__FP_LONG) == 0,
       "valid: 61 characters are not");
    ok(jarm__fplist_valid("07d07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d", 65,
                          JARM__FP_LONG) == 65,
       "valid: 65 characters (11 handshakes) with JARM__FP_LONG");
    ok(jarm__fplist_valid("07d07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d", 65,
                          0) == 0,
       "valid: 65 characters without JARM__FP_LONG");
    ok(jarm__fplist_valid("", 0, JARM__FP_HALF | JARM__FP_LONG) == 0, "valid: empty");
}

static void test_parse(void)
{
    jarm__fplist_t l;
    char err[256] = "";
    int64_t n;

    jarm__fplist_init(&l);
    n = parse_str(&l, "a.tsv",
                  "# comment\n"
                  "\n"
                  "fingerprint\tlabel\tsource\tnotes\n" FP_OSSL "\tOpenSSL default\tme\tnote 1\n"
                  "  " FP_SIB " \t  Apache  \r\n"
                  "   # indented comment\n"
                  "\t\n" HALF "\tOpenSSL family\t\tno source\textra\tcolumns\n"
                  "07D14D16D21D21D00042D43D000000AA99CE74E2C6D013C745AA52B5CC042D\tUpper",
                  err);
    ok(n == 4, "parse: 4 entries (comments, blank lines, header skipped): %lld %s", (long long)n,
       err);
    ok(l.n == 4, "parse: list holds 4");
    ok(l.n >= 4 && strcmp(l.v[0].label, "OpenSSL default") == 0 &&
           strcmp(l.v[0].source, "me") == 0 && strcmp(l.v[0].notes, "note 1") == 0 &&
           l.v[0].line == 4 && strcmp(l.v[0].file, "a.tsv") == 0 && l.v[0].len == 62,
       "parse: columns, line and file of entry 1");
    ok(l.n >= 4 && strcmp(l.v[1].fp, FP_SIB) == 0 && strcmp(l.v[1].label, "Apache") == 0 &&
           strcmp(l.v[1].source, "") == 0 && strcmp(l.v[1].notes, "") == 0,
       "parse: blanks and CR trimmed, absent columns empty");
    ok(l.n >= 4 && l.v[2].len == 30 && strcmp(l.v[2].fp, HALF) == 0 &&
           strcmp(l.v[2].source, "") == 0 && strcmp(l.v[2].notes, "no source") == 0,
       "parse: a 30-character entry, empty source, columns after the 4th ignored");
    ok(l.n >= 4 && strcmp(l.v[3].fp, FP_OSSL) == 0 && l.v[3].line == 9,
       "parse: upper case folded, last line without LF");
    jarm__fplist_free(&l);

    jarm__fplist_init(&l);
    ok(parse_str(&l, "e.tsv", "", err) == 0 && l.n == 0, "parse: empty file, no entries");
    ok(parse_str(&l, "e.tsv", "# only\n# comments\n", err) == 0, "parse: comments only");
    ok(parse_str(&l, "e.tsv", "fingerprint\tlabel\n", err) == 0, "parse: header only");
    ok(strcmp(match_str(&l, FP_OSSL), "|") == 0, "match: nothing on an empty list");
    jarm__fplist_free(&l);
}

static void test_errors(void)
{
    jarm__fplist_t l;
    char err[256];

    jarm__fplist_init(&l);
    ok(parse_str(&l, "good.tsv", FP_OSSL "\tkept\n", err) == 1, "errors: a good file first");

    err[0] = '\0';
    ok(parse_str(&l, "bad.tsv", "# c\n" FP_SIB "\tfine\n\nxyz\tlabel\n", err) == JARM_EINVAL,
       "errors: a bad fingerprint fails the file");
    ok(strcmp(err, "bad.tsv:4: bad fingerprint 'xyz'") == 0, "errors: FILE:LINE message: %s", err);
    ok(l.n == 1, "errors: all or nothing (the file's good line is not kept)");
    ok(strcmp(match_str(&l, FP_SIB), "|kept") == 0 && strcmp(match_str(&l, FP_OSSL), "kept|") == 0,
       "errors: earlier entries still match after a failed file");

    ok(parse_str(&l, "b2.tsv", FP_SIB "\n", err) == JARM_EINVAL &&
           strcmp(err, "b2.tsv:1: missing label") == 0,
       "errors: missing label: %s", err);
    ok(parse_str(&l, "b3.tsv", FP_SIB "\t  \tsrc\n", err) == JARM_EINVAL &&
           strcmp(err, "b3.tsv:1: missing label") == 0,
       "errors: blank label: %s", err);
    ok(parse_str(&l, "b4.tsv", FP_SIB " Apache\n", err) == JARM_EINVAL &&
           strcmp(err, "b4.tsv:1: bad fingerprint '" FP_SIB
                       " Apache' (columns are separated by TABs)") == 0,
       "errors: space-separated columns get a hint: %s", err);
    ok(parse_str(&l, "b5.tsv",
                 "fingerprint\tlabel\n"
                 "fingerprint\tlabel\n",
                 err) == JARM_EINVAL &&
           strcmp(err, "b5.tsv:2: bad fingerprint 'fingerprint'") == 0,
       "errors: only the first entry line may be a header: %s", err);
    ok(parse_str(&l, "b6.tsv",
                 "0123456789012345678901234567890123456789012345678901234567890123"
                 "456789012345678901234567890\tx\n",
                 err) == JARM_EINVAL &&
           strcmp(err, "b6.tsv:1: bad fingerprint "
                       "'0123456789012345678901234567890123456789012345678901234567890123456789"
                       "...'") == 0,
       "errors: a long column is cut in the message: %s", err);
    ok(parse_str(&l, "b7.tsv", "07d\x01\tx\n", err) == JARM_EINVAL &&
           strcmp(err, "b7.tsv:1: bad fingerprint '07d?'") == 0,
       "errors: control bytes shown as '?': %s", err);
    ok(parse_str(&l, "b8.tsv", FP_SIB "x\tx\n", err) == JARM_EINVAL, "errors: 63 characters");
    ok(jarm__fplist_parse(&l, "b9.tsv", FP_SIB "\0\tx\n", 66, err, sizeof(err)) == JARM_EINVAL,
       "errors: a NUL inside the fingerprint column");
    ok(jarm__fplist_parse(&l, "b10.tsv", FP_SIB "\t\0x\n", 66, err, sizeof(err)) == JARM_EINVAL &&
           strcmp(err, "b10.tsv:1: missing label") == 0,
       "errors: a label starting with NUL is empty");
    ok(l.n == 1, "errors: still only the first file's entry");

    ok(jarm__fplist_load_spec(&l, "/nonexistent/x.tsv", NULL, err, sizeof(err)) == -ENOENT &&
           strcmp(err, "/nonexistent/x.tsv: No such file or directory") == 0,
       "errors: missing file: %s", err);
    ok(jarm__fplist_load_spec(&l, "nosuchlist", tmpdir, err, sizeof(err)) == -ENOENT &&
           strstr(err, "nosuchlist: no such list file, and no bundled list nosuchlist.tsv in ") ==
               err,
       "errors: unknown bundled name: %s", err);
    jarm__fplist_free(&l);
}

static void test_match(void)
{
    jarm__fplist_t l;
    char err[256];
    const char *ex[4], *pr[4], *label0;
    size_t ne = 99, np = 99, found;

    jarm__fplist_init(&l);
    ok(parse_str(&l, "one.tsv",
                 FP_OSSL "\tMetasploit\n" FP_SIB "\tApache\n" HALF "\tOpenSSL family\n" FP_OTHER
                         "\tPython\n" FP_OSSL "\tOpenSSL s_server\n" FP_OSSL "\tMetasploit\n",
                 err) == 6,
       "match: list one");
    ok(strcmp(match_str(&l, FP_OSSL), "Metasploit,OpenSSL s_server|Apache,OpenSSL family") == 0,
       "match: exact in file order, each label once; prefix: same half, not exact: %s",
       match_str(&l, FP_OSSL));
    ok(strcmp(match_str(&l, FP_SIB), "Apache|Metasploit,OpenSSL family,OpenSSL s_server") == 0,
       "match: from the sibling's side: %s", match_str(&l, FP_SIB));
    ok(strcmp(match_str(&l, HALF "0123456789abcdef0123456789abcdef"),
              "|Metasploit,Apache,OpenSSL family,OpenSSL s_server") == 0,
       "match: unknown hash, known half: prefix only: %s",
       match_str(&l, HALF "0123456789abcdef0123456789abcdef"));
    ok(strcmp(match_str(&l, HALF), "|Metasploit,Apache,OpenSSL family,OpenSSL s_server") == 0,
       "match: a 30-character query is prefix only");
    ok(strcmp(match_str(&l, FP_OTHER), "Python|") == 0, "match: another half");
    ok(strcmp(match_str(&l, FP_CS), "|") == 0, "match: no match");
    ok(strcmp(match_str(&l, "07D14D16D21D21D00042D43D000000AA99CE74E2C6D013C745AA52B5CC042D"),
              "Metasploit,OpenSSL s_server|Apache,OpenSSL family") == 0,
       "match: an upper-case query");
    ok(strcmp(match_str(&l, FP_OSSL "ab0"), "|") == 0 && strcmp(match_str(&l, ""), "|") == 0 &&
           strcmp(match_str(&l, "07d14d16d21d21d00042d43d00000"), "|") == 0,
       "match: other lengths match nothing");

    /* A second file: its labels come after, labels of the first stay valid. */
    label0 = l.v[0].label;
    ok(parse_str(&l, "two.tsv", FP_OSSL "\tOpenSSL 3.0\n" FP_OSSL "\tApache\n", err) == 2,
       "match: list two");
    ok(l.v[0].label == label0 && strcmp(label0, "Metasploit") == 0,
       "match: labels do not move when more is loaded");
    ok(strcmp(match_str(&l, FP_OSSL), "Metasploit,OpenSSL s_server,OpenSSL 3.0,Apache|OpenSSL "
                                      "family") == 0,
       "match: across files in load order; a label exact somewhere is not repeated as "
       "prefix: %s",
       match_str(&l, FP_OSSL));

    /* Counts and caps. */
    found = jarm__fplist_match(&l, FP_OSSL, 62, ex, &ne, pr, &np, 2);
    ok(found == 5 && ne == 2 && np == 1, "match: cap 2: 5 found, 2 + 1 stored (%zu %zu %zu)", found,
       ne, np);
    found = jarm__fplist_match(&l, FP_OSSL, 62, NULL, NULL, pr, &np, 4);
    ok(found == 5 && np == 1 && strcmp(pr[0], "OpenSSL family") == 0,
       "match: exact not asked for: still excluded from prefix");
    found = jarm__fplist_match(&l, FP_OSSL, 62, ex, &ne, NULL, NULL, 4);
    ok(found == 5 && ne == 4, "match: prefix not asked for");
    found = jarm__fplist_match(&l, FP_OSSL, 62, ex, &ne, pr, &np, 0);
    ok(found == 5 && ne == 0 && np == 0, "match: cap 0 only counts");
    jarm__fplist_free(&l);
}

static void test_zeros(void)
{
    jarm__fplist_t l;
    char err[256];

    jarm__fplist_init(&l);
    ok(parse_str(&l, "z.tsv",
                 ZEROS "\tall failed\n"
                       "000000000000000000000000000000\tno half\n"
                       "000000000000000000000000000000aa99ce74e2c6d013c745aa52b5cc042d\tzero half\n"
                       "00000000000000000042d43d0000009535d5979f591ae8e547c5e5743e5b64\ttls13\n",
                 err) == 4,
       "zeros: entries of zeros are accepted");
    ok(strcmp(match_str(&l, ZEROS), "|") == 0, "zeros: the zero fingerprint never matches");
    ok(strcmp(match_str(&l, "000000000000000000000000000000"), "|") == 0,
       "zeros: the zero half never matches");
    ok(strcmp(match_str(&l, "000000000000000000000000000000aa99ce74e2c6d013c745aa52b5cc042d"),
              "zero half|") == 0,
       "zeros: a zero half with a hash matches exactly, never by prefix");
    ok(strcmp(match_str(&l, "00000000000000000042d43d0000009535d5979f591ae8e547c5e5743e5b64"),
              "tls13|") == 0,
       "zeros: a half with some zeros is an ordinary half");
    ok(strcmp(match_str(&l, "00000000000000000042d43d000000ffffffffffffffffffffffffffffffff"),
              "|tls13") == 0,
       "zeros: ... and prefix-matches");
    jarm__fplist_free(&l);
}

static void test_bundled(const char *dir)
{
    jarm__fplist_t l;
    char err[512] = "", dirs[1024];
    int64_t n1, n2;
    size_t bad = 0;

    if (dir == NULL) {
        ok(1, "bundled: # SKIP no directory given");
        return;
    }
    /* A search path: a missing directory first, then the real one. */
    (void)snprintf(dirs, sizeof(dirs), "/nonexistent:%s", dir);
    jarm__fplist_init(&l);
    n1 = jarm__fplist_load_spec(&l, "c2", dirs, err, sizeof(err));
    ok(n1 == 5, "bundled: c2 has the reference's 5 entries (%lld) %s", (long long)n1, err);
    n2 = jarm__fplist_load_spec(&l, "servers", dirs, err, sizeof(err));
    ok(n2 >= 20, "bundled: servers parses (%lld entries) %s", (long long)n2, err);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].len != 62 || l.v[i].source[0] == '\0' || l.v[i].notes[0] == '\0')
            bad++;
    ok(bad == 0, "bundled: every entry is whole, with a source and notes (%zu not)", bad);
    ok(strcmp(match_str(&l, FP_OSSL),
              "Metasploit,OpenSSL 3.0.19 s_server, defaults|Apache httpd 2.4.71 mod_ssl "
              "(OpenSSL 3.0.19), defaults,Apache httpd 2.4.71 mod_ssl (OpenSSL 3.0.19), "
              "mod_http2") == 0,
       "bundled: a default OpenSSL server is labelled Metasploit: %s", match_str(&l, FP_OSSL));
    ok(strcmp(match_str(&l, FP_CS), "Cobalt Strike|") == 0, "bundled: Cobalt Strike");
    {
        static const char *const want[] = {"Trickbot", "AsyncRAT", "Metasploit", "Cobalt Strike",
                                           "Merlin C2"};
        int all = 1;
        for (size_t i = 0; i < 5; i++)
            all &= (size_t)n1 == 5 && strcmp(l.v[i].label, want[i]) == 0 &&
                   strstr(l.v[i].source, "salesforce/jarm") != NULL;
        ok(all, "bundled: c2 labels in the reference's order, attributed to salesforce/jarm");
    }
    {
        static const char *const want[] = {"nginx",
                                           "Apache",
                                           "lighttpd 1.4.69 mod_openssl",
                                           "mod_gnutls",
                                           "mod_mbedtls",
                                           "mod_wolfssl",
                                           "HAProxy",
                                           "Caddy",
                                           "Go 1.19",
                                           "Node.js",
                                           "Java 17",
                                           "Python 3",
                                           "GnuTLS 3.7.9 gnutls-serv",
                                           "s_server, -no_tls1_3",
                                           "s_server, -tls1_3",
                                           "s_server, -alpn h2,http/1.1",
                                           "s_server, defaults"};
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            int seen = 0;
            for (size_t k = 0; k < l.n; k++)
                seen |= strstr(l.v[k].label, want[i]) != NULL;
            ok(seen, "bundled: servers has %s", want[i]);
        }
    }
    /* A path works too, and a bare name found in no directory is taken as a path. */
    {
        char path[1024];
        (void)snprintf(path, sizeof(path), "%s/c2.tsv", dir);
        ok(jarm__fplist_load_spec(&l, path, NULL, err, sizeof(err)) == 5,
           "bundled: load_spec with a path");
        ok(chdir(dir) == 0 &&
               jarm__fplist_load_spec(&l, "c2.tsv", "/nonexistent", err, sizeof(err)) == 5,
           "bundled: a relative path");
    }
    jarm__fplist_free(&l);
}

static uint64_t rnd_state = 0x853c49e6748fea9bu;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* A random well-formed fingerprint into out[63]. */
static void rnd_fp(char *out)
{
    static const char hex[] = "0123456789abcdef", ver[] = "0abcdef";
    for (int i = 0; i < 30; i += 3) {
        unsigned c = (unsigned)(rnd() % 0x47);
        out[i] = hex[c >> 4];
        out[i + 1] = hex[c & 15];
        out[i + 2] = ver[rnd() % 7];
    }
    for (int i = 30; i < 62; i++)
        out[i] = hex[rnd() & 15];
    out[62] = '\0';
}

static void test_scale(void)
{
    enum { N = 20000, LOOKUPS = 1000000, MISSES = 4096 };
    jarm__fplist_t l;
    char *text = malloc((size_t)N * 80), err[256], (*fps)[63] = malloc((size_t)N * 63);
    static char miss[MISSES][63];
    size_t o = 0, hits = 0, found = 0;
    struct timespec t0, t1;
    double ns;

    if (text == NULL || fps == NULL) {
        ok(0, "scale: out of memory");
        free(text);
        free(fps);
        return;
    }
    for (int i = 0; i < N; i++) {
        rnd_fp(fps[i]);
        o += (size_t)sprintf(text + o, "%s\tL%d\n", fps[i], i);
    }
    for (int i = 0; i < MISSES; i++)
        rnd_fp(miss[i]);
    jarm__fplist_init(&l);
    ok(jarm__fplist_parse(&l, "big", text, o, err, sizeof(err)) == N, "scale: %d entries", N);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < LOOKUPS; i++) {
        const char *q = i & 1 ? miss[(size_t)i / 2 % MISSES] : fps[(size_t)i / 2 % N], *ex[4],
                   *pr[4];
        size_t ne, np;
        found += jarm__fplist_match(&l, q, 62, ex, &ne, pr, &np, 4);
        hits += ne > 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / LOOKUPS;
    ok(hits >= LOOKUPS / 2, "scale: every listed fingerprint found (%zu hits, %zu labels)", hits,
       found);
    /* Timing is only reported: sanitizers and valgrind slow it down by large factors. */
    note("%d lookups among %d entries, half of them misses: %.0f ns per lookup", LOOKUPS, N, ns);
    jarm__fplist_free(&l);
    free(text);
    free(fps);
}

/* ------------------------------------------------------------------------------------- */

static int64_t bl_parse(jarm__baseline_t *b, const char *name, const char *text, char *err)
{
    return jarm__baseline_parse(b, name, text, strlen(text), err, 256);
}

static const char *verdict(const jarm__baseline_t *b, const char *host, unsigned port,
                           const char *fp)
{
    static char out[128];
    const char *old;
    jarm__baseline_verdict_t v =
        jarm__baseline_check(b, host, strlen(host), port, fp, strlen(fp), &old);
    (void)snprintf(out, sizeof(out), "%s%s%s", jarm__baseline_verdict_name(v), old ? " " : "",
                   old ? old : "");
    return out;
}

static void test_baseline_text(void)
{
    jarm__baseline_t b;
    char err[256] = "";
    int64_t n;

    jarm__baseline_init(&b);
    n = bl_parse(&b, "t.txt",
                 "# a baseline\n"
                 "\n"
                 "example.com " FP_OSSL "\n"
                 "Example.ORG.:8443\t" FP_SIB "   # trailing comment\r\n"
                 "192.0.2.1:443 " FP_OTHER "\n"
                 "[2001:DB8:0::1]:9443 " FP_CS "\n"
                 "2001:db8::2 " FP_OSSL "\n"
                 "[2001:db8::3] " FP_SIB "\n"
                 "  timeout.example   " ZEROS "  \n"
                 "long.example 07d07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d",
                 err);
    ok(n == 8, "text: 8 rows (%lld) %s", (long long)n, err);
    ok(b.tab.keys == 8 && b.rows == 8 && b.skipped == 0, "text: 8 keys");
    ok(strcmp(verdict(&b, "example.com", 443, FP_OSSL), "same") == 0, "text: same");
    ok(strcmp(verdict(&b, "example.com", 443, FP_SIB), "changed " FP_OSSL) == 0,
       "text: changed, with the old fingerprint");
    ok(strcmp(verdict(&b, "example.com", 8443, FP_OSSL), "new") == 0, "text: another port is new");
    ok(strcmp(verdict(&b, "EXAMPLE.com.", 443, FP_OSSL), "same") == 0 &&
           strcmp(verdict(&b, "example.com..", 443, FP_OSSL), "same") == 0,
       "text: host case and trailing dots do not matter");
    ok(strcmp(verdict(&b, "[example.com]", 443, FP_OSSL), "new") == 0,
       "text: brackets are dropped only around an IPv6 address");
    ok(strcmp(verdict(&b, "example.org", 8443, FP_SIB), "same") == 0, "text: host:port");
    ok(strcmp(verdict(&b, "192.0.2.1", 443, FP_OTHER), "same") == 0, "text: IPv4:port");
    ok(strcmp(verdict(&b, "2001:db8::1", 9443, FP_CS), "same") == 0,
       "text: [IPv6]:port, canonical IPv6 form");
    ok(strcmp(verdict(&b, "[2001:0db8:0000::1]", 9443, FP_CS), "same") == 0,
       "text: queries are normalised too");
    ok(strcmp(verdict(&b, "2001:db8::2", 443, FP_OSSL), "same") == 0, "text: bare IPv6, port 443");
    ok(strcmp(verdict(&b, "2001:db8::3", 443, FP_SIB), "same") == 0, "text: [IPv6] alone");
    ok(strcmp(verdict(&b, "timeout.example", 443, FP_OSSL), "changed " ZEROS) == 0,
       "text: a zero fingerprint then, an answer now: changed");
    ok(strcmp(verdict(&b, "timeout.example", 443, ZEROS), "same") == 0,
       "text: zeros both times: same");
    ok(strcmp(verdict(&b, "long.example", 443,
                      "07D07D14D16D21D21D00042D43D000000AA99CE74E2C6D013C745AA52B5CC042D"),
              "same") == 0,
       "text: a 65-character fingerprint; fingerprints compared case-insensitively");
    ok(strcmp(jarm__baseline_lookup(&b, "example.org", 11, 8443), FP_SIB) == 0 &&
           jarm__baseline_lookup(&b, "example.org", 11, 443) == NULL,
       "text: lookup");
    ok(strcmp(verdict(&b, "", 443, FP_OSSL), "new") == 0, "text: an empty host is new");

    /* Errors, all or nothing. */
    ok(bl_parse(&b, "e1", "ok.example " FP_OSSL "\nbad.example 07d\n", err) == JARM_EINVAL &&
           strcmp(err, "e1:2: bad fingerprint '07d'") == 0,
       "text errors: bad fingerprint: %s", err);
    ok(strcmp(verdict(&b, "ok.example", 443, FP_OSSL), "new") == 0 && b.tab.keys == 8 &&
           b.rows == 8,
       "text errors: the file's good rows are not kept");
    ok(bl_parse(&b, "e2", "host:0 " FP_OSSL, err) == JARM_EINVAL &&
           strcmp(err, "e2:1: bad port") == 0,
       "text errors: port 0: %s", err);
    ok(bl_parse(&b, "e3", "host:65536 " FP_OSSL, err) == JARM_EINVAL &&
           strcmp(err, "e3:1: bad port") == 0,
       "text errors: port 65536");
    ok(bl_parse(&b, "e4", "[::1 " FP_OSSL, err) == JARM_EINVAL &&
           strcmp(err, "e4:1: bad target '[::1'") == 0,
       "text errors: unclosed bracket: %s", err);
    ok(bl_parse(&b, "e5", ":443 " FP_OSSL, err) == JARM_EINVAL &&
           strcmp(err, "e5:1: bad target ':443'") == 0,
       "text errors: no host: %s", err);
    ok(bl_parse(&b, "e6", "host " FP_OSSL " extra", err) == JARM_EINVAL &&
           strcmp(err, "e6:1: expected 'host[:port] fingerprint'") == 0,
       "text errors: three columns: %s", err);
    ok(bl_parse(&b, "e7", "\n\nhost-only\n", err) == JARM_EINVAL &&
           strcmp(err, "e7:3: expected 'host[:port] fingerprint'") == 0,
       "text errors: one column: %s", err);
    ok(bl_parse(&b, "e8", "[::1]x " FP_OSSL, err) == JARM_EINVAL &&
           strcmp(err, "e8:1: bad port") == 0,
       "text errors: junk after ]: %s", err);
    ok(b.tab.keys == 8 && b.rows == 8 && b.n == 8, "text errors: nothing of the bad files kept");
    ok(strcmp(verdict(&b, "example.com", 443, FP_OSSL), "same") == 0,
       "text errors: earlier rows still found");
    jarm__baseline_free(&b);
}

/* Rows as jarmsweep 0.1.0 writes them (captured from a real run), and the reference's. */
static const char ndjson[] =
    "{\"host\":\"127.0.0.1\",\"ip\":\"127.0.0.1\",\"port\":4433,\"jarm\":\"" FP_OSSL
    "\",\"status\":\"ok\",\"raw\":\"0033|0303||ff01-0001-0023-0017,009d|0303||ff01-0001-0023-"
    "0017,009f|0303||ff01-0001-0023-0017,c013|0303||ff01-0001-000b-0023-0017,c013|0303||ff01-"
    "0001-000b-0023-0017,|||,1302|0303||002b-0033,1303|0303||002b-0033,|||,|||\",\"probes\":[{"
    "\"status\":\"ok\",\"ms\":2},{\"status\":\"ok\",\"ms\":1},{\"status\":\"ok\",\"ms\":2},{"
    "\"status\":\"ok\",\"ms\":2},{\"status\":\"ok\",\"ms\":3},{\"status\":\"alert\",\"ms\":3},{"
    "\"status\":\"ok\",\"ms\":3},{\"status\":\"ok\",\"ms\":4},{\"status\":\"alert\",\"ms\":4},{"
    "\"status\":\"alert\",\"ms\":4}],\"sni\":\"127.0.0.1\",\"elapsed_ms\":6,\"ts\":\"2026-11-"
    "26T19:50:32.080Z\"}\n"
    "{\"host\":\"::1\",\"ip\":\"::1\",\"port\":4434,\"jarm\":\"" ZEROS
    "\",\"status\":\"refused\",\"raw\":\"|||,|||,|||,|||,|||,|||,|||,|||,|||,|||\",\"probes\":[{"
    "\"status\":\"refused\",\"ms\":1}],\"sni\":\"::1\",\"elapsed_ms\":1,\"ts\":\"2026-11-26T19:5"
    "0:32.074Z\"}\n"
    "{\"host\":\"bad::target:x\",\"ip\":null,\"port\":null,\"jarm\":\"" ZEROS
    "\",\"status\":\"bad_target\",\"raw\":\"|||,|||,|||,|||,|||,|||,|||,|||,|||,|||\",\"error\":"
    "\"bad IPv6 address 'bad::target:x'\",\"input\":\"argv\",\"line\":3,\"ts\":\"2026-11-26T19:"
    "50:32.074Z\"}\n"
    "{\"host\":\"nx.example\",\"ip\":null,\"port\":443,\"jarm\":\"" ZEROS
    "\",\"status\":\"dns_error\",\"error\":\"nxdomain\"}\n"
    "{\"host\":\"proxied.example\",\"ip\":null,\"port\":8443,\"jarm\":\"" FP_SIB
    "\",\"status\":\"ok\",\"proxy\":\"socks5://127.0.0.1:1080\"}\n"
    "  { \"status\" : \"ok\" , \"jarm\" : \"" FP_OTHER "\" , \"host\" : \"No-Port.Example\" }  \n"
    "{\"host\":\"ref.example\",\"ip\":\"192.0.2.7\",\"result\":\"" FP_CS
    "\",\"jarm\":\"c02f|0303||,|||,|||,|||,|||,|||,|||,|||,|||,|||\"}\n"
    "{\"host\":\"ref-unresolved.example\",\"ip\":null,\"result\":\"" ZEROS "\"}\n"
    "{\"host\":\"\\u00e9t\\u00E9.example\",\"port\":443,\"jarm\":\"" FP_OSSL
    "\",\"x\":{\"a\":[1,{\"b\":\"}]\\\"\"}],\"c\":null},\"y\":[],\"z\":-1.5e3,\"w\":true,"
    "\"v\":\"\\ud83d\\ude00\"}\n"
    "{\"host\":\"esc\\\"aped\\\\host\\/x\",\"jarm\":\"" FP_OSSL "\"}\n"
    "{\"host\":\"dup.example\",\"jarm\":\"" FP_OSSL "\"}\n"
    "{\"host\":\"dup.example\",\"jarm\":\"" FP_SIB "\"}\n"
    "{\"host\":\"dup.example\",\"jarm\":\"" FP_OSSL "\"}\n"
    "{}\n";

static void test_baseline_ndjson(void)
{
    jarm__baseline_t b;
    char err[256] = "";
    int64_t n;

    jarm__baseline_init(&b);
    n = bl_parse(&b, "scan.ndjson", ndjson, err);
    ok(n == JARM_EINVAL && strcmp(err, "scan.ndjson:14: row without a fingerprint") == 0,
       "ndjson: an empty object is an error: %s", err);
    n = jarm__baseline_parse(&b, "scan.ndjson", ndjson, strlen(ndjson) - 3, err, sizeof(err));
    ok(n == 10, "ndjson: 10 rows taken (%lld) %s", (long long)n, err);
    ok(b.skipped == 3, "ndjson: bad_target, dns_error and an unresolved reference row skipped");
    ok(b.tab.keys == 8 && b.n == 9, "ndjson: 8 keys, 9 distinct fingerprints (%zu %zu)", b.tab.keys,
       b.n);
    ok(strcmp(verdict(&b, "127.0.0.1", 4433, FP_OSSL), "same") == 0, "ndjson: a jarmsweep row");
    ok(strcmp(verdict(&b, "::1", 4434, FP_OSSL), "changed " ZEROS) == 0,
       "ndjson: a refused row is kept (zeros)");
    ok(strcmp(verdict(&b, "bad::target:x", 443, ZEROS), "new") == 0 &&
           strcmp(verdict(&b, "nx.example", 443, ZEROS), "new") == 0,
       "ndjson: skipped rows are not in the baseline");
    ok(strcmp(verdict(&b, "proxied.example", 8443, FP_SIB), "same") == 0,
       "ndjson: a row with ip null and status ok (through a proxy) is kept");
    ok(strcmp(verdict(&b, "no-port.example", 443, FP_OTHER), "same") == 0,
       "ndjson: blanks, member order, no port (443)");
    ok(strcmp(verdict(&b, "ref.example", 443, FP_CS), "same") == 0,
       "ndjson: the reference's -j row: the fingerprint is \"result\"");
    ok(strcmp(verdict(&b, "ref-unresolved.example", 443, ZEROS), "new") == 0,
       "ndjson: the reference's unresolved row (ip null, no status) skipped");
    ok(strcmp(verdict(&b, "\xc3\xa9t\xc3\xa9.example", 443, FP_OSSL), "same") == 0,
       "ndjson: \\u escapes decoded to UTF-8, nested members skipped");
    ok(strcmp(verdict(&b, "esc\"aped\\host/x", 443, FP_OSSL), "same") == 0,
       "ndjson: escaped quote, backslash, slash");
    ok(strcmp(verdict(&b, "dup.example", 443, FP_OSSL), "same") == 0 &&
           strcmp(verdict(&b, "dup.example", 443, FP_SIB), "same") == 0,
       "ndjson: a key with two fingerprints: either is same");
    ok(strcmp(verdict(&b, "dup.example", 443, FP_OTHER), "changed " FP_SIB) == 0,
       "ndjson: changed reports the last distinct fingerprint recorded");
    jarm__baseline_free(&b);

    jarm__baseline_init(&b);
    {
        static const struct {
            const char *row, *err;
        } bad[] = {
            {"{\"host\":\"a\",\"jarm\":\"" FP_OSSL "\"", "bad JSON row"},
            {"{\"host\":\"a\",\"jarm\":\"" FP_OSSL "\"} x", "bad JSON row"},
            {"{\"host\":\"a\" \"jarm\":\"" FP_OSSL "\"}", "bad JSON row"},
            {"{\"host\":\"a\",\"jarm\":\"" FP_OSSL "\",}", "bad JSON row"},
            {"{\"host\":\"a\\q\",\"jarm\":\"" FP_OSSL "\"}", "bad JSON row"},
            {"{\"host\":\"a\\u12\",\"jarm\":\"" FP_OSSL "\"}", "bad JSON row"},
            {"{\"host\":\"a\",\"x\":[1,2,\"jarm\":\"" FP_OSSL "\"}", "bad JSON row"},
            {"{\"host\":\"a\",\"x\":,\"jarm\":\"" FP_OSSL "\"}", "bad JSON row"},
            {"{\"host\":\"a\",\"jarm\":\"07d\"}", "bad fingerprint '07d'"},
            {"{\"host\":\"a\",\"jarm\":null}", "row without a fingerprint"},
            {"{\"host\":\"a\",\"status\":\"ok\"}", "row without a fingerprint"},
            {"{\"jarm\":\"" FP_OSSL "\"}", "row without a host"},
            {"{\"host\":null,\"jarm\":\"" FP_OSSL "\"}", "row without a host"},
            {"{\"host\":\"\",\"jarm\":\"" FP_OSSL "\"}", "bad target ''"},
            {"{\"host\":\"a\",\"port\":0,\"jarm\":\"" FP_OSSL "\"}", "bad port"},
            {"{\"host\":\"a\",\"port\":\"443\",\"jarm\":\"" FP_OSSL "\"}", "bad port"},
            {"{\"host\":\"a\",\"port\":443.5,\"jarm\":\"" FP_OSSL "\"}", "bad port"},
            {"{\"host\":\"a\",\"port\":-1,\"jarm\":\"" FP_OSSL "\"}", "bad port"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char want[256];
            (void)snprintf(want, sizeof(want), "b.ndjson:2: %s", bad[i].err);
            err[0] = '\0';
            {
                char text[512];
                (void)snprintf(text, sizeof(text), "{\"host\":\"fine\",\"jarm\":\"%s\"}\n%s\n",
                               FP_OSSL, bad[i].row);
                n = bl_parse(&b, "b.ndjson", text, err);
            }
            ok(n == JARM_EINVAL && strcmp(err, want) == 0, "ndjson errors: %s -> %s", bad[i].row,
               err);
        }
    }
    ok(b.n == 0 && b.tab.keys == 0 && b.rows == 0 && b.alen == 0,
       "ndjson errors: nothing kept of any bad file");
    jarm__baseline_free(&b);
}

static void test_baseline_csv(void)
{
    jarm__baseline_t b;
    char err[256] = "";
    int64_t n;

    jarm__baseline_init(&b);
    n = bl_parse(&b, "r.csv",
                 "127.0.0.1,127.0.0.1," FP_OSSL "\n"
                 "nosuch.invalid,Failed to resolve IP," ZEROS "\n"
                 "v.example,192.0.2.9," FP_SIB ",c02f|0303||,|||,|||,|||,|||,|||,|||,|||,|||,|||\n"
                 "proxied.example,," FP_OTHER "\n"
                 "a,b,c," FP_CS "\n",
                 err);
    ok(n == 4, "csv: 4 rows (%lld) %s", (long long)n, err);
    ok(b.skipped == 1, "csv: the unresolved row skipped");
    ok(strcmp(verdict(&b, "127.0.0.1", 443, FP_OSSL), "same") == 0, "csv: host,ip,jarm (443)");
    ok(strcmp(verdict(&b, "v.example", 443, FP_SIB), "same") == 0,
       "csv: the reference's -v line with the raw string");
    ok(strcmp(verdict(&b, "proxied.example", 443, FP_OTHER), "same") == 0, "csv: empty ip kept");
    ok(strcmp(verdict(&b, "a,b", 443, FP_CS), "same") == 0,
       "csv: a host holding ',' (the reference's a,b,c target)");
    ok(bl_parse(&b, "e.csv", "host,ip\n", err) == JARM_EINVAL &&
           strcmp(err, "e.csv:1: expected 'host,ip,fingerprint'") == 0,
       "csv errors: two fields: %s", err);
    ok(bl_parse(&b, "e.csv", "host,ip,07d\n", err) == JARM_EINVAL &&
           strcmp(err, "e.csv:1: bad fingerprint '07d'") == 0,
       "csv errors: no fingerprint: %s", err);
    jarm__baseline_free(&b);
}

static void test_baseline_files(void)
{
    jarm__baseline_t b;
    char err[256] = "";
    const char *path;
    char *big;
    size_t o = 0;
    int misses = 0;
    enum { N = 200000 };

    jarm__baseline_init(&b);
    ok(jarm__baseline_load(&b, "/nonexistent/base", err, sizeof(err)) == -ENOENT &&
           strcmp(err, "/nonexistent/base: No such file or directory") == 0,
       "files: missing file: %s", err);
    path = write_file("base.ndjson", ndjson);
    {
        /* Cut the final "{}" line: load must give what parse gives. */
        FILE *f = fopen(path, "r+b");
        int t = f != NULL && ftruncate(fileno(f), (off_t)(strlen(ndjson) - 3)) == 0;
        if (f != NULL)
            (void)fclose(f);
        ok(t && jarm__baseline_load(&b, path, err, sizeof(err)) == 10 && b.tab.keys == 8,
           "files: load = parse (%s)", err);
    }
    path = write_file("bad.txt", "x.example " FP_OSSL "\r\n\r\ny.example nope\r\n");
    ok(jarm__baseline_load(&b, path, err, sizeof(err)) == JARM_EINVAL &&
           strstr(err, "bad.txt:3: bad "
                       "fingerprint 'nope'"),
       "files: FILE:LINE from load, CR LF: %s", err);
    ok(b.tab.keys == 8 && strcmp(verdict(&b, "x.example", 443, FP_OSSL), "new") == 0,
       "files: a failed load keeps nothing of its file");
    ok(strcmp(verdict(&b, "127.0.0.1", 4433, FP_OSSL), "same") == 0,
       "files: the first file is intact after a rollback");
    jarm__baseline_free(&b);

    /* Many keys: the table grows many times; every key stays findable. */
    big = malloc((size_t)N * 90);
    if (big == NULL) {
        ok(0, "files: out of memory");
        return;
    }
    for (int i = 0; i < N; i++)
        o += (size_t)sprintf(big + o, "h%d.example:%d %s\n", i, 1 + i % 65535,
                             i % 3 ? FP_OSSL : FP_SIB);
    jarm__baseline_init(&b);
    ok(jarm__baseline_parse(&b, "big", big, o, err, sizeof(err)) == N && b.tab.keys == N,
       "files: %d rows", N);
    for (int i = 0; i < N; i++) {
        char h[32];
        int hl = sprintf(h, "h%d.example", i);
        const char *fp = i % 3 ? FP_OSSL : FP_SIB;
        if (jarm__baseline_check(&b, h, (size_t)hl, 1 + (unsigned)i % 65535, fp, 62, NULL) !=
            JARM__BASELINE_SAME)
            misses++;
    }
    ok(misses == 0, "files: every key found (%d misses)", misses);
    /* A failing second file after a big one rolls back without losing anything. */
    ok(bl_parse(&b, "tail", "new.example " FP_OSSL "\nbroken\n", err) == JARM_EINVAL &&
           b.tab.keys == N &&
           jarm__baseline_check(&b, "h7.example", 10, 8, FP_OSSL, 62, NULL) == JARM__BASELINE_SAME,
       "files: rollback after growth");
    jarm__baseline_free(&b);
    free(big);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : NULL;
    char cmd[300];

    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    test_valid();
    test_parse();
    test_errors();
    test_match();
    test_zeros();
    test_scale();
    test_baseline_text();
    test_baseline_ndjson();
    test_baseline_csv();
    test_baseline_files();
    test_bundled(dir); /* last: it changes the working directory */
    ok(jarm__baseline_verdict_name(JARM__BASELINE_NEW)[0] == 'n' &&
           strcmp(jarm__baseline_verdict_name(JARM__BASELINE_CHANGED), "changed") == 0 &&
           strcmp(jarm__baseline_verdict_name(JARM__BASELINE_SAME), "same") == 0,
       "verdict names");
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        note("could not remove %s", tmpdir);
    return done_testing();
}
