/*
 * main.c - the jarmsweep command line: options, subcommands, then one scan (run.c). The only
 * file that exits.
 */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "cli/app.h"
#include "cli/cli.h"
#include "jarm.h"

int main(int argc, char **argv)
{
    static app_t app_storage;
    app_t *app = &app_storage;
    char msg[512];
    int ret;

    if (argc >= 2 && strcmp(argv[1], "explain") == 0)
        return jarm__cli_explain(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "diff") == 0)
        return jarm__cli_diff(argc - 1, argv + 1);
    if (jarm__cli_parse(argc, argv, &app->opts, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "jarmsweep: %s\n", msg);
        jarm__cli_opts_free(&app->opts);
        return 2;
    }
    if (app->opts.help) {
        for (const char *const *h = jarm__cli_help; *h != NULL; h++)
            fputs(*h, stdout);
        jarm__cli_opts_free(&app->opts);
        return 0;
    }
    if (app->opts.version) {
        printf("jarmsweep %s (JARM version 1.0 compatible; libuv %s, %s)\n", JARM_VERSION_STRING,
               uv_version_string(), "OpenSSL libcrypto");
        jarm__cli_opts_free(&app->opts);
        return 0;
    }
    ret = jarm__run(app);
    jarm__cli_opts_free(&app->opts);
    return ret;
}
