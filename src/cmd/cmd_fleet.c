/*
 * cmd_fleet.c: `signet fleet report|check|build add|build list`.  Loads
 * the inventory, the recorded builds and the store's custody, streams the
 * device sources, has fleet.c judge, and prints or writes (atomically) the
 * chosen format.  `build add` is the only subcommand that changes the
 * store: one record under the exclusive lock, with an audit record, undone
 * if the audit record cannot be written.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cmd.h"
#include "dbstore.h"
#include "fleet.h"
#include "fleet_records.h"
#include "intent.h"
#include "tx.h"

static const char help[] =
	"usage: signet fleet report [FLEET...] [--format table|json|csv|prometheus|html|ics] [--out FILE]\n"
	"                           [--inventory FILE] [--warn-days N] [--critical-days N]\n"
	"       signet fleet check [FLEET...] [--warn-days N] [--critical-days N] [--inventory FILE]\n"
	"       signet fleet build add FLEET VERSION ARTEFACT [--devices N]\n"
	"       signet fleet build list [FLEET...] [--inventory FILE]\n\n"
	"Which devices depend on which key, and by when something must be done so that\n"
	"every device in the field stays updatable.  The inventory is <store>/fleets.yaml\n"
	"(or --inventory FILE); builds may also be recorded with `fleet build add`, which\n"
	"reads what the artefact bakes in with the same reader as `signet extract`.\n\n"
	"For each fleet x build x trusted key: custody, the usable signer certificate,\n"
	"the baked certificate, the deadline and the action:\n"
	"  stranded  no key the devices trust is in custody: reflash only\n"
	"  renew     the signer certificate is due for renewal, as `signet renew` decides\n"
	"            (deadline: the day it falls due; ok until then): signet renew\n"
	"  rebuild   devices check expiry: a build baking a renewed certificate must\n"
	"            reach the fleet by not_after - rollout_days - margin_days\n"
	"  ok        with the next date that matters\n"
	"status: ok, due (deadline within --warn-days, default 30), overdue (passed or\n"
	"within --critical-days, default 14), stranded; unknown for devices on builds\n"
	"signet has no record of: a fleet with any is unknown, never ok.\n\n"
	"  --format F      table (default; --json gives json), json, csv, prometheus\n"
	"                  (node_exporter textfile), html (one self-contained page), ics\n"
	"  --out FILE      write FILE atomically instead of standard output (mode from\n"
	"                  your umask: a report is not a secret)\n"
	"  --devices N     (build add) how many devices run the build\n\n"
	"check exits 1 when any fleet needs action (due, overdue, stranded or unknown),\n"
	"printing one line per finding; 0 when every fleet is ok.\n";

struct opts {
	const char *inventory, *out, *format;
	long warn, critical, devices;
	char **names;
	size_t nnames;
};

static int parse_days(const char *cmd, const char *flag, const char *arg, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > max)
		return cmd_usage(cmd, "%s needs a number from 0 to %ld, not '%s'", flag, max, arg);
	*out = v;
	return SGT_OK;
}

/* Options and operands after the subcommand word(s); 1 = help printed. */
static int parse(const char *cmd, int argc, char **argv, struct opts *o, int allow_out)
{
	static const struct option longopts[] = {
		{ "inventory", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "warn-days", required_argument, NULL, 'w' },
		{ "critical-days", required_argument, NULL, 'c' },
		{ "devices", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int started = 0, c, rc;

	o->warn = SGT_FLEET_WARN_DAYS;
	o->critical = SGT_FLEET_CRITICAL_DAYS;
	o->devices = -1;
	while ((c = cmd_getopt(cmd, argc, argv, "ho:", longopts, &started)) != -1) {
		switch (c) {
		case -2: return SGT_ERR_USAGE;
		case 'h': cmd_help(help); return 1;
		case 'i': o->inventory = optarg; break;
		case 'f':
			if (!allow_out)
				return cmd_usage(cmd, "--format does not apply here");
			if (sgt_fleet_fmt_parse(optarg) < 0)
				return cmd_usage(cmd, "unknown format '%s' (table, json, csv, prometheus, html or ics)", optarg);
			o->format = optarg;
			break;
		case 'o':
			if (!allow_out)
				return cmd_usage(cmd, "--out does not apply here");
			o->out = optarg;
			break;
		case 'w': if ((rc = parse_days(cmd, "--warn-days", optarg, 3650, &o->warn)) != SGT_OK) return rc; break;
		case 'c': if ((rc = parse_days(cmd, "--critical-days", optarg, 3650, &o->critical)) != SGT_OK) return rc; break;
		case 'd': if ((rc = parse_days(cmd, "--devices", optarg, LONG_MAX / 4, &o->devices)) != SGT_OK) return rc; break;
		}
	}
	if (o->critical > o->warn)
		return cmd_usage(cmd, "--critical-days (%ld) must not exceed --warn-days (%ld)", o->critical, o->warn);
	o->names = argv + optind;
	o->nnames = (size_t)(argc - optind);
	return SGT_OK;
}

/* Everything a report needs, loaded in order: inventory, records, artefacts, devices, custody. */
struct loaded {
	struct sgt_store st;
	int have_store;
	struct sgt_inventory inv;
	struct sgt_fleet_custody *custody;
	size_t ncustody;
};

static void loaded_release(struct loaded *l)
{
	sgt_inventory_release(&l->inv);
	free(l->custody);
	if (l->have_store)
		sgt_store_release(&l->st);
}

static int load(struct sgt_ctx *ctx, const struct opts *o, int count_devices, time_t now, struct loaded *l)
{
	char *path = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	if ((rc = cmd_store_open(ctx, &l->st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	l->have_store = 1;
	if (o->inventory == NULL && (path = sgt_store_path(&l->st, "fleets.yaml")) == NULL)
		return SGT_ERR_DATA;
	rc = o->inventory ? SGT_OK : sgt_db_shared_read(path);
	rc = rc ? rc : sgt_inventory_load(o->inventory ? o->inventory : path, o->inventory != NULL, &l->inv);
	free(path);
	if (rc != SGT_OK)
		return rc;
	if ((rc = sgt_fleet_records_merge(&l->st, &l->inv)) != SGT_OK ||
	    (rc = sgt_fleet_read_artefacts(&l->inv)) != SGT_OK)
		return rc;
	if (count_devices && (rc = sgt_fleet_count(&l->inv, o->names, o->nnames, now)) != SGT_OK)
		return rc;
	return sgt_fleet_custody_load(&l->st, &l->custody, &l->ncustody);
}

static int fleet_report(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct opts o = { 0 };
	struct loaded l;
	struct sgt_fleet_report rep;
	struct sgt_buf out = { 0 };
	time_t now = sgt_now();
	int rc = parse("fleet report", argc, argv, &o, 1), fmt;

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	fmt = o.format ? sgt_fleet_fmt_parse(o.format) : ctx->json ? SGT_FLEET_FMT_JSON : SGT_FLEET_FMT_TABLE;
	if ((rc = load(ctx, &o, 1, now, &l)) != SGT_OK)
		goto out;
	if ((rc = sgt_fleet_judge(&l.inv, l.custody, l.ncustody, now, o.warn, o.critical, o.names, o.nnames, &rep)) != SGT_OK)
		goto out;
	rc = sgt_fleet_render(&rep, (enum sgt_fleet_fmt)fmt, &out);
	sgt_fleet_report_release(&rep);
	if (rc != SGT_OK)
		goto out;
	if (o.out != NULL) {
		/* Written whole or not at all: a scraper or calendar never reads half a report. */
		if ((rc = sgt_out_write(o.out, out.p ? out.p : "", out.len)) == SGT_OK && !sgt_quiet && !ctx->json)
			fprintf(stderr, "wrote %s report to %s\n", o.format ? o.format : "table", o.out);
	} else if (out.len > 0 && fwrite(out.p, 1, out.len, stdout) != out.len)
		rc = sgt_err(SGT_ERR_DATA, "cannot write to standard output");
out:
	sgt_buf_free(&out);
	loaded_release(&l);
	return rc;
}

static int fleet_check(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct opts o = { 0 };
	struct loaded l;
	struct sgt_fleet_report rep;
	time_t now = sgt_now();
	json_t *findings = NULL;
	size_t i, nfind = 0, nfleets = 0;
	int rc = parse("fleet check", argc, argv, &o, 0);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if ((rc = load(ctx, &o, 1, now, &l)) != SGT_OK)
		goto out;
	if ((rc = sgt_fleet_judge(&l.inv, l.custody, l.ncustody, now, o.warn, o.critical, o.names, o.nnames, &rep)) != SGT_OK)
		goto out;
	findings = json_array();
	for (i = 0; i < rep.n; i++) {
		const struct sgt_fleet_row *r = &rep.rows[i];
		const char *build = r->build ? r->build->version : "unknown";

		if (r->status == SGT_FLEET_ST_OK)
			continue;
		nfind++;
		if (ctx->json) {
			json_t *f = json_object();

			json_object_set_new(f, "fleet", json_string(r->fleet->name));
			json_object_set_new(f, "build", json_string(build));
			json_object_set_new(f, "key", json_string(r->keyname));
			json_object_set_new(f, "status", json_string(sgt_fleet_status_name(r->status)));
			json_object_set_new(f, "action", json_string(sgt_fleet_action_name(r->action)));
			json_object_set_new(f, "devices", json_integer(r->devices + r->stale));
			json_object_set_new(f, "sentence", json_string(r->sentence));
			json_object_set_new(f, "command", json_string(r->command));
			json_array_append_new(findings, f);
		} else
			printf("%s %s %s: %s: %s ($ %s)\n", r->fleet->name, build, r->keyname,
			       sgt_fleet_status_name(r->status), r->sentence, r->command);
	}
	for (i = 0; i < l.inv.n; i++)
		nfleets += rep.selected[i] != 0;
	if (ctx->json) {
		json_t *j = json_object();

		json_object_set_new(j, "fleets", json_integer((json_int_t)nfleets));
		json_object_set_new(j, "action_needed", json_boolean(nfind > 0));
		json_object_set_new(j, "findings", findings);
		findings = NULL;
		rc = cmd_json_print(j);
	} else if (nfind == 0 && !sgt_quiet)
		printf("all %zu fleets ok: nothing due within %ld days\n", nfleets, o.warn);
	sgt_fleet_report_release(&rep);
	if (rc == SGT_OK && nfind > 0)
		rc = SGT_ERR_VERDICT;
out:
	json_decref(findings);
	loaded_release(&l);
	return rc;
}

static int build_add(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct opts o = { 0 };
	struct sgt_store st;
	struct sgt_fleet_build b;
	struct sgt_fleet_custody *cust = NULL;
	size_t ncust = 0, i, j, held = 0;
	char note[200];
	char *path = NULL, *abs = NULL;
	json_t *details = NULL, *keys = NULL;
	struct sgt_buf text = { 0 };
	struct sgt_tx *tx = NULL;
	int rc = parse("fleet build add", argc, argv, &o, 0);

	memset(&b, 0, sizeof(b));
	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if (o.nnames != 3)
		return cmd_usage("fleet build add", o.nnames < 3 ? "needs FLEET VERSION ARTEFACT" : "unexpected argument '%s'",
				 o.nnames > 3 ? o.names[3] : "");
	if (!sgt_fleet_name_ok(o.names[0]))
		return cmd_usage("fleet build add", "'%s' is not a fleet name ([A-Za-z0-9._+-], at most 64)", o.names[0]);
	if (!sgt_fleet_name_ok(o.names[1]))
		return cmd_usage("fleet build add", "'%s' is not a version name ([A-Za-z0-9._+-], at most 64)", o.names[1]);
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		return rc;
	if ((abs = realpath(o.names[2], NULL)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "cannot read artefact '%s': %s", o.names[2], strerror(errno));
		goto out;
	}
	if ((b.version = strdup(o.names[1])) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	b.artefact = abs;
	abs = NULL;
	b.devices = o.devices > 0 ? o.devices : 0;
	sgt_time_iso(sgt_now(), b.recorded_at);
	if ((rc = sgt_fleet_artefact_keys(b.artefact, &b.keys, &b.nkeys, b.artefact_sha256)) != SGT_OK ||
	    (rc = sgt_fleet_custody_load(&st, &cust, &ncust)) != SGT_OK)
		goto out;
	details = json_object();
	keys = json_array();
	for (i = 0; i < b.nkeys; i++) {
		const char *label = NULL;
		json_t *k = json_object();

		for (j = 0; j < ncust; j++)
			if (strcmp(cust[j].spki_sha256, b.keys[i].spki_sha256) == 0)
				label = cust[j].label;
		held += label != NULL;
		json_object_set_new(k, "spki_sha256", json_string(b.keys[i].spki_sha256));
		json_object_set_new(k, "custody", label ? json_string(label) : json_null());
		json_object_set_new(k, "usage", b.keys[i].usage[0] ? json_string(b.keys[i].usage) : json_null());
		json_array_append_new(keys, k);
	}
	json_object_set_new(details, "fleet", json_string(o.names[0]));
	json_object_set_new(details, "version", json_string(b.version));
	json_object_set_new(details, "artefact", json_string(b.artefact));
	json_object_set_new(details, "artefact_sha256", json_string(b.artefact_sha256));
	json_object_set_new(details, "keys", keys);
	/*
	 * The build record is staged and put in place only once its audit
	 * record is durable (intent.h): it is never visible without it.
	 */
	if ((rc = sgt_fleet_record_render(&st, o.names[0], &b, &path, &text)) != SGT_OK ||
	    (rc = sgt_tx_begin(&st, "fleet.build.add", NULL, NULL, NULL, 0, &tx)) != SGT_OK)
		goto out;
	if ((rc = sgt_tx_stage(tx, path, text.p, text.len, SGT_TX_EXCL)) != SGT_OK) {
		if (rc == SGT_ERR_DATA)
			sgt_hint("a build is recorded once; a new artefact is a new VERSION");
		goto out;
	}
	/* No effect without its audit record: on failure sgt_tx_free rolls back. */
	if ((rc = sgt_tx_record(tx, "fleet.build.add", NULL, b.keys[0].spki_sha256, details)) != SGT_OK ||
	    (rc = sgt_tx_commit(tx)) != SGT_OK)
		goto out;
	if (ctx->json) {
		json_object_set_new(details, "path", json_string(path));
		json_object_set_new(details, "stranded", json_boolean(held == 0));
		rc = cmd_json_print(json_incref(details));
	} else if (!sgt_quiet) {
		printf("recorded build %s of fleet %s (%s)\n", b.version, o.names[0], path);
		for (i = 0; i < b.nkeys; i++) {
			const char *label = NULL;

			for (j = 0; j < ncust; j++)
				if (strcmp(cust[j].spki_sha256, b.keys[i].spki_sha256) == 0)
					label = cust[j].label;
			printf("  trusts %s %s%s%s%s\n", b.keys[i].spki_sha256, label ? "held by key '" : "NOT HELD",
			       label ? label : "", label ? "'" : "", sgt_fleet_key_note(&b.keys[i], note, sizeof(note)));
		}
	}
	if (held == 0)
		sgt_warn("build %s of fleet %s bakes no key in custody: its devices are stranded (reflash only)",
			 b.version, o.names[0]);
	else if (held < b.nkeys)
		sgt_warn("build %s of fleet %s also trusts a key that is not in custody", b.version, o.names[0]);
out:
	sgt_buf_free(&text);
	json_decref(details);
	free(path);
	free(abs);
	free(cust);
	free(b.version);
	free(b.artefact);
	free(b.keys);
	sgt_tx_free(tx);
	sgt_store_release(&st);
	return rc;
}

static int build_list(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct opts o = { 0 };
	struct loaded l;
	json_t *arr = NULL;
	size_t i, j, k, n;
	int rc = parse("fleet build list", argc, argv, &o, 0);

	if (rc != SGT_OK)
		return rc > 0 ? SGT_OK : rc;
	if ((rc = load(ctx, &o, 0, sgt_now(), &l)) != SGT_OK)
		goto out;
	for (n = 0; n < o.nnames; n++)
		if (sgt_inventory_fleet(&l.inv, o.names[n]) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "no fleet named '%s'", o.names[n]);
			goto out;
		}
	arr = json_array();
	if (!ctx->json)
		printf("%-16s %-10s %9s  %-18s %-10s %-10s %s\n", "FLEET", "BUILD", "DEVICES", "KEY", "CUSTODY", "BAKED",
		       "FROM");
	for (i = 0; i < l.inv.n; i++) {
		const struct sgt_fleet *f = &l.inv.fleets[i];
		int want = o.nnames == 0;

		for (n = 0; n < o.nnames; n++)
			want |= strcmp(o.names[n], f->name) == 0;
		if (!want)
			continue;
		for (j = 0; j < f->nbuilds; j++) {
			const struct sgt_fleet_build *b = &f->builds[j];
			const char *from = b->recorded_at[0] ? "recorded" : "inventory";

			for (k = 0; k < b->nkeys || (k == 0 && b->nkeys == 0); k++) {
				const struct sgt_fleet_key *key = b->nkeys ? &b->keys[k] : NULL;
				const char *label = NULL;
				char baked[32] = "-", name[65];
				size_t c;

				for (c = 0; key && c < l.ncustody; c++)
					if (strcmp(l.custody[c].spki_sha256, key->spki_sha256) == 0)
						label = l.custody[c].label;
				if (key && key->has_cert)
					sgt_time_iso(key->not_after, baked);
				snprintf(name, sizeof(name), "%s%.12s", label ? "" : key ? "spki:" : "-",
					 label ? label : key ? key->spki_sha256 : "");
				if (ctx->json) {
					json_t *e = json_object();

					json_object_set_new(e, "fleet", json_string(f->name));
					json_object_set_new(e, "build", json_string(b->version));
					json_object_set_new(e, "devices", json_integer(b->devices));
					json_object_set_new(e, "artefact", b->artefact ? json_string(b->artefact) : json_null());
					json_object_set_new(e, "artefact_sha256", json_string(b->artefact_sha256));
					json_object_set_new(e, "spki_sha256", key ? json_string(key->spki_sha256) : json_null());
					json_object_set_new(e, "custody", label ? json_string(label) : json_null());
					json_object_set_new(e, "baked_not_after", key && key->has_cert ? json_string(baked) : json_null());
					json_object_set_new(e, "from", json_string(from));
					json_array_append_new(arr, e);
				} else
					printf("%-16s %-10s %9ld  %-18s %-10s %-10.10s %s\n", f->name, b->version, b->devices, name,
					       key == NULL ? "-" : label ? "held" : "NOT HELD", baked, from);
			}
		}
	}
	if (ctx->json) {
		rc = cmd_json_print(arr);
		arr = NULL;
	}
out:
	json_decref(arr);
	loaded_release(&l);
	return rc;
}

int cmd_fleet(struct sgt_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL)
		return cmd_usage("fleet", "missing subcommand (report, check, build add, build list)");
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0)
		return cmd_help(help);
	if (strcmp(sub, "report") == 0)
		return fleet_report(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "check") == 0)
		return fleet_check(ctx, argc - 1, argv + 1);
	if (strcmp(sub, "build") == 0) {
		if (argc > 2 && strcmp(argv[2], "add") == 0)
			return build_add(ctx, argc - 2, argv + 2);
		if (argc > 2 && strcmp(argv[2], "list") == 0)
			return build_list(ctx, argc - 2, argv + 2);
		if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0))
			return cmd_help(help);
		return cmd_usage("fleet build", "missing or unknown subcommand (add, list)");
	}
	return cmd_usage("fleet", "unknown subcommand '%s'", sub);
}
