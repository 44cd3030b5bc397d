/*
 * tap.h - a minimal TAP emitter in the spirit of picotest: ok() prints "ok N - ..." or
 * "not ok N - ..." and returns the condition, note() prints a "# " diagnostic line, and
 * done_testing() prints the plan and returns the process exit code. One test program per
 * process, so the counters are file-scope statics.
 */
#ifndef JARM_TESTS_TAP_H_
#define JARM_TESTS_TAP_H_

#include <stdarg.h>
#include <stdio.h>

static int tap_count_, tap_failed_;

__attribute__((format(printf, 4, 5))) static inline int tap_ok_(int cond, const char *file,
                                                                int line, const char *fmt, ...)
{
    va_list ap;
    printf("%sok %d - ", cond ? "" : "not ", ++tap_count_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed_++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

__attribute__((format(printf, 1, 2))) static inline void note(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* ok(cond, fmt, ...): one subtest; evaluates to cond (0 or 1). */
#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int done_testing(void)
{
    printf("1..%d\n", tap_count_);
    if (tap_failed_)
        printf("# %d of %d subtests failed\n", tap_failed_, tap_count_);
    return tap_failed_ ? 1 : 0;
}

#endif /* JARM_TESTS_TAP_H_ */
