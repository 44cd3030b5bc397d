/*
 * target.h - the target grammar: one input line or argument -> host, address, port.
 */
#ifndef JARM_TARGET_H_
#define JARM_TARGET_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "jarm.h"

typedef enum jarm__target_kind_e {
    JARM__TARGET_SKIP = 0, /* blank line or comment: no target, no row */
    JARM__TARGET_IP,       /* an IPv4 or IPv6 literal: addr is filled */
    JARM__TARGET_NAME,     /* a host name: needs resolution */
    JARM__TARGET_BAD       /* unparsable: error holds the reason */
} jarm__target_kind_t;

typedef struct jarm__target_spec_s {
    jarm__target_kind_t kind;
    char host[JARM_HOST_MAX + 1]; /* the host as given (brackets removed), NUL-terminated */
    size_t host_len;
    uint16_t port; /* 0: none given, use the --ports list */
    struct sockaddr_storage addr;
    char error[96]; /* JARM__TARGET_BAD: "bad port '99999'" */
} jarm__target_spec_t;

/*
 * Parse one target (line bytes, len; no NUL needed). Accepted: IP, IP:port, [IPv6]:port,
 * [IPv6], IPv6 (no port), host, host:port and the reference's host,port. Leading and
 * trailing white space (and a CR) are ignored; an empty line or one starting with '#' is
 * JARM__TARGET_SKIP. Never fails: bad input yields JARM__TARGET_BAD with a reason.
 */
void jarm__target_parse(const char *line, size_t len, jarm__target_spec_t *t);

/*
 * Parse a port list "443", "443,8443", "8000-8010" into ports (at most cap entries, in the
 * order given, duplicates kept). Returns the count, or -1 with a message in err.
 */
int jarm__ports_parse(const char *s, uint16_t *ports, size_t cap, char *err, size_t errlen);

#endif /* JARM_TARGET_H_ */
