/*
 * dnsprobe.h - loopback DNS helpers shared by the resolver test and benchmark.
 */
#ifndef JARM_TESTS_DNSPROBE_H_
#define JARM_TESTS_DNSPROBE_H_

/* A port free on 127.0.0.1 for both UDP and TCP (dnsmasq binds both), or 0. */
int dnsprobe_free_port(void);

/* Nonzero when the DNS server on 127.0.0.1:port answers an A query for name with an answer. */
int dnsprobe_ready(int port, const char *name);

#endif /* JARM_TESTS_DNSPROBE_H_ */
