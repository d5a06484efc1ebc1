/* Findings and the report that holds them. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/error.h"
#include "state_internal.h"

int report_new(ledger_report **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : ledger_error_set(LEDGER_ENOMEM, "out of memory");
}

int report_add(ledger_report *report, ledger_severity severity, const char *code,
               const char *rule, const char *id, const char *path, const char *commit,
               const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = report_addv(report, severity, code, rule, id, path, commit, fmt, ap);
	va_end(ap);
	return r;
}

int report_add_copy(ledger_report *report, const ledger_finding *f, const char *commit)
{
	return report_add(report, f->severity, f->code, f->rule, f->id, f->path, commit, "%s",
	                  f->message);
}

int report_addv(ledger_report *report, ledger_severity severity, const char *code,
                const char *rule, const char *id, const char *path, const char *commit,
                const char *fmt, va_list ap)
{
	ledger_finding *f;

	if (report->count == report->capacity) {
		size_t capacity = report->capacity ? report->capacity * 2 : 16;
		ledger_finding *items = realloc(report->items, capacity * sizeof(*items));

		if (!items)
			return ledger_error_set(LEDGER_ENOMEM, "out of memory");
		report->items = items;
		report->capacity = capacity;
	}
	f = &report->items[report->count];
	memset(f, 0, sizeof(*f));
	f->severity = severity;
	f->code = code;
	f->rule = rule;
	snprintf(f->id, sizeof(f->id), "%s", id ? id : "");
	snprintf(f->path, sizeof(f->path), "%s", path ? path : "");
	snprintf(f->commit, sizeof(f->commit), "%s", commit ? commit : "");
	if (vasprintf(&f->message, fmt, ap) < 0)
		f->message = NULL;
	if (!f->message)
		return ledger_error_set(LEDGER_ENOMEM, "out of memory");
	report->count++;
	return 0;
}

void report_truncate(ledger_report *report, size_t count)
{
	while (report->count > count)
		free(report->items[--report->count].message);
}

static int compare_findings(const void *a, const void *b)
{
	const ledger_finding *x = a, *y = b;
	int c;

	if ((c = strcmp(x->path, y->path)) != 0)
		return c;
	if ((c = strcmp(x->commit, y->commit)) != 0)
		return c;
	if ((c = strcmp(x->code, y->code)) != 0)
		return c;
	return strcmp(x->message, y->message);
}

/* Findings in a fixed order, so that output depends on the ledger alone. */
void report_sort(ledger_report *report)
{
	if (report->count > 1)
		qsort(report->items, report->count, sizeof(*report->items), compare_findings);
}

size_t ledger_report_count(const ledger_report *report)
{
	return report ? report->count : 0;
}

const ledger_finding *ledger_report_get(const ledger_report *report, size_t i)
{
	return report && i < report->count ? &report->items[i] : NULL;
}

size_t ledger_report_count_severity(const ledger_report *report, ledger_severity severity)
{
	size_t n = 0;

	for (size_t i = 0; report && i < report->count; i++)
		n += report->items[i].severity == severity;
	return n;
}

const ledger_report_stats *ledger_report_stats_of(const ledger_report *report)
{
	return &report->stats;
}

json_t *ledger_finding_json(const ledger_finding *f)
{
	static const char *const severities[] = { "error", "warning", "pending" };
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "severity", severities[f->severity],
	                        "code", f->code, "rule", f->rule, "message", f->message);

	if (!obj)
		return NULL;
	if (f->id[0])
		json_object_set_new(obj, "id", json_string(f->id));
	if (f->path[0])
		json_object_set_new(obj, "path", json_string(f->path));
	if (f->commit[0])
		json_object_set_new(obj, "commit", json_string(f->commit));
	return obj;
}

void ledger_report_free(ledger_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->count; i++)
		free(report->items[i].message);
	free(report->items);
	free(report);
}
