/* pyperf: command dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"

#define PYPERF_VERSION "0.1.0"

static const char usage[] =
	"usage: pyperf COMMAND [OPTIONS]\n"
	"\n"
	"A sampling profiler for CPython that walks Python stacks in the kernel (eBPF).\n"
	"\n"
	"commands:\n"
	"  record      sample Python processes and write a profile: SVG flame graph,\n"
	"              folded stacks, pprof (.pb.gz) or speedscope (.speedscope.json)\n"
	"  dump        print every thread's Python stack now, without stopping the process\n"
	"  top         live view of the hottest functions of a process\n"
	"  report      merge profiles (period files of record -a --every) by time and\n"
	"              label, one root per process if asked, into any output format\n"
	"  annotate    the hot functions' source lines with each line's share\n"
	"  flamegraph  turn folded stacks into an interactive SVG flame graph\n"
	"  diff        compare two profiles: what grew, shrank, is new or gone, beyond\n"
	"              sampling noise; a table, or a flame graph coloured by change\n"
	"\n"
	"Run 'pyperf COMMAND --help' for the options of a command.\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("pyperf %s\n", PYPERF_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(cmd, "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(argc - 1, argv + 1);
	if (!strcmp(cmd, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(cmd, "annotate"))
		return cmd_annotate(argc - 1, argv + 1);
	if (!strcmp(cmd, "flamegraph"))
		return cmd_flamegraph(argc - 1, argv + 1);
	fprintf(stderr, "pyperf: unknown command '%s'; run 'pyperf --help' for the list\n", cmd);
	return 2;
}
