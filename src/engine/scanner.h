/*
 * scanner.h - the engine-side scanner: one object that composes the connection engine
 * (scan.h), the target source (input lines, ranges, names through the resolver, blocklist,
 * unit numbering for resume) and the result hooks, with one lifecycle state.
 */
#ifndef JARM_SCANNER_H_
#define JARM_SCANNER_H_

/*
 * Test hook for allocation failures: JARMSWEEP_TEST_FAIL_ALLOC=N in the environment makes the
 * N-th of the engine's allocation points passed after a scan's start fail (N = 1 is the first;
 * unset or 0: none). jarm__fault_arm() reads the variable (at the start of each scan);
 * jarm__fault() is called at each allocation point and returns 1 when that one must fail.
 */
void jarm__fault_arm(void);
int jarm__fault(void);

#endif /* JARM_SCANNER_H_ */
