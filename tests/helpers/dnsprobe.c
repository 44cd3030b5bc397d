/*
 * dnsprobe.c - see dnsprobe.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dnsprobe.h"

int dnsprobe_free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(u, (struct sockaddr *)&sin, &len) == 0 &&
        bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0)
        port = ntohs(sin.sin_port);
    if (u >= 0)
        close(u);
    if (t >= 0)
        close(t);
    return port;
}

/* name in DNS wire format (length-prefixed labels, a zero byte) into out; the length. */
static size_t encode_name(const char *name, uint8_t *out, size_t cap)
{
    size_t n = 1, lenpos = 0;
    for (; *name != '\0' && n + 2 < cap; name++) {
        if (*name == '.') {
            out[lenpos] = (uint8_t)(n - lenpos - 1);
            lenpos = n++;
        } else {
            out[n++] = (uint8_t)*name;
        }
    }
    out[lenpos] = (uint8_t)(n - lenpos - 1);
    out[n++] = 0;
    return n;
}

int dnsprobe_ready(int port, const char *name)
{
    uint8_t q[300] = {0x4a, 0x52, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, buf[512];
    struct sockaddr_in sin;
    struct timeval tv = {0, 50000};
    size_t len = 12;
    ssize_t n;
    int fd, ready = 0;

    len += encode_name(name, q + len, sizeof(q) - len - 4);
    q[len++] = 0; /* type A */
    q[len++] = 1;
    q[len++] = 0; /* class IN */
    q[len++] = 1;
    if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
        return 0;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (sendto(fd, q, len, 0, (struct sockaddr *)&sin, sizeof(sin)) == (ssize_t)len) {
        n = recv(fd, buf, sizeof(buf), 0);
        /* same id, a response, rcode 0, one answer or more */
        ready = n >= 12 && buf[0] == 0x4a && buf[1] == 0x52 && (buf[2] & 0x80) &&
                (buf[3] & 0x0f) == 0 && (buf[6] | buf[7]) != 0;
    }
    close(fd);
    return ready;
}
