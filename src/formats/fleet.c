/*
 * fleet.c: the fleet model and the judgement.  Parses the inventory
 * (fleets.yaml, libyaml through yamltree, errors naming file, line and
 * field), reads what each build bakes in from its own artefact with the
 * extract reader, and decides per fleet x build x key the deadline, the
 * action and the status of SPEC.md section 5.  Recorded builds and custody
 * are read from the store by fleet_records.c (ops), device sources are
 * fleet_source.c's business and output formats fleet_report.c's; nothing
 * here prints to stdout.
 * Floor: formats.  It may call formats and base; never custody or above.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "extract.h"
#include "fleet.h"
#include "policy.h"
#include "yamltree.h"

#define DAY 86400

static char *xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		sgt_err(SGT_ERR_DATA, "out of memory");
	return d;
}

int sgt_fleet_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '+'))
			return 0;
	}
	return 1;
}

/* -- the model ----------------------------------------------------------- */

void sgt_fleet_build_release(struct sgt_fleet_build *b)
{
	free(b->version);
	free(b->artefact);
	free(b->keys);
	memset(b, 0, sizeof(*b));
}

static void source_release(struct sgt_fleet_source *s)
{
	free(s->source);
	free(s->name);
	free(s->query);
	free(s->build_field);
	free(s->fleet_field);
	free(s->last_seen_field);
	free(s->where);
	memset(s, 0, sizeof(*s));
}

static void fleet_release(struct sgt_fleet *f)
{
	size_t i;

	for (i = 0; i < f->nbuilds; i++)
		sgt_fleet_build_release(&f->builds[i]);
	free(f->builds);
	for (i = 0; i < f->nunknown; i++)
		free(f->unknown[i].version);
	free(f->unknown);
	source_release(&f->src);
	free(f->name);
	memset(f, 0, sizeof(*f));
}

void sgt_inventory_release(struct sgt_inventory *inv)
{
	size_t i;

	if (inv == NULL)
		return;
	for (i = 0; i < inv->n; i++)
		fleet_release(&inv->fleets[i]);
	free(inv->fleets);
	free(inv->path);
	memset(inv, 0, sizeof(*inv));
}

struct sgt_fleet *sgt_inventory_fleet(struct sgt_inventory *inv, const char *name)
{
	size_t i;

	for (i = 0; i < inv->n; i++)
		if (strcmp(inv->fleets[i].name, name) == 0)
			return &inv->fleets[i];
	return NULL;
}

int sgt_inventory_add_fleet(struct sgt_inventory *inv, const char *name, struct sgt_fleet **out)
{
	struct sgt_fleet *grown = realloc(inv->fleets, (inv->n + 1) * sizeof(*grown)), *f;

	if (grown == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	inv->fleets = grown;
	f = &inv->fleets[inv->n];
	memset(f, 0, sizeof(*f));
	f->rollout_days = SGT_FLEET_ROLLOUT_DAYS;
	f->margin_days = SGT_FLEET_MARGIN_DAYS;
	if ((f->name = xstrdup(name)) == NULL)
		return SGT_ERR_DATA;
	inv->n++;
	*out = f;
	return SGT_OK;
}

struct sgt_fleet_build *sgt_fleet_build_find(struct sgt_fleet *f, const char *version)
{
	size_t i;

	for (i = 0; i < f->nbuilds; i++)
		if (strcmp(f->builds[i].version, version) == 0)
			return &f->builds[i];
	return NULL;
}

int sgt_fleet_build_new(struct sgt_fleet *f, const char *version, struct sgt_fleet_build **out)
{
	struct sgt_fleet_build *grown = realloc(f->builds, (f->nbuilds + 1) * sizeof(*grown)), *b;

	if (grown == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	f->builds = grown;
	b = &f->builds[f->nbuilds];
	memset(b, 0, sizeof(*b));
	if ((b->version = xstrdup(version)) == NULL)
		return SGT_ERR_DATA;
	f->nbuilds++;
	*out = b;
	return SGT_OK;
}

/* -- the inventory ------------------------------------------------------- */

/* path relative to the inventory's directory, as SPEC says; absolute paths stay. */
static char *relative_to(const char *inv_path, const char *p)
{
	struct sgt_buf b = { 0 };
	const char *slash = strrchr(inv_path, '/');

	if (p[0] == '/' || slash == NULL)
		return xstrdup(p);
	if (sgt_buf_printf(&b, "%.*s/%s", (int)(slash - inv_path), inv_path, p) != SGT_OK)
		return NULL;
	return b.p;
}

static int parse_builds(const char *file, struct sgt_fleet *f, const struct sgt_yaml *seq)
{
	static const char *const allowed[] = { "version", "artefact", "devices", NULL };
	size_t i;
	int rc;

	if (seq == NULL)
		return SGT_OK;
	if (seq->kind != SGT_YAML_SEQ)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'builds' of fleet '%s': expected a list", file, seq->line,
			       f->name);
	for (i = 0; i < seq->n; i++) {
		const struct sgt_yaml *it = seq->items[i];
		const char *version = NULL, *artefact = NULL;
		struct sgt_fleet_build *b;
		long devices = 0;

		if ((rc = sgt_yaml_check_keys(file, it, "a build", allowed)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(file, it, "version", 1, &version)) != SGT_OK ||
		    (rc = sgt_yaml_get_str(file, it, "artefact", 0, &artefact)) != SGT_OK ||
		    (rc = sgt_yaml_get_long(file, it, "devices", 0, 0, LONG_MAX / 4, &devices)) != SGT_OK)
			return rc;
		if (!sgt_fleet_name_ok(version))
			return sgt_err(SGT_ERR_DATA, "%s:%d: field 'version': '%s' is not a version name "
				       "([A-Za-z0-9._+-], at most 64)", file, sgt_yaml_get(it, "version")->line, version);
		if (sgt_fleet_build_find(f, version) != NULL)
			return sgt_err(SGT_ERR_DATA, "%s:%d: field 'version': build '%s' of fleet '%s' is listed twice",
				       file, sgt_yaml_get(it, "version")->line, version, f->name);
		if ((rc = sgt_fleet_build_new(f, version, &b)) != SGT_OK)
			return rc;
		b->line = it->line;
		b->devices = devices;
		if (artefact != NULL && (b->artefact = relative_to(file, artefact)) == NULL)
			return SGT_ERR_DATA;
	}
	return SGT_OK;
}

static int parse_source(const char *file, struct sgt_fleet *f, const struct sgt_yaml *d)
{
	static const char *const allowed[] = {
		"source", "format", "build_field", "fleet_field", "last_seen_field", "query", "stale_days", NULL
	};
	static const struct { const char *name; enum sgt_fleet_format fmt; } formats[] = {
		{ "csv", SGT_FLEET_SRC_CSV }, { "jsonl", SGT_FLEET_SRC_JSONL },
		{ "aws-iot-search-index", SGT_FLEET_SRC_AWS }, { "postgresql", SGT_FLEET_SRC_PG }, { NULL, 0 }
	};
	struct sgt_fleet_source *s = &f->src;
	const char *source = NULL, *format = NULL, *bf = NULL, *ff = NULL, *lf = NULL, *query = NULL;
	int rc, i;

	if (d == NULL)
		return SGT_OK;
	if ((rc = sgt_yaml_check_keys(file, d, "devices", allowed)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, d, "source", 1, &source)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, d, "format", 1, &format)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, d, "build_field", 0, &bf)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, d, "fleet_field", 0, &ff)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, d, "last_seen_field", 0, &lf)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, d, "query", 0, &query)) != SGT_OK)
		return rc;
	s->stale_days = SGT_FLEET_STALE_DAYS;
	if ((rc = sgt_yaml_get_long(file, d, "stale_days", 0, 1, 36500, &s->stale_days)) != SGT_OK)
		return rc;
	for (i = 0; formats[i].name; i++)
		if (strcmp(formats[i].name, format) == 0)
			s->format = formats[i].fmt;
	if (s->format == SGT_FLEET_SRC_NONE)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'format': unknown source format '%s' "
			       "(csv, jsonl, aws-iot-search-index or postgresql)", file,
			       sgt_yaml_get(d, "format")->line, format);
	s->line = d->line;
	{
		struct sgt_buf w = { 0 };

		/* Messages about a query point at the query itself. */
		if (sgt_buf_printf(&w, "%s:%d", file, query ? sgt_yaml_get(d, "query")->line : d->line) != SGT_OK)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		s->where = w.p;
	}
	if (s->format == SGT_FLEET_SRC_PG) {
		if (query == NULL)
			return sgt_err(SGT_ERR_DATA, "%s:%d: field 'query': a postgresql source needs a query "
				       "returning (build, devices[, last_seen])", file, d->line);
		if (bf != NULL || ff != NULL || lf != NULL)
			return sgt_err(SGT_ERR_DATA, "%s:%d: field '%s': a postgresql source takes its columns "
				       "from the query", file, d->line, bf ? "build_field" : ff ? "fleet_field"
				       : "last_seen_field");
		if ((s->source = xstrdup(source)) == NULL || (s->query = xstrdup(query)) == NULL)
			return SGT_ERR_DATA;
	} else {
		if (query != NULL)
			return sgt_err(SGT_ERR_DATA, "%s:%d: field 'query': only a postgresql source has a query",
				       file, sgt_yaml_get(d, "query")->line);
		if (bf == NULL)
			return sgt_err(SGT_ERR_DATA, "%s:%d: field 'build_field': missing (the column or JSON path "
				       "holding each device's firmware version)", file, d->line);
		if ((s->source = relative_to(file, source)) == NULL || (s->name = xstrdup(s->source)) == NULL ||
		    (s->build_field = xstrdup(bf)) == NULL || (ff && (s->fleet_field = xstrdup(ff)) == NULL) ||
		    (lf && (s->last_seen_field = xstrdup(lf)) == NULL))
			return SGT_ERR_DATA;
	}
	f->has_source = 1;
	return SGT_OK;
}

static int parse_fleet(const char *file, struct sgt_inventory *inv, const struct sgt_yaml *it)
{
	static const char *const allowed[] = {
		"name", "rollout_days", "margin_days", "checks_expiry", "builds", "devices", NULL
	};
	const char *name = NULL;
	struct sgt_fleet *f;
	int rc;

	if ((rc = sgt_yaml_check_keys(file, it, "a fleet", allowed)) != SGT_OK ||
	    (rc = sgt_yaml_get_str(file, it, "name", 1, &name)) != SGT_OK)
		return rc;
	if (!sgt_fleet_name_ok(name))
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'name': '%s' is not a fleet name ([A-Za-z0-9._+-], at most 64)",
			       file, sgt_yaml_get(it, "name")->line, name);
	if (sgt_inventory_fleet(inv, name) != NULL)
		return sgt_err(SGT_ERR_DATA, "%s:%d: field 'name': fleet '%s' is listed twice", file,
			       sgt_yaml_get(it, "name")->line, name);
	if ((rc = sgt_inventory_add_fleet(inv, name, &f)) != SGT_OK)
		return rc;
	f->line = it->line;
	if ((rc = sgt_yaml_get_long(file, it, "rollout_days", 0, 0, 3650, &f->rollout_days)) != SGT_OK ||
	    (rc = sgt_yaml_get_long(file, it, "margin_days", 0, 0, 3650, &f->margin_days)) != SGT_OK ||
	    (rc = sgt_yaml_get_bool(file, it, "checks_expiry", 0, &f->checks_expiry)) != SGT_OK ||
	    (rc = parse_builds(file, f, sgt_yaml_get(it, "builds"))) != SGT_OK)
		return rc;
	return parse_source(file, f, sgt_yaml_get(it, "devices"));
}

int sgt_inventory_load(const char *path, int required, struct sgt_inventory *inv)
{
	static const char *const allowed[] = { "fleets", NULL };
	struct sgt_yaml *doc = NULL;
	const struct sgt_yaml *seq;
	struct stat sb;
	size_t i;
	int rc;

	memset(inv, 0, sizeof(*inv));
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT && !required)
			return SGT_OK;
		return sgt_err(SGT_ERR_DATA, "cannot read inventory '%s': %s", path, strerror(errno));
	}
	if ((inv->path = xstrdup(path)) == NULL)
		return SGT_ERR_DATA;
	inv->mtime = sb.st_mtime;
	if ((rc = sgt_yaml_load(path, &doc)) != SGT_OK)
		goto out;
	if ((rc = sgt_yaml_check_keys(path, doc, "the inventory", allowed)) != SGT_OK)
		goto out;
	seq = sgt_yaml_get(doc, "fleets");
	if (seq == NULL)
		goto out;
	if (seq->kind != SGT_YAML_SEQ) {
		rc = sgt_err(SGT_ERR_DATA, "%s:%d: field 'fleets': expected a list of fleets", path, seq->line);
		goto out;
	}
	for (i = 0; i < seq->n && rc == SGT_OK; i++)
		rc = parse_fleet(path, inv, seq->items[i]);
out:
	sgt_yaml_free(doc);
	if (rc != SGT_OK)
		sgt_inventory_release(inv);
	return rc;
}

/* -- what a build bakes in ------------------------------------------------ */

static int file_sha256(const char *path, char out[65])
{
	unsigned char buf[65536], md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *fp = fopen(path, "rb");
	size_t n;
	int rc = SGT_OK;

	if (fp == NULL) {
		EVP_MD_CTX_free(ctx);
		return sgt_err(SGT_ERR_DATA, "cannot read artefact '%s': %s", path, strerror(errno));
	}
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		rc = sgt_err(SGT_ERR_DATA, "SHA-256 of '%s': %s", path, sgt_ossl_why());
	while (rc == SGT_OK && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (EVP_DigestUpdate(ctx, buf, n) != 1)
			rc = sgt_err(SGT_ERR_DATA, "SHA-256 of '%s': %s", path, sgt_ossl_why());
	if (rc == SGT_OK && ferror(fp))
		rc = sgt_err(SGT_ERR_DATA, "cannot read artefact '%s': %s", path, strerror(errno));
	if (rc == SGT_OK && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		rc = sgt_err(SGT_ERR_DATA, "SHA-256 of '%s': %s", path, sgt_ossl_why());
	if (rc == SGT_OK)
		sgt_hex(md, mdlen, out);
	fclose(fp);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* What a baked certificate without the code-signing usage is (sgt_fleet_key.usage); "" for any other. */
static void cert_usage(X509 *cert, char *out, size_t cap)
{
	uint32_t flags = X509_get_extension_flags(cert);

	out[0] = '\0';
	if ((flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(cert) & XKU_CODE_SIGN))
		return;
	if (X509_check_ca(cert) > 0)
		snprintf(out, cap, "%s", SGT_FLEET_USAGE_CA);
	else if (flags & EXFLAG_XKUSAGE)
		snprintf(out, cap, "%s", SGT_FLEET_USAGE_OTHER);
}

const char *sgt_fleet_key_note(const struct sgt_fleet_key *k, char *buf, size_t cap)
{
	if (k->usage[0] == '\0')
		return "";
	snprintf(buf, cap, " ('%.100s': %s, without the code-signing usage)", k->subject, k->usage);
	return buf;
}

int sgt_fleet_artefact_keys(const char *path, struct sgt_fleet_key **keys, size_t *n, char sha256[65])
{
	struct sgt_found_list l = { 0 };
	struct sgt_fleet_key *v = NULL;
	size_t i, j, nv = 0;
	int rc;

	*keys = NULL;
	*n = 0;
	if ((rc = file_sha256(path, sha256)) != SGT_OK)
		return rc;
	if ((rc = sgt_extract_file(path, &l)) != SGT_OK)
		return rc;
	if (l.n > 0 && (v = calloc(l.n, sizeof(*v))) == NULL) {
		sgt_found_list_release(&l);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < l.n; i++) {
		const struct sgt_found *f = &l.v[i];
		struct sgt_fleet_key *k;

		/* Only what the device really holds: a commented-out or broken PEM trusts nothing. */
		if (f->baked != 1 || f->pub == NULL)
			continue;
		for (j = 0; j < nv; j++)
			if (strcmp(v[j].spki_sha256, f->info.spki_sha256) == 0)
				break;
		k = &v[j];
		if (j == nv) {
			nv++;
			snprintf(k->spki_sha256, sizeof(k->spki_sha256), "%s", f->info.spki_sha256);
			snprintf(k->alg, sizeof(k->alg), "%s", f->info.alg);
		}
		/* The same key baked as a bare key and as a certificate: the certificate says more. */
		if (f->kind == SGT_FOUND_CERT && !k->has_cert) {
			k->has_cert = 1;
			snprintf(k->subject, sizeof(k->subject), "%s", f->info.subject);
			snprintf(k->serial, sizeof(k->serial), "%s", f->info.serial);
			k->not_before = f->info.not_before;
			k->not_after = f->info.not_after;
			cert_usage(f->cert, k->usage, sizeof(k->usage));
		}
	}
	sgt_found_list_release(&l);
	if (nv == 0) {
		free(v);
		return sgt_err(SGT_ERR_DATA, "artefact '%s' bakes in no certificate or public key a device could use", path);
	}
	*keys = v;
	*n = nv;
	return SGT_OK;
}

int sgt_fleet_read_artefacts(struct sgt_inventory *inv)
{
	size_t i, j;
	int rc;

	for (i = 0; i < inv->n; i++) {
		struct sgt_fleet *f = &inv->fleets[i];

		for (j = 0; j < f->nbuilds; j++) {
			struct sgt_fleet_build *b = &f->builds[j];

			if (b->artefact == NULL || b->nkeys > 0)
				continue;
			if ((rc = sgt_fleet_artefact_keys(b->artefact, &b->keys, &b->nkeys, b->artefact_sha256)) != SGT_OK)
				return rc;
		}
	}
	return SGT_OK;
}

/* -- the judgement --------------------------------------------------------- */

const char *sgt_fleet_action_name(enum sgt_fleet_action a)
{
	static const char *const names[] = { "ok", "renew", "rebuild", "stranded", "unknown" };

	return (unsigned)a < 5 ? names[a] : "?";
}

const char *sgt_fleet_status_name(enum sgt_fleet_status s)
{
	static const char *const names[] = { "ok", "due", "overdue", "stranded", "unknown" };

	return (unsigned)s < 5 ? names[s] : "?";
}

static const struct sgt_fleet_custody *held(const struct sgt_fleet_custody *c, size_t n, const char *spki)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(c[i].spki_sha256, spki) == 0)
			return &c[i];
	return NULL;
}

static void day(time_t t, char out[16])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 16, "?");
}

/* Whole days from now to t, rounded towards the past for dates already gone. */
static long days_until(time_t now, time_t t)
{
	return t >= now ? (long)((t - now) / DAY) : -(long)((now - t + DAY - 1) / DAY);
}

static enum sgt_fleet_status by_deadline(const struct sgt_fleet_report *rep, time_t deadline)
{
	long left = days_until(rep->now, deadline);

	if (deadline <= rep->now || left <= rep->critical_days)
		return SGT_FLEET_ST_OVERDUE;
	if (left <= rep->warn_days)
		return SGT_FLEET_ST_DUE;
	return SGT_FLEET_ST_OK;
}

/* Labels of the build's keys that are held, for the sentence of a key that is not. */
static const char *held_other(const struct sgt_fleet_report *rep, const struct sgt_fleet_build *b)
{
	const struct sgt_fleet_custody *c;
	size_t i;

	for (i = 0; i < b->nkeys; i++)
		if ((c = held(rep->custody, rep->ncustody, b->keys[i].spki_sha256)) != NULL)
			return c->label;
	return NULL;
}

static void judge_key(const struct sgt_fleet_report *rep, const struct sgt_fleet *f, const struct sgt_fleet_build *b,
		      struct sgt_fleet_row *r)
{
	const struct sgt_fleet_key *k = r->key;
	const struct sgt_fleet_custody *c = r->custody;
	const char *other = held_other(rep, b);
	struct sgt_renewal ren;
	time_t renew_at = 0, rebuild_at = 0;
	int renew_now = 0, rebuild_need, use_rebuild;
	char d1[16], d2[16], why[160], note[200];

	if (c != NULL)
		snprintf(r->keyname, sizeof(r->keyname), "%s", c->label);
	else
		snprintf(r->keyname, sizeof(r->keyname), "spki:%.12s", k->spki_sha256);
	if (other == NULL) {
		r->action = SGT_FLEET_STRANDED;
		r->status = SGT_FLEET_ST_STRANDED;
		snprintf(r->sentence, sizeof(r->sentence),
			 "no key these %ld devices trust is in custody (key %.16s...%s is not held); they can be "
			 "updated only by physical reflash or by whoever holds that key", r->devices + r->stale,
			 k->spki_sha256, sgt_fleet_key_note(k, note, sizeof(note)));
		snprintf(r->command, sizeof(r->command), "signet key match %s", b->artefact ? b->artefact : b->version);
		return;
	}
	if (c == NULL) {
		/* Another baked key is held: this one is a spare the devices also accept. */
		r->action = SGT_FLEET_OK;
		r->status = SGT_FLEET_ST_OK;
		snprintf(r->sentence, sizeof(r->sentence),
			 "key %.16s...%s is not in custody, but these devices also trust '%s', which is in custody",
			 k->spki_sha256, sgt_fleet_key_note(k, note, sizeof(note)), other);
		snprintf(r->command, sizeof(r->command), "signet key show %s", other);
		return;
	}
	/*
	 * Held: AWS Signer needs a usable certificate; devices that check
	 * expiry need a valid baked one.  Whether the signer certificate is due
	 * is decided as renew decides it (sgt_cert_renewal), and the renew
	 * deadline is the date it falls due: renew needs no lead time, so
	 * before that date there is nothing to do (ok, "due for renewal on"), and from
	 * it 'signet renew' acts (due; overdue once it has expired or expires
	 * within the critical days).
	 */
	if (!c->has_signer) {
		renew_at = rep->now;
		renew_now = 1;
	} else {
		sgt_cert_renewal(c->not_before, c->not_after, c->renew_before_days, rep->now, &ren);
		renew_at = ren.due_at;
		renew_now = ren.due;
	}
	if (f->checks_expiry && k->has_cert)
		rebuild_at = k->not_after - (time_t)(f->rollout_days + f->margin_days) * DAY;

	/* What is needed now wins; between equals, the sooner deadline. */
	rebuild_need = rebuild_at != 0 && by_deadline(rep, rebuild_at) != SGT_FLEET_ST_OK;
	if (rebuild_at == 0)
		use_rebuild = 0;
	else if (rebuild_need != renew_now)
		use_rebuild = rebuild_need;
	else
		use_rebuild = rebuild_at <= renew_at;
	if (use_rebuild) {
		r->deadline = rebuild_at;
		r->deadline_for = SGT_FLEET_REBUILD;
		r->status = by_deadline(rep, r->deadline);
	} else {
		r->deadline = renew_at;
		r->deadline_for = SGT_FLEET_RENEW;
		if (!renew_now)
			r->status = SGT_FLEET_ST_OK;
		else if (!c->has_signer || c->not_after <= rep->now ||
			 days_until(rep->now, c->not_after) <= rep->critical_days)
			r->status = SGT_FLEET_ST_OVERDUE;
		else
			r->status = SGT_FLEET_ST_DUE;
	}
	r->action = r->status == SGT_FLEET_ST_OK ? SGT_FLEET_OK : r->deadline_for;
	day(r->deadline, d1);
	if (r->deadline_for == SGT_FLEET_REBUILD) {
		day(k->not_after, d2);
		snprintf(r->sentence, sizeof(r->sentence),
			 "these devices reject images once their baked certificate expires on %s; a build baking a "
			 "renewed certificate for '%s' must reach the fleet by %s (%ld days rollout + %ld days margin)%s",
			 d2, c->label, d1, f->rollout_days,
			 f->margin_days, k->not_after <= rep->now ? "; the certificate has expired: devices now accept "
			 "no update and need a reflash" : "");
		/* 'signet renew' only where renew would act: the same rule again. */
		if (c->has_signer && c->not_after > k->not_after)
			snprintf(r->command, sizeof(r->command), "signet header %s --out ota_demo_config_signer.h",
				 c->label);
		else if (c->has_signer && c->foreign_issuer)
			snprintf(r->command, sizeof(r->command), "signet cert csr %s --out %s.csr", c->label, c->label);
		else if (c->has_signer && c->needs_approvals)
			snprintf(r->command, sizeof(r->command), "signet approve request --op cert.reissue --key %s",
				 c->label);
		else if (c->has_signer && renew_now)
			snprintf(r->command, sizeof(r->command),
				 "signet renew && signet header %s --out ota_demo_config_signer.h", c->label);
		else
			snprintf(r->command, sizeof(r->command),
				 "signet cert %s %s && signet header %s --out ota_demo_config_signer.h",
				 c->has_signer ? "reissue" : "issue", c->label, c->label);
	} else if (!c->has_signer) {
		snprintf(r->sentence, sizeof(r->sentence),
			 "key '%s' is in custody but has no signer certificate, so no update can be signed for "
			 "AWS; issue one for the same key (devices are not affected)", c->label);
		snprintf(r->command, sizeof(r->command), "signet cert issue %s", c->label);
	} else {
		sgt_renewal_why(&ren, c->policy, why, sizeof(why));
		day(c->not_after, d2);
		snprintf(r->sentence, sizeof(r->sentence),
			 "the signer certificate %s of '%s' %s on %s and is due for renewal %s %s (%s); AWS Signer "
			 "refuses an expired one; devices are not affected%s", c->serial, c->label,
			 c->not_after <= rep->now ? "expired" : "expires", d2, renew_now ? "since" : "on", d1, why,
			 c->foreign_issuer ? "; an outside CA issued it, so renew cannot reissue it: have that CA sign "
			 "a request, then 'signet cert import'" : c->needs_approvals ? "; its policy asks for approvals, so "
			 "renew does not reissue it: 'signet cert reissue --approvals DIR' once they are given" : "");
		/* Before it is due renew would do nothing: no command to run yet. */
		snprintf(r->command, sizeof(r->command), "%s", renew_now ? "signet renew" : "");
		if (c->foreign_issuer && renew_now)
			snprintf(r->command, sizeof(r->command), "signet cert csr %s --out %s.csr", c->label, c->label);
		else if (c->needs_approvals && renew_now)
			snprintf(r->command, sizeof(r->command), "signet approve request --op cert.reissue --key %s",
				 c->label);
	}
}

static int sev(enum sgt_fleet_status s)
{
	static const int order[] = { 4, 2, 1, 0, 3 };	/* stranded, overdue, due, unknown, ok */

	return order[s];
}

static int row_cmp(const void *a, const void *b)
{
	const struct sgt_fleet_row *x = a, *y = b;
	int c;

	if ((c = sev(x->status) - sev(y->status)) != 0)
		return c;
	if (x->deadline != y->deadline) {
		if (x->deadline == 0 || y->deadline == 0)
			return x->deadline == 0 ? 1 : -1;
		return x->deadline < y->deadline ? -1 : 1;
	}
	if ((c = strcmp(x->fleet->name, y->fleet->name)) != 0)
		return c;
	if (x->build == NULL || y->build == NULL)
		return x->build == NULL ? 1 : -1;
	if ((c = strcmp(x->build->version, y->build->version)) != 0)
		return c;
	return strcmp(x->keyname, y->keyname);
}

static struct sgt_fleet_row *row_new(struct sgt_fleet_report *rep, size_t *cap)
{
	if (rep->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct sgt_fleet_row *grown = realloc(rep->rows, ncap * sizeof(*grown));

		if (grown == NULL) {
			sgt_err(SGT_ERR_DATA, "out of memory");
			return NULL;
		}
		rep->rows = grown;
		*cap = ncap;
	}
	memset(&rep->rows[rep->n], 0, sizeof(rep->rows[0]));
	return &rep->rows[rep->n++];
}

int sgt_fleet_judge(const struct sgt_inventory *inv, const struct sgt_fleet_custody *custody, size_t ncustody,
		    time_t now, long warn_days, long critical_days, char **names, size_t nnames,
		    struct sgt_fleet_report *rep)
{
	size_t i, j, k, cap = 0;

	memset(rep, 0, sizeof(*rep));
	rep->now = now;
	rep->warn_days = warn_days;
	rep->critical_days = critical_days;
	rep->inv = inv;
	rep->custody = custody;
	rep->ncustody = ncustody;
	rep->fleet_status = calloc(inv->n + 1, sizeof(*rep->fleet_status));
	rep->selected = calloc(inv->n + 1, sizeof(*rep->selected));
	if (rep->fleet_status == NULL || rep->selected == NULL)
		goto oom;
	for (i = 0; i < nnames; i++) {
		for (j = 0; j < inv->n; j++)
			if (strcmp(inv->fleets[j].name, names[i]) == 0)
				break;
		if (j == inv->n) {
			sgt_fleet_report_release(rep);
			return sgt_err(SGT_ERR_DATA, "no fleet named '%s' in %s or in the recorded builds", names[i],
				       inv->path ? inv->path : "the inventory");
		}
		rep->selected[j] = 1;
	}
	for (i = 0; i < inv->n; i++) {
		const struct sgt_fleet *f = &inv->fleets[i];
		enum sgt_fleet_status worst = SGT_FLEET_ST_OK;

		if (nnames > 0 && !rep->selected[i])
			continue;
		rep->selected[i] = 1;
		for (j = 0; j < f->nbuilds; j++) {
			const struct sgt_fleet_build *b = &f->builds[j];

			if (b->nkeys == 0) {
				/* Neither artefact nor record: its devices are counted, never dropped. */
				struct sgt_fleet_row *r = row_new(rep, &cap);

				if (r == NULL)
					goto oom;
				r->fleet = f;
				r->build = b;
				r->devices = b->devices;
				r->stale = b->stale;
				r->action = SGT_FLEET_UNKNOWN;
				r->status = SGT_FLEET_ST_UNKNOWN;
				snprintf(r->keyname, sizeof(r->keyname), "-");
				snprintf(r->sentence, sizeof(r->sentence), "build '%s' has no artefact and no record, "
					 "so which key its %ld devices trust cannot be judged", b->version, b->devices + b->stale);
				snprintf(r->command, sizeof(r->command), "signet fleet build add %s %s ARTEFACT", f->name,
					 b->version);
				if (sev(r->status) < sev(worst))
					worst = r->status;
				continue;
			}
			for (k = 0; k < b->nkeys; k++) {
				struct sgt_fleet_row *r = row_new(rep, &cap);

				if (r == NULL)
					goto oom;
				r->fleet = f;
				r->build = b;
				r->key = &b->keys[k];
				r->custody = held(custody, ncustody, b->keys[k].spki_sha256);
				r->devices = b->devices;
				r->stale = b->stale;
				judge_key(rep, f, b, r);
				if (sev(r->status) < sev(worst))
					worst = r->status;
			}
		}
		if (f->nunknown > 0) {
			struct sgt_fleet_row *r = row_new(rep, &cap);
			struct sgt_buf list = { 0 };
			long total = 0;

			if (r == NULL)
				goto oom;
			r->fleet = f;
			for (k = 0; k < f->nunknown; k++) {
				r->devices += f->unknown[k].devices;
				r->stale += f->unknown[k].stale;
				total += f->unknown[k].devices + f->unknown[k].stale;
				if (k < 5)
					sgt_buf_printf(&list, "%s'%s' (%ld)", k ? ", " : "", f->unknown[k].version,
						       f->unknown[k].devices + f->unknown[k].stale);
			}
			r->action = SGT_FLEET_UNKNOWN;
			r->status = SGT_FLEET_ST_UNKNOWN;
			snprintf(r->keyname, sizeof(r->keyname), "-");
			snprintf(r->sentence, sizeof(r->sentence),
				 "%ld device%s run%s builds signet has no record of: %s%s; which key they trust cannot "
				 "be judged until the build is recorded", total, total == 1 ? "" : "s", total == 1 ? "s" : "",
				 list.p ? list.p : "",
				 f->nunknown > 5 ? ", ..." : "");
			snprintf(r->command, sizeof(r->command), "signet fleet build add %s VERSION ARTEFACT", f->name);
			sgt_buf_free(&list);
			if (sev(r->status) < sev(worst))
				worst = r->status;
		}
		/*
		 * The worst row's status: stranded, overdue, due, then unknown.  A
		 * fleet with devices on builds nobody recorded is never ok: nobody
		 * can vouch for what those devices trust.
		 */
		rep->fleet_status[i] = worst;
	}
	if (rep->n > 1)
		qsort(rep->rows, rep->n, sizeof(rep->rows[0]), row_cmp);
	return SGT_OK;
oom:
	sgt_fleet_report_release(rep);
	return sgt_err(SGT_ERR_DATA, "out of memory");
}

void sgt_fleet_report_release(struct sgt_fleet_report *rep)
{
	if (rep == NULL)
		return;
	free(rep->rows);
	free(rep->fleet_status);
	free(rep->selected);
	memset(rep, 0, sizeof(*rep));
}
