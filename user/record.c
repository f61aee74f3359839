/* Placeholder until the recorder lands. */
#include <stdio.h>
#include "commands.h"

int cmd_record(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "pyperf record: not implemented yet\n");
	return 1;
}
