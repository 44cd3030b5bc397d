/*
 * main.c - the jarmsweep command line (placeholder until the engine lands).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "jarm.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "explain") == 0)
        return jarm__cli_explain(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("jarmsweep %s\n", JARM_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "usage: jarmsweep explain FINGERPRINT\n");
    return 2;
}
