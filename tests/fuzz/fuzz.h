/*
 * fuzz.h - what every fuzz target and the replay driver share.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput. It is linked either with libFuzzer
 * (fuzzing_engine=libfuzzer), with the engine of oss-fuzz, or with standalone_main.c
 * (fuzzing_engine=none), which replays files and is what the fuzz-regress suite runs.
 * A violated property calls FUZZ_CHECK's abort(), which every engine reports as a crash.
 */
#ifndef JARM_FUZZ_H_
#define JARM_FUZZ_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition and its location; never compiled out (unlike assert). */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            (void)fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif /* JARM_FUZZ_H_ */
