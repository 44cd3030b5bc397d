/*
 * cli.h - the subcommands of the jarmsweep command line.
 */
#ifndef JARM_CLI_H_
#define JARM_CLI_H_

/* `jarmsweep explain FP`; argv[0] is "explain". Returns the process exit code. */
int jarm__cli_explain(int argc, char **argv);

#endif /* JARM_CLI_H_ */
