/*
 * certstore.c: keeping certificates in the store, certs/<label>/: the
 * current one, the list, saving a new one (staged in the command's
 * intent), and whether signet holds the issuer of a certificate.
 * Floor: ops.  It may call custody (intent), base and formats; never cmd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "cert.h"
#include "certstore.h"
#include "intent.h"
#include "keyrec.h"

static char *label_path(const struct sgt_store *st, const char *label, const char *file)
{
	struct sgt_buf b = { 0 };

	if (sgt_buf_printf(&b, "%s/certs/%s%s%s", st->dir, label, file ? "/" : "", file ? file : "") != SGT_OK)
		return NULL;
	return b.p;
}

void sgt_cert_saved_release(struct sgt_cert_saved *saved)
{
	free(saved->path);
	free(saved->current);
	free(saved->prev);
	memset(saved, 0, sizeof(*saved));
}

int sgt_cert_store_save(const struct sgt_store *st, const char *label, X509 *x, struct sgt_cert_saved *saved)
{
	char serial[128], file[160];
	struct sgt_buf pem = { 0 };
	struct stat sb;
	int rc;

	memset(saved, 0, sizeof(*saved));
	sgt_cert_serial_hex(x, serial, sizeof(serial));
	/* A negative serial (invalid, but found in the wild) must not make a name starting with '-'. */
	snprintf(file, sizeof(file), "%s%s.pem", serial[0] == '-' ? "NEG" : "", serial + (serial[0] == '-'));
	if ((rc = sgt_label_check(label)) != SGT_OK || (rc = sgt_cert_pem(x, &pem)) != SGT_OK)
		goto out;
	saved->path = label_path(st, label, file);
	saved->current = label_path(st, label, "current.pem");
	if (saved->path == NULL || saved->current == NULL) {
		rc = SGT_ERR_DATA;
		goto out;
	}
	if (stat(saved->current, &sb) == 0 &&
	    (rc = sgt_file_read(saved->current, SGT_CERT_MAX_FILE, &saved->prev, &saved->prevlen)) != SGT_OK)
		goto out;
	if ((rc = sgt_put(saved->path, pem.p, pem.len, 1)) != SGT_OK)
		goto out;
	if ((rc = sgt_put(saved->current, pem.p, pem.len, 0)) != SGT_OK) {
		sgt_store_unlink(saved->path);
		goto out;
	}
out:
	sgt_buf_free(&pem);
	if (rc != SGT_OK)
		sgt_cert_saved_release(saved);
	return rc;
}

int sgt_cert_store_current(const struct sgt_store *st, const char *label, X509 **out)
{
	char *path = label_path(st, label, "current.pem");
	struct stat sb;
	int rc = SGT_OK;

	*out = NULL;
	if (path == NULL)
		return SGT_ERR_DATA;
	if (stat(path, &sb) == 0)
		rc = sgt_cert_load(path, out);
	free(path);
	return rc;
}

void sgt_cert_paths_free(char **paths, size_t n)
{
	size_t i;

	for (i = 0; paths != NULL && i < n; i++)
		free(paths[i]);
	free(paths);
}

int sgt_cert_store_list(const struct sgt_store *st, const char *label, char ***paths, size_t *n)
{
	char *dir = label_path(st, label, NULL);
	char **serials = NULL, **list = NULL;
	size_t count = 0, kept = 0, i;
	int rc;

	*paths = NULL;
	*n = 0;
	if (dir == NULL)
		return SGT_ERR_DATA;
	if ((rc = sgt_dir_names(dir, ".pem", &serials, &count)) == SGT_OK && count > 0 &&
	    (list = calloc(count, sizeof(*list))) == NULL)
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
	for (i = 0; rc == SGT_OK && i < count; i++) {
		struct sgt_buf b = { 0 };

		if (strcmp(serials[i], "current") == 0)
			continue;	/* a copy of the newest, not a certificate of its own */
		if (sgt_buf_printf(&b, "%s/%s.pem", dir, serials[i]) != SGT_OK)
			rc = SGT_ERR_DATA;
		else
			list[kept++] = b.p;
	}
	sgt_names_free(serials, count);
	free(dir);
	if (rc != SGT_OK) {
		sgt_cert_paths_free(list, kept);
		return rc;
	}
	*paths = list;
	*n = kept;
	return SGT_OK;
}

int sgt_cert_issuer_held(const struct sgt_store *st, X509 *x)
{
	struct sgt_keyrec *recs = NULL;
	size_t n = 0, i;
	int held = 0;

	if (sgt_cert_self_signed(x))
		return 1;
	if (sgt_keyrec_list(st, &recs, &n) != SGT_OK)
		return 0;
	for (i = 0; i < n && !held; i++) {
		X509 *c = NULL;

		if (sgt_cert_store_current(st, recs[i].label, &c) == SGT_OK && c != NULL && sgt_cert_is_ca(c) &&
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(x)) == 0 &&
		    X509_verify(x, X509_get0_pubkey(c)) == 1)
			held = 1;
		X509_free(c);
	}
	ERR_clear_error();
	free(recs);
	return held;
}
