/* json.c: a small strict JSON reader for the objects pollux-server and
 * pollux-load print (stats, --json); enough of RFC 8259 to read them. */
#include "toolconfig.h"
#include "scale.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting than this is refused: the tools never nest past 3. */
#define JSON_MAX_DEPTH 32

struct reader {
	const char *p;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct reader *r, const char *fmt, ...)
{
	if (r->failed)
		return;
	r->failed = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
}

static void skip_ws(struct reader *r)
{
	while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
		r->p++;
}

static struct json *node(enum json_type t)
{
	struct json *j = calloc(1, sizeof *j);
	if (j)
		j->type = t;
	return j;
}

static void put_utf8(char **o, unsigned long c)
{
	unsigned char *u = (unsigned char *)*o;
	if (c < 0x80) {
		*u++ = (unsigned char)c;
	} else if (c < 0x800) {
		*u++ = (unsigned char)(0xc0 | (c >> 6));
		*u++ = (unsigned char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*u++ = (unsigned char)(0xe0 | (c >> 12));
		*u++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (c & 0x3f));
	} else {
		*u++ = (unsigned char)(0xf0 | (c >> 18));
		*u++ = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		*u++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (c & 0x3f));
	}
	*o = (char *)u;
}

static int hex4(const char *s, unsigned long *out)
{
	unsigned long v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned long)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Reads a string literal at r->p (on the quote); returns a malloc'd copy. */
static char *read_string(struct reader *r)
{
	const char *s = r->p + 1;
	size_t n = 0;
	/* Decoded text is never longer than the literal. */
	while (s[n] && s[n] != '"') {
		if (s[n] == '\\' && s[n + 1])
			n++;
		n++;
	}
	if (s[n] != '"') {
		fail(r, "unterminated string");
		return NULL;
	}
	char *out = malloc(n + 1), *o = out;
	if (!out) {
		fail(r, "out of memory");
		return NULL;
	}
	while (*s != '"') {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20) {
			fail(r, "control character in string");
			free(out);
			return NULL;
		}
		if (c != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned long c1;
			if (hex4(s + 1, &c1) < 0) {
				fail(r, "bad \\u escape");
				free(out);
				return NULL;
			}
			s += 4;
			/* A surrogate pair becomes one code point; a lone
			 * surrogate becomes U+FFFD rather than bad UTF-8. */
			unsigned long c2;
			if (c1 >= 0xd800 && c1 < 0xdc00 && s[1] == '\\' &&
			    s[2] == 'u' && hex4(s + 3, &c2) == 0 &&
			    c2 >= 0xdc00 && c2 < 0xe000) {
				c1 = 0x10000 + ((c1 - 0xd800) << 10) + (c2 - 0xdc00);
				s += 6;
			} else if (c1 >= 0xd800 && c1 < 0xe000) {
				c1 = 0xfffd;
			}
			put_utf8(&o, c1);
			break;
		}
		default:
			fail(r, "bad escape in string");
			free(out);
			return NULL;
		}
		s++;
	}
	*o = '\0';
	r->p = s + 1;
	return out;
}

static struct json *read_value(struct reader *r, int depth);

static struct json *read_container(struct reader *r, int depth, int is_obj)
{
	struct json *j = node(is_obj ? J_OBJ : J_ARR), **tail;
	if (!j) {
		fail(r, "out of memory");
		return NULL;
	}
	tail = &j->child;
	char close = is_obj ? '}' : ']';
	r->p++;
	skip_ws(r);
	if (*r->p == close) {
		r->p++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(r);
		if (is_obj) {
			if (*r->p != '"') {
				fail(r, "expected a member name");
				break;
			}
			key = read_string(r);
			if (!key)
				break;
			skip_ws(r);
			if (*r->p != ':') {
				fail(r, "expected ':' after member name");
				free(key);
				break;
			}
			r->p++;
		}
		struct json *v = read_value(r, depth + 1);
		if (!v) {
			free(key);
			break;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(r);
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p == close) {
			r->p++;
			return j;
		}
		fail(r, "expected ',' or '%c'", close);
		break;
	}
	json_free(j);
	return NULL;
}

static struct json *read_number(struct reader *r)
{
	const char *s = r->p;
	/* Check the JSON grammar first: strtod alone takes "0x1", "inf". */
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		goto bad;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			goto bad;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			goto bad;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	struct json *j = node(J_NUM);
	if (!j) {
		fail(r, "out of memory");
		return NULL;
	}
	j->num = strtod(r->p, NULL);
	r->p = s;
	return j;
bad:
	fail(r, "bad number");
	return NULL;
}

static struct json *read_word(struct reader *r, const char *w,
                              enum json_type t, double v)
{
	size_t n = strlen(w);
	if (strncmp(r->p, w, n) != 0) {
		fail(r, "unexpected character '%c'", *r->p ? *r->p : '?');
		return NULL;
	}
	r->p += n;
	struct json *j = node(t);
	if (!j)
		fail(r, "out of memory");
	else
		j->num = v;
	return j;
}

static struct json *read_value(struct reader *r, int depth)
{
	if (depth > JSON_MAX_DEPTH) {
		fail(r, "nested deeper than %d", JSON_MAX_DEPTH);
		return NULL;
	}
	skip_ws(r);
	switch (*r->p) {
	case '{':
		return read_container(r, depth, 1);
	case '[':
		return read_container(r, depth, 0);
	case '"': {
		char *s = read_string(r);
		if (!s)
			return NULL;
		struct json *j = node(J_STR);
		if (!j) {
			free(s);
			fail(r, "out of memory");
			return NULL;
		}
		j->str = s;
		return j;
	}
	case 't':
		return read_word(r, "true", J_BOOL, 1);
	case 'f':
		return read_word(r, "false", J_BOOL, 0);
	case 'n':
		return read_word(r, "null", J_NULL, 0);
	case '\0':
		fail(r, "unexpected end of text");
		return NULL;
	default:
		return read_number(r);
	}
}

struct json *json_parse(const char *text, char *err, size_t errlen)
{
	struct reader r = { text, err, errlen, 0 };
	struct json *j = read_value(&r, 0);
	if (j) {
		skip_ws(&r);
		if (*r.p) {
			fail(&r, "text after the JSON value");
			json_free(j);
			j = NULL;
		}
	}
	return j;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;
		json_free(j->child);
		free(j->str);
		free(j->key);
		free(j);
		j = next;
	}
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != J_OBJ)
		return NULL;
	for (const struct json *m = obj->child; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

double json_num(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);
	return m && m->type == J_NUM ? m->num : NAN;
}

double json_sum(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);
	if (!m || m->type != J_OBJ)
		return NAN;
	double sum = 0;
	for (const struct json *e = m->child; e; e = e->next)
		if (e->type == J_NUM)
			sum += e->num;
	return sum;
}
