/*
 * explain.c - `jarmsweep explain FINGERPRINT`: what each probe of a fingerprint says.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "jarm.h"

int jarm__cli_explain(int argc, char **argv)
{
    jarm_fp_probe_t probes[JARM_PROBES];
    char half1[31], half2[33];
    const char *fp;

    if (argc != 2) {
        fprintf(stderr, "jarmsweep: usage: jarmsweep explain FINGERPRINT\n");
        return 2;
    }
    fp = argv[1];
    if (jarm_fp_decode(fp, strlen(fp), half1, half2, probes) != 0) {
        fprintf(stderr, "jarmsweep: bad fingerprint '%s': want 62 characters, 10 x "
                        "(cipher code 00-46, version code 0 or a-j) then 32 hex digits\n",
                fp);
        return 2;
    }
    printf("fingerprint  %s\n", fp);
    printf("ciphers      %s  (cipher and version chosen per probe)\n", half1);
    printf("extensions   %s  (SHA-256 prefix of ALPN and extension lists)\n\n", half2);
    printf("%-2s  %-18s  %-4s  %-6s  %-44s  %s\n", "#", "probe", "code", "suite", "cipher suite",
           "version");
    for (unsigned i = 0; i < JARM_PROBES; i++) {
        const jarm_fp_probe_t *p = &probes[i];
        char suite[8];
        const char *name = p->cipher_name, *ver = p->version;
        if (p->cipher_name != NULL)
            snprintf(suite, sizeof(suite), "%04x", p->cipher);
        else
            snprintf(suite, sizeof(suite), "%s", "-");
        if (!p->answered)
            name = "(no ServerHello)";
        else if (name == NULL)
            name = strcmp(p->cipher_code, "00") == 0 ? "(none)" : "(not in the JARM table)";
        if (ver == NULL)
            ver = "-";
        printf("%-2u  %-18s  %s%c   %-6s  %-44s  %s\n", i + 1, jarm_probe_name(i), p->cipher_code,
               p->version_code, suite, name, ver);
    }
    return 0;
}
