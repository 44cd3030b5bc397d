/*
 * resolver_int.h - what the files of the resolver share and nothing outside them sees:
 *
 *   resolver.c      the API: options, init, the answers that need no query, resolve, close
 *   dns_cache.c     the name cache: keys, the hash table, the LRU of completed names, waiters
 *   dns_query.c     one name's query: fresh list and window, retries after connection errors,
 *                   c-ares's answer, completion
 *   dns_channel.c   the c-ares channel on the loop: options, sockets, timer, close, release
 *   dns_servers.c   the server list ("IP[:PORT],...")
 *
 * Only these files include <ares.h>.
 */
#ifndef JARM_RESOLVER_INT_H_
#define JARM_RESOLVER_INT_H_

#include <stddef.h>
#include <stdint.h>

#include <ares.h>

#include "htab.h"
#include "internal.h"
#include "jarm.h"
#include "queue.h"
#include "resolver.h"

#if ARES_VERSION < 0x011600
/* "don't bury the pointer" (c-ares 1.22): the channel type without its pointer. */
typedef struct ares_channeldata ares_channel_t;
#endif

/* A DNS name has at most 253 characters without its trailing dot. */
#define DNS_NAME_MAX_LEN 253
/* Submission window (see "Pacing" in dns_query.c): first size, and the size it never halves
 * below. */
#define DNS_WINDOW_INITIAL 32
#define DNS_WINDOW_MIN     4
/* Names queried at once, those past their first try included, as a multiple of
 * max_outstanding (see "Pacing" in dns_query.c). */
#define DNS_LINGER_FACTOR 8

/* A request waiting for a name being queried. */
typedef struct jarm__dns_waiter_s {
    jarm__resolve_cb cb;
    void *data;
    struct jarm__dns_waiter_s *next;
} dns_waiter_t;

/* An address as cached: 4 (IPv4, 4 bytes used) or 6 (IPv6) and the bytes. */
typedef struct dns_addr_s {
    uint8_t family;
    uint8_t bytes[16];
} dns_addr_t;

enum dns_state_e { E_QUERY_A = 0, E_QUERY_AAAA, E_DONE };

typedef struct jarm__dns_entry_s {
    struct jarm__dns_entry_s *hnext; /* hash chain */
    jarm__queue_t lru;               /* done entries only */
    jarm__resolver_t *r;
    dns_addr_t *addrs;  /* done entries: naddrs addresses, or NULL */
    dns_waiter_t first; /* the first waiter (cb NULL when none); first.next: the others */
    dns_waiter_t *last; /* the last waiter node, or NULL when first.next is empty */
    /* Queried entries: the list of fresh queries (submitted less than timeout_ms ago), and
     * the list of queries waiting to be retried after a connection error. */
    jarm__queue_t fresh_node;
    struct jarm__dns_entry_s *retry_next;
    uint64_t submitted_ms, retry_due_ms;
    uint8_t fresh, retrying, retries;
    uint32_t hash;
    uint8_t state;  /* enum dns_state_e */
    uint8_t status; /* jarm__dns_status_t, done entries */
    uint8_t naddrs;
    uint8_t name_len;
    char name[]; /* the key: lower case, no trailing dot, NUL-terminated */
} dns_entry_t;

JARM__STATIC_ASSERT(JARM__DNS_MAX_ADDRS <= UINT8_MAX, "naddrs is a uint8_t");
JARM__STATIC_ASSERT(DNS_NAME_MAX_LEN <= UINT8_MAX, "name_len is a uint8_t");

/* The hash of a key (jarm__dns_make_key's) of len bytes. */
static inline uint32_t jarm__dns_key_hash(const char *key, size_t len)
{
    return (uint32_t)jarm__hash_bytes(key, len, 0);
}

/* dns_cache.c */

/*
 * Copy name into key (DNS_NAME_MAX_LEN + 2 bytes) lower-cased and without one trailing dot.
 * Returns the key length, or -1 when the name is too long to be a DNS name or an IP literal.
 */
int jarm__dns_make_key(const char *name, char *key);
/* Call cb with status and n addresses expanded into sockaddr_storage on the stack. */
void jarm__dns_deliver(jarm__resolve_cb cb, void *data, jarm__dns_status_t status,
                       const dns_addr_t *addrs, size_t n);
/* The empty table; 0 or UV_ENOMEM. */
int jarm__dns_cache_init(jarm__resolver_t *r);
/* Free every entry, the table and the spare waiters. */
void jarm__dns_cache_free(jarm__resolver_t *r);
dns_entry_t *jarm__dns_cache_find(const jarm__resolver_t *r, const char *key, size_t len,
                                  uint32_t hash);
/* A request for entry e: answered at once when e is done, else attached to its waiters.
 * 0 or UV_ENOMEM. */
int jarm__dns_cache_request(jarm__resolver_t *r, dns_entry_t *e, jarm__resolve_cb cb, void *data);
/* A new entry being queried for key with the request (cb, data), in the table (done
 * entries evicted first to respect cache_max); NULL when out of memory. */
dns_entry_t *jarm__dns_entry_new(jarm__resolver_t *r, const char *key, size_t len, uint32_t hash,
                                 jarm__resolve_cb cb, void *data);
/* The query of e ended: keep it as done with status and addrs (1), or, for
 * JARM__DNS_ERROR or when out of memory, drop and free it (0). */
int jarm__dns_cache_settle(jarm__resolver_t *r, dns_entry_t *e, jarm__dns_status_t status,
                           const dns_addr_t *addrs, size_t n);
void jarm__dns_waiter_put(jarm__resolver_t *r, dns_waiter_t *w);
/* Complete every entry still being queried with JARM__DNS_ERROR. */
void jarm__dns_cache_cancel(jarm__resolver_t *r);

/* dns_query.c */

/* Queries submitted timeout_ms ago or earlier stop counting against the window. Returns the
 * number that did. */
unsigned jarm__dns_fresh_expire(jarm__resolver_t *r);
/* Count the new entry e as outstanding and send its first query (which may complete e). */
void jarm__dns_query_new(jarm__resolver_t *r, dns_entry_t *e);
/* Report the end of e's query to every waiter; see dns_query.c. */
void jarm__dns_entry_complete(jarm__resolver_t *r, dns_entry_t *e, jarm__dns_status_t status,
                              const dns_addr_t *addrs, size_t n);

/* dns_channel.c */

/* Create r's channel with servers (NULL: resolv.conf's), count of them. 0, JARM_EINVAL with
 * a message, or UV_ENOMEM; nothing to undo on error. */
int jarm__dns_channel_open(jarm__resolver_t *r, struct ares_addr_port_node *servers,
                           size_t nservers);
/* The outermost c-ares call returned: run a deferred destroy, or update the timer. */
void jarm__dns_after_ares(jarm__resolver_t *r);
/* Destroy the channel (its callbacks cancel every pending name) and close every handle. */
void jarm__dns_finish_close(jarm__resolver_t *r);

/* dns_servers.c */

/* Parse "IP[:PORT],..." into a list (free with jarm__dns_servers_free); JARM_EINVAL with a
 * message in r->error, or UV_ENOMEM. */
int jarm__dns_servers_parse(jarm__resolver_t *r, const char *csv, struct ares_addr_port_node **out,
                            size_t *count);
void jarm__dns_servers_free(struct ares_addr_port_node *list);

#endif /* JARM_RESOLVER_INT_H_ */
