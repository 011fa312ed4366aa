/*
 * fleet_report.c: a judged fleet report in the forms people and machines
 * read: a table, JSON and CSV (one row per fleet x build x key), the
 * Prometheus textfile-collector format (absolute timestamps; labels never
 * carry device ids), one self-contained HTML page (cards, a table coloured
 * by status, a 12-month inline-SVG timeline; no scripts, no external
 * resources) and iCalendar (one event with a reminder per deadline).
 * Rendering only: it appends to a buffer and never writes files.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fleet.h"

#define DAY 86400

int sgt_fleet_fmt_parse(const char *name)
{
	static const char *const names[] = { "table", "json", "csv", "prometheus", "html", "ics", NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static void ymd(time_t t, char out[16])
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 16, "-");
}

static long days_left(time_t now, time_t t)
{
	return t >= now ? (long)((t - now) / DAY) : -(long)((now - t + DAY - 1) / DAY);
}

static const char *build_name(const struct sgt_fleet_row *r)
{
	return r->build ? r->build->version : "unknown";
}

/* Devices (stale included) of f that no row can judge: unrecorded builds, builds without artefact or record. */
static long unknown_devices(const struct sgt_fleet *f)
{
	long n = 0;
	size_t j;

	for (j = 0; j < f->nbuilds; j++)
		if (f->builds[j].nkeys == 0)
			n += f->builds[j].devices + f->builds[j].stale;
	for (j = 0; j < f->nunknown; j++)
		n += f->unknown[j].devices + f->unknown[j].stale;
	return n;
}

/* Totals over the selected fleets. */
struct totals {
	long devices, stale, fleets, unknown;
	long by_status[5];
	time_t next;		/* soonest deadline still ahead or passed; 0 none */
	const struct sgt_fleet_row *next_row;
};

static void totals(const struct sgt_fleet_report *rep, struct totals *t)
{
	size_t i, j, k;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < rep->inv->n; i++) {
		const struct sgt_fleet *f = &rep->inv->fleets[i];

		if (!rep->selected[i])
			continue;
		t->fleets++;
		t->by_status[rep->fleet_status[i]]++;
		t->unknown += unknown_devices(f);
		for (j = 0; j < f->nbuilds; j++) {
			t->devices += f->builds[j].devices;
			t->stale += f->builds[j].stale;
		}
		for (k = 0; k < f->nunknown; k++) {
			t->devices += f->unknown[k].devices;
			t->stale += f->unknown[k].stale;
		}
	}
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];

		if (r->deadline != 0 && (t->next == 0 || r->deadline < t->next)) {
			t->next = r->deadline;
			t->next_row = r;
		}
	}
}

/* -- table -------------------------------------------------------------------- */

static int render_table(const struct sgt_fleet_report *rep, struct sgt_buf *b)
{
	struct totals t;
	size_t i;

	totals(rep, &t);
	for (i = 0; i < rep->inv->n; i++) {
		const struct sgt_fleet *f = &rep->inv->fleets[i];

		long unk = unknown_devices(f);

		if (!rep->selected[i])
			continue;
		sgt_buf_printf(b, "fleet %s: %s%s", f->name, sgt_fleet_status_name(rep->fleet_status[i]),
			       f->checks_expiry ? " (devices check certificate expiry)" : "");
		if (unk > 0)
			sgt_buf_printf(b, " (%ld device%s on builds nobody recorded)", unk, unk == 1 ? "" : "s");
		sgt_buf_printf(b, "\n");
	}
	if (rep->n == 0)
		return sgt_buf_printf(b, "no builds recorded: add them to the inventory or with `signet fleet build add`\n");
	sgt_buf_printf(b, "\n%-9s %-16s %-10s %9s %7s  %-18s %-10s %-10s %-10s %-10s %s\n", "STATUS", "FLEET", "BUILD",
		       "DEVICES", "STALE", "KEY", "CUSTODY", "SIGNER", "BAKED", "DEADLINE", "ACTION");
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];
		char signer[16], baked[16], dl[16];

		ymd(r->custody && r->custody->has_signer ? r->custody->not_after : 0, signer);
		ymd(r->key && r->key->has_cert ? r->key->not_after : 0, baked);
		ymd(r->deadline, dl);
		sgt_buf_printf(b, "%-9s %-16s %-10s %9ld %7ld  %-18s %-10s %-10s %-10s %-10s %s\n",
			       sgt_fleet_status_name(r->status), r->fleet->name, build_name(r), r->devices, r->stale,
			       r->keyname, r->key == NULL ? "-" : r->custody ? "held" : "NOT HELD", signer, baked, dl,
			       sgt_fleet_action_name(r->action));
		/* No command when there is nothing to run yet (a renewal not yet due). */
		sgt_buf_printf(b, "          %s\n", r->sentence);
		if (r->command[0])
			sgt_buf_printf(b, "          $ %s\n", r->command);
	}
	sgt_buf_printf(b, "\n%ld devices (%ld stale, not seen recently; %ld on builds nobody recorded) in %ld fleets: "
		       "%ld ok, %ld due, %ld overdue, %ld stranded, %ld unknown", t.devices + t.stale, t.stale, t.unknown,
		       t.fleets, t.by_status[SGT_FLEET_ST_OK], t.by_status[SGT_FLEET_ST_DUE],
		       t.by_status[SGT_FLEET_ST_OVERDUE], t.by_status[SGT_FLEET_ST_STRANDED],
		       t.by_status[SGT_FLEET_ST_UNKNOWN]);
	if (t.next_row != NULL) {
		char d[16];

		ymd(t.next, d);
		if (t.next <= rep->now)
			sgt_buf_printf(b, "; a deadline has passed: %s (%s %s)", d, t.next_row->fleet->name,
				       build_name(t.next_row));
		else
			sgt_buf_printf(b, "; next deadline %s (%s %s)", d, t.next_row->fleet->name, build_name(t.next_row));
	}
	return sgt_buf_printf(b, "\n");
}

/* -- JSON ---------------------------------------------------------------------- */

static json_t *time_json(time_t t)
{
	char s[32];

	if (t == 0)
		return json_null();
	sgt_time_iso(t, s);
	return json_string(s);
}

static json_t *row_json(const struct sgt_fleet_report *rep, const struct sgt_fleet_row *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "fleet", json_string(r->fleet->name));
	json_object_set_new(o, "build", json_string(build_name(r)));
	json_object_set_new(o, "devices", json_integer(r->devices));
	json_object_set_new(o, "stale_devices", json_integer(r->stale));
	json_object_set_new(o, "key", json_string(r->keyname));
	json_object_set_new(o, "spki_sha256", r->key ? json_string(r->key->spki_sha256) : json_null());
	json_object_set_new(o, "custody", r->key == NULL ? json_null() : json_string(r->custody ? "held" : "not held"));
	json_object_set_new(o, "custody_label", r->custody ? json_string(r->custody->label) : json_null());
	if (r->custody && r->custody->has_signer) {
		json_t *s = json_object();

		json_object_set_new(s, "serial", json_string(r->custody->serial));
		json_object_set_new(s, "not_after", time_json(r->custody->not_after));
		json_object_set_new(s, "renew_before_days", json_integer(r->custody->renew_before_days));
		json_object_set_new(o, "signer_certificate", s);
	} else
		json_object_set_new(o, "signer_certificate", json_null());
	if (r->key && r->key->has_cert) {
		json_t *c = json_object();

		json_object_set_new(c, "subject", json_string(r->key->subject));
		json_object_set_new(c, "serial", json_string(r->key->serial));
		json_object_set_new(c, "not_after", time_json(r->key->not_after));
		json_object_set_new(o, "baked_certificate", c);
	} else
		json_object_set_new(o, "baked_certificate", json_null());
	json_object_set_new(o, "checks_expiry", json_boolean(r->fleet->checks_expiry));
	json_object_set_new(o, "deadline", time_json(r->deadline));
	json_object_set_new(o, "deadline_for", r->deadline ? json_string(sgt_fleet_action_name(r->deadline_for)) : json_null());
	json_object_set_new(o, "days_left", r->deadline ? json_integer(days_left(rep->now, r->deadline)) : json_null());
	json_object_set_new(o, "action", json_string(sgt_fleet_action_name(r->action)));
	json_object_set_new(o, "status", json_string(sgt_fleet_status_name(r->status)));
	json_object_set_new(o, "sentence", json_string(r->sentence));
	json_object_set_new(o, "command", json_string(r->command));
	return o;
}

json_t *sgt_fleet_report_json(const struct sgt_fleet_report *rep)
{
	json_t *root = json_object(), *fleets = json_array(), *rows = json_array(), *sum = json_object(),
	       *bys = json_object();
	struct totals t;
	size_t i, j;

	if (root == NULL || fleets == NULL || rows == NULL || sum == NULL || bys == NULL) {
		json_decref(root);
		json_decref(fleets);
		json_decref(rows);
		json_decref(sum);
		json_decref(bys);
		return NULL;
	}
	totals(rep, &t);
	json_object_set_new(root, "generated", time_json(rep->now));
	json_object_set_new(root, "warn_days", json_integer(rep->warn_days));
	json_object_set_new(root, "critical_days", json_integer(rep->critical_days));
	json_object_set_new(sum, "devices", json_integer(t.devices + t.stale));
	json_object_set_new(sum, "stale_devices", json_integer(t.stale));
	json_object_set_new(sum, "unknown_build_devices", json_integer(t.unknown));
	json_object_set_new(sum, "fleets", json_integer(t.fleets));
	for (i = SGT_FLEET_ST_OK; i <= SGT_FLEET_ST_UNKNOWN; i++)
		json_object_set_new(bys, sgt_fleet_status_name((enum sgt_fleet_status)i), json_integer(t.by_status[i]));
	json_object_set_new(sum, "fleets_by_status", bys);
	json_object_set_new(sum, "next_deadline", time_json(t.next));
	json_object_set_new(sum, "next_deadline_passed", json_boolean(t.next != 0 && t.next <= rep->now));
	json_object_set_new(root, "summary", sum);
	for (i = 0; i < rep->inv->n; i++) {
		const struct sgt_fleet *f = &rep->inv->fleets[i];
		json_t *o;
		long dev = 0, stale = 0;

		if (!rep->selected[i])
			continue;
		for (j = 0; j < f->nbuilds; j++) {
			dev += f->builds[j].devices;
			stale += f->builds[j].stale;
		}
		o = json_object();
		json_object_set_new(o, "name", json_string(f->name));
		json_object_set_new(o, "status", json_string(sgt_fleet_status_name(rep->fleet_status[i])));
		json_object_set_new(o, "devices", json_integer(dev));
		json_object_set_new(o, "stale_devices", json_integer(stale));
		json_object_set_new(o, "unknown_build_devices", json_integer(unknown_devices(f)));
		json_object_set_new(o, "rollout_days", json_integer(f->rollout_days));
		json_object_set_new(o, "margin_days", json_integer(f->margin_days));
		json_object_set_new(o, "checks_expiry", json_boolean(f->checks_expiry));
		json_object_set_new(o, "source", f->has_source ? json_string(f->src.name ? f->src.name : "") : json_null());
		json_array_append_new(fleets, o);
	}
	json_object_set_new(root, "fleets", fleets);
	for (i = 0; i < rep->n; i++)
		json_array_append_new(rows, row_json(rep, &rep->rows[i]));
	json_object_set_new(root, "rows", rows);
	return root;
}

/* -- CSV ------------------------------------------------------------------------ */

static void csv_cell(struct sgt_buf *b, const char *s, int last)
{
	const char *p;

	if (strpbrk(s, ",\"\r\n") == NULL)
		sgt_buf_printf(b, "%s", s);
	else {
		sgt_buf_add(b, "\"", 1);
		for (p = s; *p; p++) {
			if (*p == '"')
				sgt_buf_add(b, "\"", 1);
			sgt_buf_add(b, p, 1);
		}
		sgt_buf_add(b, "\"", 1);
	}
	sgt_buf_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static int render_csv(const struct sgt_fleet_report *rep, struct sgt_buf *b)
{
	static const char *const head[] = {
		"fleet", "build", "devices", "stale_devices", "key", "spki_sha256", "custody", "signer_not_after",
		"baked_not_after", "checks_expiry", "deadline", "deadline_for", "action", "status", "sentence", "command",
		"fleet_status", NULL
	};
	size_t i;
	int c;

	for (c = 0; head[c]; c++)
		csv_cell(b, head[c], head[c + 1] == NULL);
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];
		char n1[24], n2[24], t1[32] = "", t2[32] = "", t3[32] = "";

		snprintf(n1, sizeof(n1), "%ld", r->devices);
		snprintf(n2, sizeof(n2), "%ld", r->stale);
		if (r->custody && r->custody->has_signer)
			sgt_time_iso(r->custody->not_after, t1);
		if (r->key && r->key->has_cert)
			sgt_time_iso(r->key->not_after, t2);
		if (r->deadline)
			sgt_time_iso(r->deadline, t3);
		csv_cell(b, r->fleet->name, 0);
		csv_cell(b, build_name(r), 0);
		csv_cell(b, n1, 0);
		csv_cell(b, n2, 0);
		csv_cell(b, r->keyname, 0);
		csv_cell(b, r->key ? r->key->spki_sha256 : "", 0);
		csv_cell(b, r->key == NULL ? "" : r->custody ? r->custody->label : "not held", 0);
		csv_cell(b, t1, 0);
		csv_cell(b, t2, 0);
		csv_cell(b, r->fleet->checks_expiry ? "true" : "false", 0);
		csv_cell(b, t3, 0);
		csv_cell(b, r->deadline ? sgt_fleet_action_name(r->deadline_for) : "", 0);
		csv_cell(b, sgt_fleet_action_name(r->action), 0);
		csv_cell(b, sgt_fleet_status_name(r->status), 0);
		csv_cell(b, r->sentence, 0);
		csv_cell(b, r->command, 0);
		csv_cell(b, sgt_fleet_status_name(rep->fleet_status[r->fleet - rep->inv->fleets]), 1);
	}
	return b->p != NULL || b->len == 0 ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

/* -- Prometheus --------------------------------------------------------------------- */

/* A label value: backslash, double quote and line feed escaped (exposition format). */
static void prom_label(struct sgt_buf *b, const char *name, const char *v, int first)
{
	const char *p;

	sgt_buf_printf(b, "%s%s=\"", first ? "" : ",", name);
	for (p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			sgt_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			sgt_buf_add(b, "\\n", 2);
		else
			sgt_buf_add(b, p, 1);
	}
	sgt_buf_add(b, "\"", 1);
}

static void prom_head(struct sgt_buf *b, const char *name, const char *help)
{
	sgt_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static int seen_before(const char **keys, size_t n, const char *a, const char *b2)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		if (strcmp(keys[i], a) == 0 && strcmp(keys[i + 1], b2) == 0)
			return 1;
	return 0;
}

static int render_prometheus(const struct sgt_fleet_report *rep, struct sgt_buf *b)
{
	const char **seen = calloc(4 * (rep->n + rep->ncustody) + 4 * (rep->inv->n + 1) + 4, sizeof(*seen));
	size_t i, ns = 0;
	int s;

	if (seen == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	prom_head(b, "signet_fleet_devices", "Devices of a fleet running a build that trusts a key (seen within stale_days).");
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];

		sgt_buf_printf(b, "signet_fleet_devices{");
		prom_label(b, "fleet", r->fleet->name, 1);
		prom_label(b, "build", build_name(r), 0);
		prom_label(b, "key", r->key ? r->keyname : "unknown", 0);
		sgt_buf_printf(b, "} %ld\n", r->devices);
	}
	prom_head(b, "signet_fleet_stale_devices", "Devices of a fleet not seen for stale_days (they may come back from a shelf).");
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];

		sgt_buf_printf(b, "signet_fleet_stale_devices{");
		prom_label(b, "fleet", r->fleet->name, 1);
		prom_label(b, "build", build_name(r), 0);
		prom_label(b, "key", r->key ? r->keyname : "unknown", 0);
		sgt_buf_printf(b, "} %ld\n", r->stale);
	}
	prom_head(b, "signet_fleet_action_deadline_timestamp_seconds",
		  "When the action must be done (Unix time) so that the fleet stays updatable.");
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];

		if (r->deadline == 0)
			continue;
		sgt_buf_printf(b, "signet_fleet_action_deadline_timestamp_seconds{");
		prom_label(b, "fleet", r->fleet->name, 1);
		prom_label(b, "build", build_name(r), 0);
		prom_label(b, "key", r->keyname, 0);
		prom_label(b, "action", sgt_fleet_action_name(r->deadline_for), 0);
		sgt_buf_printf(b, "} %lld\n", (long long)r->deadline);
	}
	prom_head(b, "signet_fleet_status", "1 for the fleet's current status, 0 for the others.");
	for (i = 0; i < rep->inv->n; i++) {
		if (!rep->selected[i])
			continue;
		for (s = SGT_FLEET_ST_OK; s <= SGT_FLEET_ST_UNKNOWN; s++) {
			sgt_buf_printf(b, "signet_fleet_status{");
			prom_label(b, "fleet", rep->inv->fleets[i].name, 1);
			prom_label(b, "status", sgt_fleet_status_name((enum sgt_fleet_status)s), 0);
			sgt_buf_printf(b, "} %d\n", (int)rep->fleet_status[i] == s);
		}
	}
	prom_head(b, "signet_cert_not_after_timestamp_seconds",
		  "Expiry (Unix time) of signer certificates in the store and certificates baked into builds.");
	for (i = 0; i < rep->ncustody; i++) {
		const struct sgt_fleet_custody *c = &rep->custody[i];

		if (!c->has_signer || seen_before(seen, ns, c->label, c->serial))
			continue;
		seen[ns++] = c->label;
		seen[ns++] = c->serial;
		sgt_buf_printf(b, "signet_cert_not_after_timestamp_seconds{");
		prom_label(b, "key", c->label, 1);
		prom_label(b, "serial", c->serial, 0);
		prom_label(b, "subject_cn", c->subject_cn, 0);
		sgt_buf_printf(b, "} %lld\n", (long long)c->not_after);
	}
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];
		const char *cn;

		if (r->key == NULL || !r->key->has_cert || seen_before(seen, ns, r->keyname, r->key->serial))
			continue;
		seen[ns++] = r->keyname;
		seen[ns++] = r->key->serial;
		cn = strstr(r->key->subject, "CN=");
		sgt_buf_printf(b, "signet_cert_not_after_timestamp_seconds{");
		prom_label(b, "key", r->keyname, 1);
		prom_label(b, "serial", r->key->serial, 0);
		{
			char cnv[128];

			snprintf(cnv, sizeof(cnv), "%.*s", cn ? (int)strcspn(cn + 3, ",/") : 0, cn ? cn + 3 : "");
			prom_label(b, "subject_cn", cnv, 0);
		}
		sgt_buf_printf(b, "} %lld\n", (long long)r->key->not_after);
	}
	prom_head(b, "signet_key_in_custody", "1 when the key is in custody on the token, 0 when devices trust a key nobody here holds.");
	ns = 0;
	for (i = 0; i < rep->ncustody; i++) {
		seen[ns++] = rep->custody[i].spki_sha256;
		seen[ns++] = "";
		sgt_buf_printf(b, "signet_key_in_custody{");
		prom_label(b, "key", rep->custody[i].label, 1);
		prom_label(b, "spki_sha256", rep->custody[i].spki_sha256, 0);
		sgt_buf_printf(b, "} 1\n");
	}
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];

		if (r->key == NULL || r->custody != NULL || seen_before(seen, ns, r->key->spki_sha256, ""))
			continue;
		seen[ns++] = r->key->spki_sha256;
		seen[ns++] = "";
		sgt_buf_printf(b, "signet_key_in_custody{");
		prom_label(b, "key", r->keyname, 1);
		prom_label(b, "spki_sha256", r->key->spki_sha256, 0);
		sgt_buf_printf(b, "} 0\n");
	}
	prom_head(b, "signet_inventory_last_update_timestamp_seconds", "When the inventory or a device source last changed (Unix time).");
	ns = 0;
	if (rep->inv->path != NULL) {
		sgt_buf_printf(b, "signet_inventory_last_update_timestamp_seconds{");
		prom_label(b, "source", rep->inv->path, 1);
		sgt_buf_printf(b, "} %lld\n", (long long)rep->inv->mtime);
		seen[ns++] = rep->inv->path;
		seen[ns++] = "";
	}
	for (i = 0; i < rep->inv->n; i++) {
		const struct sgt_fleet *f = &rep->inv->fleets[i];

		if (!rep->selected[i] || !f->has_source || f->src.name == NULL || seen_before(seen, ns, f->src.name, ""))
			continue;
		seen[ns++] = f->src.name;
		seen[ns++] = "";
		sgt_buf_printf(b, "signet_inventory_last_update_timestamp_seconds{");
		prom_label(b, "source", f->src.name, 1);
		sgt_buf_printf(b, "} %lld\n", (long long)f->source_time);
	}
	free(seen);
	return b->p != NULL ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

/* -- HTML ------------------------------------------------------------------------------ */

static void html_text(struct sgt_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sgt_buf_printf(b, "&amp;"); break;
		case '<': sgt_buf_printf(b, "&lt;"); break;
		case '>': sgt_buf_printf(b, "&gt;"); break;
		case '"': sgt_buf_printf(b, "&quot;"); break;
		case '\'': sgt_buf_printf(b, "&#39;"); break;
		default: sgt_buf_add(b, s, 1);
		}
	}
}

static const char *status_colour(enum sgt_fleet_status s)
{
	static const char *const c[] = { "#1b7f3b", "#b36b00", "#c0392b", "#6c1d8f", "#555555" };

	return c[s];
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>signet fleet report</title>\n<style>\n"
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',sans-serif;margin:1.5rem;color:#1d1d1f;background:#fff}\n"
	"h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}\n"
	".meta{color:#555;font-size:.85rem}\n"
	".cards{display:flex;flex-wrap:wrap;gap:.8rem;margin-top:1rem}\n"
	".card{border:1px solid #ddd;border-radius:8px;padding:.7rem 1rem;min-width:9rem;flex:1 1 9rem}\n"
	".card b{display:block;font-size:1.5rem}.card span{color:#555;font-size:.8rem}\n"
	".wrap{overflow-x:auto}\n"
	"table{border-collapse:collapse;width:100%;font-size:.85rem}\n"
	"th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}\n"
	"th{background:#f4f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}td.d{white-space:nowrap}\n"
	"tr.stranded{background:#f3e6f8}tr.overdue{background:#fbe3e0}tr.due{background:#fff1d6}tr.ok{background:#eaf6ee}tr.unknown{background:#eeeeee}\n"
	".st{font-weight:bold;text-transform:uppercase;font-size:.75rem}\n"
	".what{color:#333}.cmd{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.78rem;color:#333}\n"
	"svg{width:100%;height:auto;max-width:1100px}\n"
	/* Phones: each row becomes a card with labelled fields; the timeline scrolls sideways. */
	"@media (max-width:640px){body{margin:.6rem}table.rows tr:first-child{display:none}"
	"table.rows,table.rows tbody,table.rows tr,table.rows td{display:block;width:auto}"
	"table.rows tr{border:1px solid #ddd;border-radius:8px;margin:.5rem 0;padding:.3rem}"
	"table.rows td{border:0;padding:.15rem .4rem;text-align:left}"
	"table.rows td[data-l]::before{content:attr(data-l) \": \";color:#555;font-size:.75rem}"
	".tl svg{min-width:720px}}\n"
	"@media print{body{margin:0;font-size:10pt}.card{break-inside:avoid}tr{break-inside:avoid}"
	"tr.stranded,tr.overdue,tr.due,tr.ok,tr.unknown{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n"
	"</style>\n</head>\n<body>\n";

static void html_timeline(const struct sgt_fleet_report *rep, struct sgt_buf *b)
{
	const int left = 150, width = 900, lane = 26, top = 30;
	time_t start = rep->now, end = rep->now + 365 * (time_t)DAY;
	size_t i, j, lanes = 0;
	int m, h;

	for (i = 0; i < rep->inv->n; i++)
		lanes += rep->selected[i] != 0;
	h = top + (int)lanes * lane + 20;
	/* Inline SVG needs no xmlns in HTML: the page names no URL at all. */
	sgt_buf_printf(b, "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"deadlines in the next 12 months\" "
		       "font-size=\"11\">\n", left + width + 20, h);
	for (m = 0; m <= 12; m++) {
		struct tm tm;
		time_t t;
		char lbl[16];
		double x;

		gmtime_r(&start, &tm);
		tm.tm_mon += m;
		tm.tm_mday = 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		t = timegm(&tm);
		if (t < start || t > end)
			continue;
		x = left + (double)(t - start) / (double)(end - start) * width;
		strftime(lbl, sizeof(lbl), "%b %Y", &tm);
		sgt_buf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
			       "<text x=\"%.1f\" y=\"%d\" fill=\"#555\" text-anchor=\"middle\">%s</text>\n",
			       x, top - 8, x, h - 14, x, top - 12, lbl);
	}
	sgt_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\" stroke-width=\"2\"/>"
		       "<text x=\"%d\" y=\"%d\" fill=\"#333\" text-anchor=\"middle\">today</text>\n",
		       left, top - 8, left, h - 14, left, h - 2);
	lanes = 0;
	for (i = 0; i < rep->inv->n; i++) {
		const struct sgt_fleet *f = &rep->inv->fleets[i];
		int y;

		if (!rep->selected[i])
			continue;
		y = top + (int)lanes++ * lane + lane / 2;
		sgt_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"%s\" font-weight=\"bold\">", left - 8,
			       y + 4, status_colour(rep->fleet_status[i]));
		html_text(b, f->name);
		sgt_buf_printf(b, "</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>\n", left, y,
			       left + width, y);
		if (rep->fleet_status[i] == SGT_FLEET_ST_STRANDED)
			sgt_buf_printf(b, "<text x=\"%d\" y=\"%d\" fill=\"%s\">stranded: no key in custody; reflash only</text>\n",
				       left + 8, y + 4, status_colour(SGT_FLEET_ST_STRANDED));
		else if (rep->fleet_status[i] == SGT_FLEET_ST_UNKNOWN)
			sgt_buf_printf(b, "<text x=\"%d\" y=\"%d\" fill=\"%s\">unknown: %ld device%s on builds nobody recorded</text>\n",
				       left + 8, y + 4, status_colour(SGT_FLEET_ST_UNKNOWN), unknown_devices(f),
				       unknown_devices(f) == 1 ? "" : "s");
		for (j = 0; j < rep->n; j++) {
			const struct sgt_fleet_row *r = &rep->rows[j];
			double x;
			char d[16];

			if (r->fleet != f || r->deadline == 0 || r->deadline > end)
				continue;
			x = r->deadline <= start ? left : left + (double)(r->deadline - start) / (double)(end - start) * width;
			ymd(r->deadline, d);
			sgt_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%d\" r=\"6\" fill=\"%s\"><title>", x, y,
				       status_colour(r->status));
			html_text(b, f->name);
			sgt_buf_printf(b, " %s: %s by %s", build_name(r), sgt_fleet_action_name(r->deadline_for), d);
			/* Labels near the right edge grow leftwards so that they stay inside the picture. */
			sgt_buf_printf(b, "</title></circle><text x=\"%.1f\" y=\"%d\" fill=\"#333\"%s>%s %s%s</text>\n",
				       x > left + width * 0.8 ? x - 9 : x + 9, y - 7,
				       x > left + width * 0.8 ? " text-anchor=\"end\"" : "",
				       sgt_fleet_action_name(r->deadline_for), d, r->deadline <= start ? " (passed)" : "");
		}
	}
	sgt_buf_printf(b, "</svg>\n");
}

static int render_html(const struct sgt_fleet_report *rep, struct sgt_buf *b)
{
	struct totals t;
	char now[32], d[16];
	size_t i;

	totals(rep, &t);
	sgt_time_iso(rep->now, now);
	sgt_buf_printf(b, "%s<h1>Will every device stay updatable?</h1>\n<p class=\"meta\">signet fleet report, %s; "
		       "due within %ld days, overdue within %ld days or past</p>\n<div class=\"cards\">\n", html_head,
		       now, rep->warn_days, rep->critical_days);
	sgt_buf_printf(b, "<div class=\"card\"><b>%ld</b><span>devices (%ld stale", t.devices + t.stale, t.stale);
	if (t.unknown > 0)
		sgt_buf_printf(b, "; %ld on builds nobody recorded", t.unknown);
	sgt_buf_printf(b, ")</span></div>\n");
	sgt_buf_printf(b, "<div class=\"card\"><b>%ld</b><span>fleets</span></div>\n", t.fleets);
	for (i = SGT_FLEET_ST_OK; i <= SGT_FLEET_ST_UNKNOWN; i++)
		sgt_buf_printf(b, "<div class=\"card\" style=\"border-color:%s\"><b style=\"color:%s\">%ld</b>"
			       "<span>%s</span></div>\n", status_colour((enum sgt_fleet_status)i),
			       status_colour((enum sgt_fleet_status)i), t.by_status[i],
			       sgt_fleet_status_name((enum sgt_fleet_status)i));
	ymd(t.next, d);
	/* A deadline already past is never shown as the next one to come. */
	if (t.next != 0 && t.next <= rep->now) {
		long ago = -days_left(rep->now, t.next);

		sgt_buf_printf(b, "<div class=\"card\" style=\"border-color:%s\"><b style=\"color:%s\">%s</b>"
			       "<span>deadline passed", status_colour(SGT_FLEET_ST_OVERDUE),
			       status_colour(SGT_FLEET_ST_OVERDUE), d);
		if (ago > 0)
			sgt_buf_printf(b, " %ld day%s ago", ago, ago == 1 ? "" : "s");
	} else
		sgt_buf_printf(b, "<div class=\"card\"><b>%s</b><span>next deadline", d);
	if (t.next_row) {
		sgt_buf_printf(b, ": ");
		html_text(b, t.next_row->fleet->name);
		sgt_buf_printf(b, " %s", sgt_fleet_action_name(t.next_row->deadline_for));
	}
	sgt_buf_printf(b, "</span></div>\n</div>\n<h2>Deadlines, soonest first</h2>\n<div class=\"wrap\"><table class=\"rows\">\n"
		       "<tr><th>status</th><th>fleet</th><th>build</th><th>devices</th><th>key</th><th>signer expires</th>"
		       "<th>baked expires</th><th>deadline</th><th>what to do</th></tr>\n");
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];
		char s1[16], s2[16], s3[32];

		ymd(r->custody && r->custody->has_signer ? r->custody->not_after : 0, s1);
		ymd(r->key && r->key->has_cert ? r->key->not_after : 0, s2);
		ymd(r->deadline, s3);
		if (r->deadline != 0 && r->deadline <= rep->now)
			snprintf(s3 + strlen(s3), sizeof(s3) - strlen(s3), "%s", " passed");
		sgt_buf_printf(b, "<tr class=\"%s\"><td class=\"st\" style=\"color:%s\">%s</td><td data-l=\"fleet\">",
			       sgt_fleet_status_name(r->status), status_colour(r->status), sgt_fleet_status_name(r->status));
		html_text(b, r->fleet->name);
		sgt_buf_printf(b, "</td><td data-l=\"build\">");
		html_text(b, build_name(r));
		sgt_buf_printf(b, "</td><td class=\"n\" data-l=\"devices\">%ld%s", r->devices, r->stale ? "" : "</td>");
		if (r->stale)
			sgt_buf_printf(b, "<br><small>+%ld stale</small></td>", r->stale);
		sgt_buf_printf(b, "<td data-l=\"key\">");
		html_text(b, r->keyname);
		sgt_buf_printf(b, "<br><small>%s</small></td><td class=\"d\" data-l=\"signer expires\">%s</td>"
			       "<td class=\"d\" data-l=\"baked expires\">%s</td><td class=\"d\" data-l=\"deadline\">%s</td>"
			       "<td><div class=\"what\">",
			       r->key == NULL ? "" : r->custody ? "in custody" : "NOT HELD", s1, s2, s3);
		html_text(b, r->sentence);
		sgt_buf_printf(b, "</div>");
		if (r->command[0]) {
			sgt_buf_printf(b, "<div class=\"cmd\">$ ");
			html_text(b, r->command);
			sgt_buf_printf(b, "</div>");
		}
		sgt_buf_printf(b, "</td></tr>\n");
	}
	sgt_buf_printf(b, "</table></div>\n<h2>The next 12 months</h2>\n<div class=\"wrap tl\">\n");
	html_timeline(rep, b);
	sgt_buf_printf(b, "</div>\n");
	sgt_buf_printf(b, "<p class=\"meta\">Devices that check expiry need a rebuild baking a renewed certificate "
		       "before their baked certificate expires; the others need only a usable signer certificate for a "
		       "key in custody. Stranded devices trust no key in custody.</p>\n</body>\n</html>\n");
	return b->p != NULL ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

/* -- iCalendar ------------------------------------------------------------------------------ */

/* One content line, folded at 75 octets (RFC 5545 3.1), CRLF-terminated. */
static void ics_line(struct sgt_buf *b, const char *s)
{
	size_t n = strlen(s), col = 0, i;

	for (i = 0; i < n; i++) {
		/* Never split a UTF-8 sequence: fold only before a lead byte. */
		if (col >= 74 && ((unsigned char)s[i] & 0xc0) != 0x80) {
			sgt_buf_add(b, "\r\n ", 3);
			col = 1;
		}
		sgt_buf_add(b, &s[i], 1);
		col++;
	}
	sgt_buf_add(b, "\r\n", 2);
}

static void ics_text(struct sgt_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == ';' || *s == ',')
			sgt_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			sgt_buf_add(b, "\\n", 2);
		else
			sgt_buf_add(b, s, 1);
	}
}

static int render_ics(const struct sgt_fleet_report *rep, struct sgt_buf *b)
{
	struct tm tm;
	char stamp[32];
	size_t i;

	gmtime_r(&rep->now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	ics_line(b, "BEGIN:VCALENDAR");
	ics_line(b, "VERSION:2.0");
	ics_line(b, "PRODID:-//signet//fleet report " SGT_VERSION "//EN");
	ics_line(b, "CALSCALE:GREGORIAN");
	ics_line(b, "METHOD:PUBLISH");
	ics_line(b, "X-WR-CALNAME:signet fleet deadlines");
	for (i = 0; i < rep->n; i++) {
		const struct sgt_fleet_row *r = &rep->rows[i];
		struct sgt_buf l = { 0 }, id = { 0 };
		char day1[16], day2[16], uid[65], due[16];
		/*
		 * A deadline already passed is not hidden in the past of the
		 * calendar: its event sits on the report's day and says it
		 * passed (importing a newer report moves it: the UID is stable).
		 */
		int passed = r->deadline <= rep->now, renew = r->deadline_for == SGT_FLEET_RENEW;
		time_t at = passed ? rep->now : r->deadline, next = at + DAY;

		if (r->deadline == 0)
			continue;
		ymd(r->deadline, due);
		gmtime_r(&at, &tm);
		strftime(day1, sizeof(day1), "%Y%m%d", &tm);
		gmtime_r(&next, &tm);
		strftime(day2, sizeof(day2), "%Y%m%d", &tm);
		/* Stable UID: the same deadline keeps its event when the report is imported again. */
		sgt_buf_printf(&id, "%s/%s/%s/%s", r->fleet->name, build_name(r), r->key ? r->key->spki_sha256 : "",
			       sgt_fleet_action_name(r->deadline_for));
		sgt_sha256_hex(id.p, id.len, uid);
		sgt_buf_free(&id);
		ics_line(b, "BEGIN:VEVENT");
		sgt_buf_printf(&l, "UID:%.32s@signet", uid);
		ics_line(b, l.p);
		l.len = 0;
		sgt_buf_printf(&l, "DTSTAMP:%s", stamp);
		ics_line(b, l.p);
		l.len = 0;
		sgt_buf_printf(&l, "DTSTART;VALUE=DATE:%s", day1);
		ics_line(b, l.p);
		l.len = 0;
		sgt_buf_printf(&l, "DTEND;VALUE=DATE:%s", day2);
		ics_line(b, l.p);
		l.len = 0;
		sgt_buf_printf(&l, "SUMMARY:");
		{
			struct sgt_buf s = { 0 };

			/* The action and its deadline, never today's status: the event outlives the report. */
			/* A renew row's date is when renew starts to act, not a last day: "from", "due since". */
			if (passed)
				sgt_buf_printf(&s, "signet: %s %s %s (key %s): %s %s", sgt_fleet_action_name(r->deadline_for),
					       r->fleet->name, build_name(r), r->keyname, renew ? "renewal window opened" : "deadline passed on",
					       due);
			else
				sgt_buf_printf(&s, "signet: %s %s %s (key %s) %s %s", sgt_fleet_action_name(r->deadline_for),
					       r->fleet->name, build_name(r), r->keyname, renew ? "from" : "by", due);
			ics_text(&l, s.p);
			sgt_buf_free(&s);
		}
		ics_line(b, l.p);
		l.len = 0;
		sgt_buf_printf(&l, "DESCRIPTION:");
		{
			struct sgt_buf s = { 0 };

			/* The event is the deadline: on that date a not-yet-due renewal is due. */
			sgt_buf_printf(&s, "%s\n$ %s", r->sentence, r->command[0] ? r->command :
				       r->deadline_for == SGT_FLEET_RENEW && !(r->custody && r->custody->needs_approvals) ?
				       "signet renew" : "");
			ics_text(&l, s.p);
			sgt_buf_free(&s);
		}
		ics_line(b, l.p);
		l.len = 0;
		sgt_buf_printf(&l, "CATEGORIES:signet,%s", sgt_fleet_action_name(r->deadline_for));
		ics_line(b, l.p);
		ics_line(b, "TRANSP:TRANSPARENT");
		ics_line(b, "BEGIN:VALARM");
		ics_line(b, "ACTION:DISPLAY");
		l.len = 0;
		sgt_buf_printf(&l, "DESCRIPTION:");
		{
			struct sgt_buf s = { 0 };

			if (passed)
				sgt_buf_printf(&s, "%s %s %s: %s %s", sgt_fleet_action_name(r->deadline_for), r->fleet->name,
					       build_name(r), renew ? "its renewal window opened" : "the deadline passed on", due);
			else
				sgt_buf_printf(&s, "%s %s %s %s %s, in 14 days", sgt_fleet_action_name(r->deadline_for),
					       r->fleet->name, build_name(r), renew ? "from" : "by", due);
			ics_text(&l, s.p);
			sgt_buf_free(&s);
		}
		ics_line(b, l.p);
		ics_line(b, passed ? "TRIGGER:PT0S" : "TRIGGER:-P14D");
		ics_line(b, "END:VALARM");
		ics_line(b, "END:VEVENT");
		sgt_buf_free(&l);
	}
	ics_line(b, "END:VCALENDAR");
	return b->p != NULL ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

int sgt_fleet_render(const struct sgt_fleet_report *rep, enum sgt_fleet_fmt fmt, struct sgt_buf *out)
{
	switch (fmt) {
	case SGT_FLEET_FMT_TABLE: return render_table(rep, out);
	case SGT_FLEET_FMT_JSON: return sgt_buf_json(out, sgt_fleet_report_json(rep), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	case SGT_FLEET_FMT_CSV: return render_csv(rep, out);
	case SGT_FLEET_FMT_PROMETHEUS: return render_prometheus(rep, out);
	case SGT_FLEET_FMT_HTML: return render_html(rep, out);
	case SGT_FLEET_FMT_ICS: return render_ics(rep, out);
	}
	return sgt_err(SGT_ERR_USAGE, "unknown report format");
}
