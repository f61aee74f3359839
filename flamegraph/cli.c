/* Placeholder until the flamegraph writer lands. */
#include <stdio.h>
#include "commands.h"

int cmd_flamegraph(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "pyperf flamegraph: not implemented yet\n");
	return 1;
}
