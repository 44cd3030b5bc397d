/*
 * consumer_sweep.c - a program outside the tree that includes only the installed
 * <jarmsweep.h> and links the installed libjarmsweep (tests/install/install.py). It fills a
 * jarm_result_t as the scanner would for an unparsable target and checks that
 * jarm_result_to_json() writes the command line's row for it, that too small a buffer gives
 * JARM_ENOBUFS, and the status names. No network.
 *
 * Prints one line per check and "consumer_sweep: ok" at the end; exits 0 only if all passed.
 */
#include <stdio.h>
#include <string.h>

#include <jarmsweep.h>

static int failed;

static void check(int cond, const char *what)
{
    printf("%s: %s\n", cond ? "pass" : "FAIL", what);
    if (!cond)
        failed = 1;
}

int main(void)
{
    static const char want[] =
        "{\"host\":\"no\\\"pe\",\"ip\":null,\"port\":null,"
        "\"jarm\":\"00000000000000000000000000000000000000000000000000000000000000\","
        "\"status\":\"bad_target\",\"raw\":\"|||,|||,|||,|||,|||,|||,|||,|||,|||,|||\","
        "\"error\":\"bad target\",\"input\":\"argv\",\"line\":3,"
        "\"ts\":\"2026-12-06T13:00:00.042Z\"}";
    jarm_result_t r;
    char out[1024];
    int n;

    memset(&r, 0, sizeof(r));
    r.host = "no\"pe";
    r.host_len = 5;
    r.line = 3;
    r.status = JARM_STATUS_BAD_TARGET;
    r.jarm = "00000000000000000000000000000000000000000000000000000000000000";
    r.raw = JARM_RAW_EMPTY;
    r.raw_len = strlen(JARM_RAW_EMPTY);
    r.error = "bad target";
    r.ts_ms = 1796562000042ull; /* 2026-12-06T13:00:00.042Z */
    n = jarm_result_to_json(&r, out, sizeof(out));
    check(n == (int)strlen(want) && strcmp(out, want) == 0, "jarm_result_to_json: the row");
    if (n > 0 && strcmp(out, want) != 0)
        printf("  got  %s\n  want %s\n", out, want);
    check(n > 0 && jarm_result_to_json(&r, out, (size_t)n) == JARM_ENOBUFS,
          "jarm_result_to_json: JARM_ENOBUFS without room for the NUL");
    check(strcmp(jarm_status_name(JARM_STATUS_DNS_ERROR), "dns_error") == 0 &&
              strcmp(jarm_probe_status_name(JARM_PROBE_SKIPPED), "skipped") == 0,
          "status names");
    check(strcmp(jarm_strerror(JARM_EINVAL), "invalid argument") == 0,
          "jarm.h comes with jarmsweep.h");
    if (failed)
        return 1;
    printf("consumer_sweep: ok\n");
    return 0;
}
