/*
 * resume.c - the checkpoint file of --resume.
 *
 * The scanner numbers its units (targets and rows without a scan) in the same order in every
 * run with the same arguments, input and seed. The checkpoint holds the low watermark (every
 * unit below it is complete), the complete units above it, the seed and a fingerprint of
 * what defines the sequence; a resumed run hands them to the scanner, which skips those
 * units. Only units whose rows have been written are ever claimed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli/run.h"

/* FNV-1a over what defines the unit sequence, so a checkpoint only resumes the same sweep. */
static uint64_t fp_add(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t fp_str(uint64_t h, const char *s)
{
    return fp_add(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static uint64_t sweep_fingerprint(const jarm__cli_run_t *run)
{
    const jarm__cli_opts_t *o = &run->opts;
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < o->nargs; i++)
        h = fp_str(h, o->args[i]);
    for (int i = 0; i < o->nfiles; i++)
        h = fp_str(h, o->files[i]);
    for (int i = 0; i < o->nblocklists; i++)
        h = fp_str(h, o->blocklists[i]);
    h = fp_str(h, o->allowlist);
    h = fp_add(h, o->ports, o->nports * sizeof(o->ports[0]));
    h = fp_add(h, &run->seed, sizeof(run->seed));
    h = fp_add(h, &o->shard_i, sizeof(o->shard_i));
    h = fp_add(h, &o->shard_n, sizeof(o->shard_n));
    h = fp_add(h, &o->allow_reserved, sizeof(o->allow_reserved));
    h = fp_add(h, &o->force, sizeof(o->force));
    h = fp_add(h, &o->all_addresses, sizeof(o->all_addresses));
    h = fp_add(h, &o->family, sizeof(o->family));
    h = fp_str(h, o->proxy);
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Take FILE.lock (created beside the checkpoint, kept) so that two runs never write one
 * checkpoint, and learn now, not at the first checkpoint, that the directory is writable.
 * The lock goes with the process. Returns 0 or -1 with msg.
 */
static int resume_lock(jarm__cli_run_t *run, char *msg, size_t msglen)
{
    char path[4096];
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s.lock", run->opts.resume) >= sizeof(path)) {
        snprintf(msg, msglen, "--resume: file name too long");
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(msg, msglen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(msg, msglen, "%s: in use by another jarmsweep run (%s is locked)",
                     run->opts.resume, path);
        else
            snprintf(msg, msglen, "%s: %s", path, strerror(e));
        return -1;
    }
    run->resume_lock_fd = fd;
    return 0;
}

/* Read a checkpoint. Returns 0 (loaded or absent) or -1 with msg. */
static int resume_load(jarm__cli_run_t *run, char *msg, size_t msglen)
{
    FILE *f = fopen(run->opts.resume, "r");
    char word[32];
    unsigned long long v, fp = 0, seed = 0, low = 0;
    size_t cap = 0;
    int have_seed = 0;

    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(msg, msglen, "%s: %s", run->opts.resume, strerror(errno));
        return -1;
    }
    if (fscanf(f, "jarmsweep-resume %llu", &v) != 1 || v != 1)
        goto Bad;
    while (fscanf(f, "%31s", word) == 1) {
        if (strcmp(word, "fingerprint") == 0 && fscanf(f, "%llx", &fp) == 1)
            continue;
        if (strcmp(word, "seed") == 0 && fscanf(f, "%llu", &seed) == 1) {
            have_seed = 1;
            continue;
        }
        if (strcmp(word, "next") == 0 && fscanf(f, "%llu", &low) == 1)
            continue;
        if (strcmp(word, "done") == 0) {
            while (fscanf(f, "%llu", &v) == 1) {
                if (run->resume_ndone == cap) {
                    uint64_t *p;
                    cap = cap ? cap * 2 : 1024;
                    if ((p = realloc(run->resume_done, cap * sizeof(*p))) == NULL)
                        goto Bad;
                    run->resume_done = p;
                }
                run->resume_done[run->resume_ndone++] = v;
            }
            break;
        }
        goto Bad;
    }
    fclose(f);
    if (!have_seed)
        goto BadClosed;
    if (run->opts.seed_set && run->opts.seed != seed) {
        snprintf(msg, msglen, "%s: written with --seed %llu, not %llu", run->opts.resume, seed,
                 (unsigned long long)run->opts.seed);
        return -1;
    }
    run->seed = seed;
    run->resume_low = low;
    if (run->resume_ndone > 0)
        qsort(run->resume_done, run->resume_ndone, sizeof(uint64_t), cmp_u64);
    if (sweep_fingerprint(run) != fp) {
        snprintf(msg, msglen, "%s: written by a run with other targets or options",
                 run->opts.resume);
        return -1;
    }
    return 0;
Bad:
    fclose(f);
BadClosed:
    snprintf(msg, msglen, "%s: not a jarmsweep checkpoint", run->opts.resume);
    return -1;
}

int jarm__resume_write(jarm__cli_run_t *run)
{
    const jarm__scanner_t *sc = &run->scanner;
    char tmp[4096];
    FILE *f;
    int err = 0;

    if (run->opts.resume == NULL || run->opts.dry_run || !run->scanner_on)
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", run->opts.resume);
    if ((f = fopen(tmp, "w")) == NULL)
        return errno;
    fprintf(f,
            "jarmsweep-resume 1\nfingerprint %016" PRIx64 "\nseed %" PRIu64 "\nnext %" PRIu64
            "\ndone",
            sweep_fingerprint(run), run->seed, sc->low);
    for (uint64_t s = sc->low; s < sc->seq_next; s++)
        if (jarm__scanner_unit_done(sc, s))
            fprintf(f, " %" PRIu64, s);
    /* Units of the previous run above our watermark that we skipped stay done. */
    for (size_t i = 0; i < run->resume_ndone; i++)
        if (run->resume_done[i] >= sc->seq_next)
            fprintf(f, " %" PRIu64, run->resume_done[i]);
    fputc('\n', f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        err = errno;
    if (fclose(f) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, run->opts.resume) != 0)
        err = errno;
    return err;
}

int jarm__resume_open(jarm__cli_run_t *run, char *msg, size_t msglen)
{
    if (run->opts.resume == NULL)
        return 0;
    if (!run->opts.dry_run && resume_lock(run, msg, msglen) != 0)
        return -1;
    return resume_load(run, msg, msglen);
}

void jarm__resume_free(jarm__cli_run_t *run)
{
    free(run->resume_done);
    run->resume_done = NULL;
    if (run->resume_lock_fd > 0) {
        close(run->resume_lock_fd);
        run->resume_lock_fd = 0;
    }
}
