/* cli.h: the command-line language every pollux tool shares (see
 * CONVENTIONS.md beside this file): one wording for each usage mistake,
 * one backend-name check, durations with units, limits without INT_MAX.
 * Uses pollux.h only. Not installed; not part of libpollux.
 *
 * The API is kept stable: later changes add functions, never rename. */
#ifndef POLLUX_TOOLS_CLI_H
#define POLLUX_TOOLS_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

/* Exit statuses of every tool. */
#define PX_EXIT_OK 0
#define PX_EXIT_FAIL 1		/* the work failed (one line on stderr says why) */
#define PX_EXIT_USAGE 2		/* bad usage: options, values, environment */

#if defined(__GNUC__) || defined(__clang__)
#define PX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PX_NORETURN __attribute__((noreturn))
#else
#define PX_PRINTF(a, b)
#define PX_NORETURN
#endif

/* Call first in main(): prog is the tool's name as messages show it
 * ("pollux-bench", never argv[0], which may be libtool's .libs path);
 * argv is kept to name options as the user typed them. Sets opterr = 0:
 * getopt's own messages would be a second line with the path. */
void px_cli_init(const char *prog, int argc, char **argv);
const char *px_cli_prog(void);

/* "PROG: MESSAGE (see PROG --help)" on stderr, exit 2. */
PX_NORETURN PX_PRINTF(1, 2) void px_usage_error(const char *fmt, ...);
/* "PROG: MESSAGE" on stderr, exit 1. */
PX_NORETURN PX_PRINTF(1, 2) void px_die(const char *fmt, ...);
/* "PROG: MESSAGE" on stderr; returns. */
PX_PRINTF(1, 2) void px_warn(const char *fmt, ...);

/* ---- getopt_long ----------------------------------------------------- */

/* For `case ':'` and `case '?'` (and `default`) of a getopt_long loop
 * whose short-option string starts with ':': prints the one line for an
 * unknown option ("unknown option '--foo'", "unknown option '-x'"), an
 * ambiguous abbreviation ("option '--p' is ambiguous (--pairs, --plot)"),
 * a value given to an option that takes none ("option '--help' takes no
 * value"), or a missing value ("option '--pairs' needs a value"), naming
 * the option as typed. Exit 2. ch is what getopt_long returned. */
PX_NORETURN void px_getopt_error(int ch, const struct option *longopts);

/* After getopt_long returned an option with a value (optarg set): that
 * option as the user typed it, "--pairs" (for "--pairs X", "--pairs=X",
 * or an abbreviation, as typed) or "-n" (for "-n X", "-nX", "-qnX").
 * Returns a static buffer, valid until the next call. */
const char *px_opt_typed(void);

/* "OPT 'VALUE': expected WHAT (see PROG --help)" for the current option
 * and optarg, exit 2. fmt says what was expected. */
PX_NORETURN PX_PRINTF(1, 2) void px_bad_value(const char *fmt, ...);

/* The current optarg as a whole number in [min, max], or exit 2 with
 * "OPT 'VALUE': expected a whole number from MIN to MAX". */
unsigned long px_opt_ulong(unsigned long min, unsigned long max);
/* A decimal number (e.g. "1.5") in [min, max], or exit 2 with
 * "OPT 'VALUE': expected a number from MIN to MAX". */
double px_opt_double(double min, double max);
/* A duration (see px_parse_duration) in [min_s, max_s] seconds, or 0
 * too when zero_ok (it means "off"), or exit 2 with "OPT 'VALUE':
 * expected a duration from MIN to MAX, such as 10s, 500ms, 2m or 250us
 * (a plain number is seconds)". Returns seconds. */
double px_opt_duration(double min_s, double max_s, int zero_ok);
/* A non-empty optarg (a file name, a path), or exit 2 with
 * "OPT '': expected WHAT". */
const char *px_opt_nonempty(const char *what);

/* After the loop: exits 2 with "unexpected argument 'X'" when an
 * operand is left at argv[optind]. */
void px_no_operands(void);

/* ---- values ---------------------------------------------------------- */

/* A duration: a non-negative decimal number with an optional unit, "us",
 * "ms", "s", "m" or "h" ("250us", "500ms", "1.5s", "2m"); a plain number
 * is seconds. The whole string, finite, in [0, max_s]. 0 or -1. */
int px_parse_duration(const char *s, double max_s, double *out_s);

/* Seconds as a person reads them: "250us", "500ms", "1.5s", "2m", "1h";
 * into buf, which is returned. */
const char *px_fmt_duration(char *buf, size_t n, double s);

/* A limit as a person reads it: the number, or "unlimited" for what a
 * kernel or getrlimit reports as no limit (RLIM_INFINITY, LLONG_MAX,
 * ULLONG_MAX, and anything from LLONG_MAX up). Into buf, returned. */
const char *px_fmt_limit(char *buf, size_t n, unsigned long long v);

/* ---- backends -------------------------------------------------------- */

/* Where a backend name came from, for the message. */
#define PX_FROM_ENV NULL	/* source NULL: POLLUX_BACKEND */

/* Judges one backend name the way every tool does, and writes the
 * message (without the program name or a newline) into err:
 *   source 'NAME': unknown backend; built here: epoll, poll, select
 *   source 'NAME': known to pollux but not built into this libpollux; ...
 *   source 'NAME': built but not usable here: REASON
 * where source is the option as typed ("-b", "--backends") or, when
 * source is NULL (PX_FROM_ENV), "POLLUX_BACKEND". name NULL, "" or "auto"
 * means the library's choice, which follows POLLUX_BACKEND: then that
 * variable is judged, and named as the source. On success *chosen (if not
 * NULL) is the backend the library picks, a static string. Returns 0,
 * PX_EXIT_USAGE (unknown or not built) or PX_EXIT_FAIL (built but its
 * poller cannot be created here). */
int px_backend_judge(const char *name, const char *source,
                     const char **chosen, char *err, size_t errlen);

/* px_backend_judge for the current option's optarg (source: the option as
 * typed), printing the line and exiting on failure (2 or 1, with "(see
 * PROG --help)" after a usage error). "auto" is allowed. Returns the
 * name the library picks, a static string. */
const char *px_opt_backend(void);

/* Judges POLLUX_BACKEND when no -b was given (and the tool will use the
 * library's choice): exits with the documented line when it names a
 * backend that is unknown or not built. Returns the backend the library
 * picks, a static string. */
const char *px_env_backend(void);

/* Opens an output file an option names ("-": stdout). NULL after one line
 * on stderr: "PROG: OPT 'PATH': cannot create it: REASON; check ...".
 * The same words for every tool and every output option. */
FILE *px_open_out(const char *opt, const char *path);
/* px_open_out, exiting 1 when it fails. */
FILE *px_open_out_or_die(const char *opt, const char *path);

/* Flags of px_opt_backends. */
#define PX_BACKENDS_LIST 0x1	/* a comma list: "epoll,poll" */
#define PX_BACKENDS_ALL 0x2	/* "all": every backend built */

/* The current optarg as one name, a comma list and/or "all" (as flags
 * allow), each judged like px_opt_backend; duplicates are dropped, and
 * "all" adds every built one in pollux_backends() order. Fills out[] with
 * static names (at most max) and returns how many; exits on a bad name. */
int px_opt_backends(int flags, const char **out, int max);

/* --list-backends: the backends built here, one per line, in the
 * library's order of preference. */
void px_list_backends(FILE *f);

/* The backends built here, joined by sep, into buf; returned. */
const char *px_backends_joined(char *buf, size_t n, const char *sep);

/* --version: "PROG (pollux) VERSION" on stdout. */
void px_print_version(void);

#endif
