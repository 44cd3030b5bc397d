/*
 * errors.c - names and messages for the JARM_E* codes, generated from JARM_ERRNO_MAP so the
 * three can never drift apart. Other negative codes are taken as negated errno values, which
 * is what libuv's UV_E* codes are on Unix; the pure layer does not link libuv.
 */
#include <string.h>

#include "jarm.h"

const char *jarm_strerror(int err)
{
    switch (err) {
#define XX(name, val, msg) \
    case JARM_##name:      \
        return msg;
        JARM_ERRNO_MAP(XX)
#undef XX
    case 0:
        return "success";
    default:
        if (err < 0 && err > -4096)
            return strerror(-err);
        return "unknown error";
    }
}

const char *jarm_err_name(int err)
{
    switch (err) {
#define XX(name, val, msg) \
    case JARM_##name:      \
        return #name;
        JARM_ERRNO_MAP(XX)
#undef XX
    default:
        return "UNKNOWN";
    }
}
