/*
 * The folded-stack format: one line per distinct stack, root frame first,
 * frames separated by ';', then one space and a sample count:
 *
 *     main (app.py:10);work (app.py:4);parse (json/decoder.py:353) 1234
 *
 * Frame names in pyperf come from the profiled process and can contain any
 * byte, so pyperf escapes names when it writes them (folded_write_frame):
 *
 *     '\' -> \\     ';' -> \;     newline -> \n     CR -> \r     tab -> \t
 *     other bytes < 0x20, and 0x7f -> \xNN (two lowercase hex digits)
 *     every other byte (UTF-8 included) as is
 *
 * The parser undoes exactly these escapes. A backslash followed by anything
 * else (or \x without two hex digits, or \x00, which C strings cannot hold)
 * stays a literal backslash, so folded files from other tools (perf's
 * stackcollapse, py-spy, austin, ...) parse as flamegraph.pl reads them.
 *
 * Reading rules (folded_parse), chosen to match flamegraph.pl:
 * - The count is the run of decimal digits at the end of the line, after
 *   exactly one space or tab; everything before that separator is the stack
 *   (so a name may end in spaces). A trailing CR (CRLF files) is ignored.
 * - Only the last number is the count, so a name ending in a number reads
 *   back exactly ("retry 3 2": one frame "retry 3", 2 samples). A line of
 *   flamegraph.pl's differential form ("stack COUNT1 COUNT2") is therefore
 *   sized by COUNT2, as flamegraph.pl sizes it, and COUNT1 stays at the end
 *   of the last frame's name; such lines are counted (stats.differential)
 *   so the CLI can say so. Differential colouring is not supported.
 * - Counts are unsigned 64-bit integers; a decimal count ("1.5") is not
 *   accepted (pyperf never writes one) and the line counts as malformed.
 * - Blank lines are ignored. Malformed lines (no count, a count that does
 *   not fit, an empty stack, a NUL byte, a line longer than
 *   FOLDED_MAX_LINE, more than FOLDED_MAX_FRAMES frames) are skipped and
 *   counted; they never stop the parse.
 * - Empty frame names between separators ("a;;b") are kept, as flamegraph.pl
 *   keeps them.
 */
#ifndef PYPERF_FOLDED_H
#define PYPERF_FOLDED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest line accepted; a longer one is skipped (read and discarded in
 * pieces, never held in memory whole). */
#define FOLDED_MAX_LINE   (16u << 20)
/* Most frames in one stack; deeper stacks are skipped as malformed. */
#define FOLDED_MAX_FRAMES (1u << 18)

struct folded_stats {
	uint64_t lines;            /* lines read, blank and malformed included */
	uint64_t stacks;           /* lines handed to the callback */
	uint64_t blank;            /* empty or whitespace-only lines, ignored */
	uint64_t malformed;        /* lines skipped, any reason */
	uint64_t too_long;         /* of which: longer than FOLDED_MAX_LINE or
	                              deeper than FOLDED_MAX_FRAMES */
	uint64_t first_malformed;  /* 1-based number of the first skipped line, 0 if none */
	uint64_t differential;     /* lines whose last frame ends in " DIGITS": maybe
	                              flamegraph.pl's differential form */
	uint64_t samples;          /* sum of the accepted counts, saturating at UINT64_MAX */
};

/*
 * Called once per accepted line. frames[0] is the root; each name is
 * un-escaped and NUL-terminated. The strings and the array live in the
 * parser's buffers and are valid only during the call (the callee may modify
 * the strings). A non-zero return stops the parse and is returned by
 * folded_parse.
 */
typedef int (*folded_stack_cb)(void *ctx, char **frames, size_t nframes, uint64_t count);

/*
 * Reads folded lines from `in` until EOF, streaming: memory is bounded by the
 * longest line, not the file. `stats` (may be NULL) is zeroed first and
 * filled as lines are read.
 * Returns 0 at EOF, the callback's non-zero value if it stopped the parse,
 * -ENOMEM, or a negative errno for a read error.
 */
int folded_parse(FILE *in, folded_stack_cb cb, void *ctx, struct folded_stats *stats);

/*
 * Parses one line held in memory (without its '\n'); `line` is modified in
 * place and the frames point into it. Same rules as folded_parse.
 * Returns 1 and fills *frames (malloc'd array, grown as needed, reused across
 * calls: free it once at the end), *nframes, *count and *differential (1 if
 * the last frame ends in a separator and digits) for a
 * stack; 0 for a blank line; -EINVAL for a malformed line; -E2BIG for too
 * many frames; -ENOMEM.
 */
int folded_parse_line(char *line, size_t len, char ***frames, size_t *frames_cap,
		      size_t *nframes, uint64_t *count, int *differential);

/* Writes one name with the escapes above. Returns 0, or -EIO if `out` has
 * an error. */
int folded_write_frame(FILE *out, const char *name);

/* Writes a whole line: escaped frames joined by ';', a space, the count and
 * '\n'. frames[0] is the root. Returns 0 or -EIO. */
int folded_write_stack(FILE *out, const char *const *frames, size_t nframes, uint64_t count);

#endif
