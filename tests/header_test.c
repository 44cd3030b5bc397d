/*
 * header_test.c - the public header compiles on its own, as the first and only include
 * (dav1d's header test), and its constants are consistent with each other.
 */
#include <jarm.h>

_Static_assert(JARM_PROBES == 10, "ten probes");
_Static_assert(JARM_FP_LEN == 62, "a fingerprint is 62 characters");
_Static_assert(JARM_HELLO_MAX - JARM_HOST_MAX == 429, "probe 10 is the largest ClientHello");
_Static_assert(sizeof(JARM_RAW_EMPTY) - 1 == 10 * 3 + 9, "ten \"|||\" joined by ','");
_Static_assert(JARM_PROBE_STR_MAX > JARM_RX_MAX, "a probe string can hold any ALPN value");
_Static_assert(JARM_EAGAIN < 0 && JARM_EINVAL < 0 && JARM_ENOBUFS < 0 && JARM_EFORMAT < 0,
               "errors are negative");

int main(void)
{
    jarm_reply_t r = {JARM_REPLY_NONE, 0};
    jarm_fp_probe_t p = {{0}, 0, 0, 0, 0, 0};
    jarm_rng_t rng = {{0}, 0, {0}, {0}, 0};
    jarm_rand_fn fn = 0;

    (void)fn;
    return (int)(r.len + (size_t)p.answered + rng.used);
}
