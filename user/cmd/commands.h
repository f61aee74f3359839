/* Entry points of pyperf's subcommands; each returns the process exit code. */
#ifndef PYPERF_COMMANDS_H
#define PYPERF_COMMANDS_H

int cmd_record(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_annotate(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv); /* flamegraph/cli.c */

#endif
