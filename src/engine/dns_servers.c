/*
 * dns_servers.c - the resolver's server list: "IP[:PORT],..." into c-ares's list.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "resolver_int.h"

/* Parse one "IP[:PORT]" item (len bytes) into node. */
static int parse_server(const char *s, size_t len, struct ares_addr_port_node *node)
{
    jarm__endpoint_t ep;
    char host[INET6_ADDRSTRLEN];
    int v6;

    if (jarm__endpoint_parse(s, len, &ep) != 0 || ep.host_len >= sizeof(host))
        return JARM_EINVAL;
    memcpy(host, ep.host, ep.host_len);
    host[ep.host_len] = '\0';
    v6 = ep.bracketed || memchr(host, ':', ep.host_len) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host,
                  v6 ? (void *)&node->addr.addr6 : (void *)&node->addr.addr4) != 1)
        return JARM_EINVAL;
    node->family = v6 ? AF_INET6 : AF_INET;
    node->udp_port = node->tcp_port = ep.port_text != NULL ? ep.port : 53;
    return 0;
}

void jarm__dns_servers_free(struct ares_addr_port_node *list)
{
    while (list != NULL) {
        struct ares_addr_port_node *next = list->next;
        free(list);
        list = next;
    }
}

int jarm__dns_servers_parse(jarm__resolver_t *r, const char *csv, struct ares_addr_port_node **out,
                            size_t *count)
{
    struct ares_addr_port_node *head = NULL, **tail = &head;
    const char *s = csv;
    int ret = 0;

    *count = 0;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        struct ares_addr_port_node *node;

        if (len == 0 || len >= 64) {
            (void)snprintf(r->error, sizeof(r->error),
                           len == 0 ? "empty resolver address in \"%s\""
                                    : "invalid resolver address in \"%s\"",
                           csv);
            ret = JARM_EINVAL;
            goto Exit;
        }
        if ((node = calloc(1, sizeof(*node))) == NULL) {
            ret = UV_ENOMEM;
            goto Exit;
        }
        *tail = node;
        tail = &node->next;
        if (parse_server(s, len, node) != 0) {
            (void)snprintf(r->error, sizeof(r->error),
                           "invalid resolver \"%.*s\" (expected IP, IP:PORT or [IPv6]:PORT, "
                           "port 1-65535)",
                           (int)len, s);
            ret = JARM_EINVAL;
            goto Exit;
        }
        (*count)++;
        if (end == NULL)
            break;
        s = end + 1;
    }

Exit:
    if (ret != 0) {
        jarm__dns_servers_free(head);
        head = NULL;
    }
    *out = head;
    return ret;
}
