/* common.h: small helpers every pollux tool needs (addresses, limits,
 * clocks, strict number parsing). Not installed; not part of libpollux. */
#ifndef POLLUX_TOOLS_COMMON_H
#define POLLUX_TOOLS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text px_format_addr writes, with its NUL. */
#define PX_ADDRSTRLEN 128

/* Parses "HOST:PORT", "[V6]:PORT" or "unix:PATH" into *ss and *len.
 * HOST may be a name ("localhost"); the first address it resolves to wins.
 * Returns 0, or -1 with a one-line reason in err (no trailing newline). */
int px_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                  char *err, size_t errlen);

/* Writes "1.2.3.4:80", "[::1]:80" or "unix:/path" into buf. */
void px_format_addr(const struct sockaddr *sa, socklen_t len, char *buf,
                    size_t n);

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
 * now in force (or -1 if it cannot be read). */
long px_raise_nofile(void);

/* Monotonic clock in nanoseconds and microseconds. */
uint64_t px_now_ns(void);
uint64_t px_now_us(void);

int px_set_nonblock(int fd);
int px_set_cloexec(int fd);

/* Strict decimal parsing: the whole string, in [min, max]. 0 or -1. */
int px_parse_ulong(const char *s, unsigned long min, unsigned long max,
                   unsigned long *out);
/* Non-negative finite decimal (e.g. "1.5"), at most max. 0 or -1. */
int px_parse_double(const char *s, double max, double *out);

/* Writes s as a JSON string literal (with quotes) into the stdio stream. */
#include <stdio.h>
void px_json_string(FILE *f, const char *s);

#endif
