/*
 * main.c - the jarmsweep command line: options, subcommands, then one scan (run.c). The only
 * file that exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "jarm.h"
#include "output.h"

/*
 * Started with standard input, output or error closed (`<&-`, `>&-`, `2>&-`), the first
 * descriptors we open would land on 0-2: libuv's, the output file's, a probe socket. Reopen
 * each closed one on /dev/null first. Returns 0, or -1 when even that fails.
 */
static int reopen_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* The lowest free descriptor: fd itself, as the ones below it are open. */
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd != fd) {
            if (nfd >= 0)
                close(nfd);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static jarm__cli_run_t run_storage;
    jarm__cli_run_t *app = &run_storage;
    char msg[512];
    int ret;

    if (reopen_std_fds() != 0)
        return 1;
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
    if (getenv("JARMSWEEP_TEST_FAIL_GROWTH") != NULL)
        jarm__buf_fail_after = strtol(getenv("JARMSWEEP_TEST_FAIL_GROWTH"), NULL, 10);
    ret = jarm__cli_run(app);
    jarm__cli_opts_free(&app->opts);
    return ret;
}
