/* files.c: --root serving: turning a request path into an open file under
 * the root (openat2 where the kernel has it, realpath elsewhere), refusing
 * anything that would leave it, and Content-Type. */
#include "toolconfig.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
/* openat2(2), Linux 5.6+: resolving and opening in one call that cannot
 * leave the root. glibc has no wrapper before 2.42, hence syscall(2). */
#if defined(HAVE_LINUX_OPENAT2_H) && HAVE_DECL_SYS_OPENAT2
#include <linux/openat2.h>
#include <sys/syscall.h>
#define USE_OPENAT2 1
#endif

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

static const struct {
	const char *ext, *type;
} ctypes[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "css", "text/css" },
	{ "js", "text/javascript" },
	{ "json", "application/json" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "pdf", "application/pdf" },
	{ "wasm", "application/wasm" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
};

const char *files_ctype(const char *name, size_t len)
{
	size_t i = len;
	while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
		i--;
	if (i > 0 && name[i - 1] == '.') {
		size_t elen = len - i;
		for (size_t k = 0; k < sizeof ctypes / sizeof ctypes[0]; k++)
			if (strlen(ctypes[k].ext) == elen &&
			    strncasecmp(ctypes[k].ext, name + i, elen) == 0)
				return ctypes[k].type;
	}
	return "application/octet-stream";
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes %XX and rebuilds the path from its segments into rel ("/a/b", or
 * "" for the root). "." and empty segments vanish; ".." is refused outright
 * rather than resolved, so no spelling of it (%2e%2e, %2f..) climbs out.
 * *slash says whether the decoded path ended in '/' (a directory asked
 * for as one). */
static int normalise(const char *path, size_t len, char *rel, size_t cap, int *slash)
{
	char dec[PATH_MAX];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = path[i];
		if (ch == '%') {
			int hi = i + 2 < len ? hexval(path[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(path[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return 400;
			ch = (char)(hi * 16 + lo);
			i += 2;
			if (ch == '\0')
				return 400;
		}
		if (n + 1 >= sizeof dec)
			return 404;
		dec[n++] = ch;
	}
	*slash = n > 0 && dec[n - 1] == '/';
	size_t r = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && dec[i] == '/')
			i++;
		size_t s = i;
		while (i < n && dec[i] != '/')
			i++;
		size_t sl = i - s;
		if (sl == 0 || (sl == 1 && dec[s] == '.'))
			continue;
		if (sl == 2 && dec[s] == '.' && dec[s + 1] == '.')
			return 403;
		if (r + sl + 2 >= cap)
			return 404;
		rel[r++] = '/';
		memcpy(rel + r, dec + s, sl);
		r += sl;
	}
	rel[r] = '\0';
	return 0;
}

/* The status for an open(2) or openat2(2) failure. Only "there is no such
 * file" is 404: running out of descriptors or memory is the server's
 * trouble, and a 404 for it could be cached as if the file were gone. */
static int open_status(int e)
{
	switch (e) {
	case ENOENT: case ENOTDIR: case ELOOP: case ENAMETOOLONG: case EXDEV:
	case ENXIO: case ENODEV:	/* a socket or device node: no file */
		return 404;
	case EACCES: case EPERM:
		return 403;
	case EMFILE: case ENFILE: case ENOMEM:
		return 503;
	default:
		return 500;
	}
}

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* The part of a resolved path below the root ("/a/b", "" for the root
 * itself), or NULL when it is not below the root. */
static const char *below_root(const struct options *o, const char *real)
{
	size_t rl = o->root_len;
	if (rl == 1 && o->root_real[0] == '/')
		return real;	/* root "/" holds everything */
	if (strncmp(real, o->root_real, rl) != 0 || (real[rl] != '\0' && real[rl] != '/'))
		return NULL;
	return real + rl;
}

/* realpath(3) of root+rel: the resolved part below the root in real, or an
 * HTTP status. Every failure is 404 (EACCES too: the denied directory may
 * lie outside the root, and a different answer would tell a client that
 * something exists there), except running out of memory. */
static int resolve_beneath(const struct options *o, const char *rel, char *real,
                           const char **below)
{
	char full[PATH_MAX];
	int n = snprintf(full, sizeof full, "%s%s", o->root_real, rel);
	if (n < 0 || (size_t)n >= sizeof full)
		return 404;
	if (!realpath(full, real))
		return errno == ENOMEM ? 503 : 404;
	*below = below_root(o, real);
	return *below ? 0 : 404;
}

#ifdef USE_OPENAT2
/* Set once openat2 turns out to be missing (ENOSYS: a kernel before 5.6,
 * or a seccomp filter): from then on every worker resolves with realpath. */
static _Atomic int openat2_missing;

/* openat2 relative to the root: -1 with errno, or the descriptor. */
static int open2(const struct options *o, const char *rel, unsigned long long resolve)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = OPEN_FLAGS;
	how.resolve = resolve;
	const char *p = rel[0] ? rel + 1 : ".";	/* beneath: no leading '/' */
	long f;
	do
		f = syscall(SYS_openat2, o->root_fd, p, &how, sizeof how);
	while (f < 0 && errno == EINTR);
	return (int)f;
}
#endif

/* Opens root+rel, following symlinks only while they stay under the root:
 * 0 with *fd and *st, or an HTTP status. A path that leaves the root is
 * 404 whether or not its target exists, so nothing outside is revealed. */
static int open_beneath(const struct options *o, const char *rel, int *fd,
                        struct stat *st)
{
	char real[PATH_MAX];
	const char *below;
	int f = -1;
#ifdef USE_OPENAT2
	if (o->root_fd >= 0 && !atomic_load_explicit(&openat2_missing, memory_order_relaxed)) {
		f = open2(o, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
		if (f < 0 && errno == EXDEV) {
			/* A symlink climbing out, or an absolute one (refused by
			 * RESOLVE_BENEATH even when it points back inside): see
			 * where it really goes, and open that with no symlinks at
			 * all, so a swap meanwhile fails instead of escaping. */
			int rc = resolve_beneath(o, rel, real, &below);
			if (rc)
				return rc;
			f = open2(o, below, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			                    RESOLVE_NO_MAGICLINKS);
		}
		if (f < 0 && errno != ENOSYS)
			return open_status(errno);
		if (f < 0)
			atomic_store_explicit(&openat2_missing, 1, memory_order_relaxed);
	}
#endif
	if (f < 0) {
		/* Resolve, then open what was resolved; O_NOFOLLOW: if someone
		 * swaps in a symlink since, fail rather than follow it (a
		 * directory swapped higher up is the race BUGS mentions). */
		int rc = resolve_beneath(o, rel, real, &below);
		if (rc)
			return rc;
		f = open(real, OPEN_FLAGS | O_NOFOLLOW);
		if (f < 0)
			return open_status(errno);
	}
	if (fstat(f, st) < 0) {
		int e = errno;
		close(f);
		return open_status(e);
	}
	*fd = f;
	return 0;
}

/* Percent-encodes rel into out for a Location field: what is left plain
 * cannot end the field or change what the URL means. -1 if it won't fit. */
static int encode_path(const char *rel, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)rel; *p; p++) {
		int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || strchr("-._~!$&'()*+,;=:@/", *p);
		if (n + 4 >= cap)
			return -1;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

int files_init(struct options *o)
{
	o->root_fd = -1;
#ifdef USE_OPENAT2
	o->root_fd = open(o->root_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->root_fd < 0)
		return -1;
#endif
	return 0;
}

int files_open(const struct options *o, const char *path, size_t len,
               struct file_res *res)
{
	char rel[PATH_MAX];
	int slash;
	int rc = normalise(path, len, rel, sizeof rel - 16, &slash);
	if (rc)
		return rc;
	/* A path ending in '/' names a directory: open its index at once (a
	 * file asked for with a slash fails with ENOTDIR, hence 404). */
	if (slash)
		strcat(rel, "/index.html");
	int fd = -1;
	struct stat st;
	rc = open_beneath(o, rel, &fd, &st);
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode) && !slash) {
		/* "/dir": send the client to "/dir/", so that the relative
		 * links of its index resolve inside it. */
		close(fd);
		if (encode_path(rel[0] ? rel : "/", res->loc, sizeof res->loc) < 0)
			return 404;
		return 301;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 404;
	}
	res->fd = fd;
	res->size = st.st_size;
	res->mtime = st.st_mtime;
	res->ctype = files_ctype(rel, strlen(rel));
	return 200;
}
