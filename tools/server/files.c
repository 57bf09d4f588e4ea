/* files.c: --root serving: turning a request path into an open file under
 * the root, refusing anything that would leave it, and Content-Type. */
#include <config.h>
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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
 * rather than resolved, so no spelling of it (%2e%2e, %2f..) climbs out. */
static int normalise(const char *path, size_t len, char *rel, size_t cap)
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

/* Opens root+rel after resolving every symlink, if the result is still
 * under the root. 0 with *fd and *st, or an HTTP status. */
static int open_beneath(const struct options *o, const char *rel, int *fd,
                        struct stat *st)
{
	char full[PATH_MAX], real[PATH_MAX];
	int n = snprintf(full, sizeof full, "%s%s", o->root_real, rel);
	if (n < 0 || (size_t)n >= sizeof full)
		return 404;
	if (!realpath(full, real))
		return errno == EACCES ? 403 : 404;
	size_t rl = o->root_len;
	/* Under the root: equal to it, or it plus '/' (root "/" holds all). */
	if (strncmp(real, o->root_real, rl) != 0 ||
	    (real[rl] != '\0' && real[rl] != '/' && !(rl == 1 && o->root_real[0] == '/')))
		return 403;
	/* O_NOFOLLOW: the last component was just resolved; if someone swaps in
	 * a symlink since, fail rather than follow it. */
	int f = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (f < 0)
		return errno == EACCES ? 403 : 404;
	if (fstat(f, st) < 0) {
		close(f);
		return 404;
	}
	*fd = f;
	return 0;
}

int files_open(const struct options *o, const char *path, size_t len,
               struct file_res *res)
{
	char rel[PATH_MAX];
	int rc = normalise(path, len, rel, sizeof rel - 16);
	if (rc)
		return rc;
	int fd;
	struct stat st;
	rc = open_beneath(o, rel, &fd, &st);
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		strcat(rel, "/index.html");
		rc = open_beneath(o, rel, &fd, &st);
		if (rc)
			return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 404;
	}
	res->fd = fd;
	res->size = st.st_size;
	res->ctype = files_ctype(rel, strlen(rel));
	return 200;
}
