/* jw.c: the JSON writer behind a lesson's "settings" and "measurements":
 * members in the order written, nested objects, and null for a number that
 * was not measured (NaN), so that no figure is made up. */
#include "toolconfig.h"
#include "lab.h"
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof *w);
	w->f = open_memstream(&w->buf, &w->len);
	if (w->f)
		fputc('{', w->f);
	w->first[0] = 1;
}

void jw_free(struct jw *w)
{
	if (w->f)
		fclose(w->f);
	free(w->buf);
	memset(w, 0, sizeof *w);
}

/* Writes the separator and "key": for the next member. */
static int member(struct jw *w, const char *key)
{
	if (!w->f)
		return -1;
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = 0;
	px_json_string(w->f, key);
	fputc(':', w->f);
	return 0;
}

const char *jw_text(struct jw *w)
{
	if (!w->f)
		return "{}";
	while (w->depth > 0)
		jw_close(w);
	fputc('}', w->f);
	fclose(w->f);
	w->f = NULL;
	return w->buf ? w->buf : "{}";
}

void jw_open(struct jw *w, const char *key)
{
	if (w->depth + 1 >= (int)(sizeof w->first / sizeof w->first[0]) || member(w, key) < 0)
		return;
	fputc('{', w->f);
	w->first[++w->depth] = 1;
}

void jw_close(struct jw *w)
{
	if (!w->f || w->depth == 0)
		return;
	fputc('}', w->f);
	w->depth--;
}

void jw_num(struct jw *w, const char *key, double v)
{
	if (member(w, key) < 0)
		return;
	if (!isfinite(v))
		fputs("null", w->f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(w->f, "%.0f", v);
	else
		fprintf(w->f, "%.6g", v);
}

void jw_int(struct jw *w, const char *key, long long v)
{
	if (member(w, key) == 0)
		fprintf(w->f, "%lld", v);
}

void jw_bool(struct jw *w, const char *key, int v)
{
	if (member(w, key) == 0)
		fputs(v ? "true" : "false", w->f);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
	if (member(w, key) < 0)
		return;
	if (s)
		px_json_string(w->f, s);
	else
		fputs("null", w->f);
}

void jw_null(struct jw *w, const char *key)
{
	if (member(w, key) == 0)
		fputs("null", w->f);
}
