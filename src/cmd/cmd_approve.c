/*
 * cmd_approve.c: `signet approve request|sign|show` (the two-person rule, SPEC
 * "approve").  A request is a canonical JSON document (sorted keys, no
 * whitespace) naming the store, the key's SPKI, every image's SHA-256 and
 * size, the fleet gate, the requester and its lifetime; approvers sign its
 * bytes with `ssh-keygen -Y sign -n signet-release`.
 */
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "approve.h"
#include "cmd.h"
#include "policy.h"
#include "sign.h"
#include "store.h"

static const char help_text[] =
	"usage: signet approve request IMAGE... --key LABEL [--fleet F] [--note TEXT] [--out REQ]\n"
	"       signet approve sign REQ --ssh-key KEY\n"
	"       signet approve show REQ [SIG...]\n"
	"\n"
	"The two-person rule (docs/approvals.md).  request writes what approvers sign\n"
	"(to REQ, else stdout): the store, the key's SPKI SHA-256, each image's SHA-256\n"
	"and size, the fleet gate, who asked and when it expires (the key policy's\n"
	"approvals.max_age).  Approvers sign it with\n"
	"  ssh-keygen -Y sign -f KEY -n signet-release REQ\n"
	"or with `signet approve sign REQ --ssh-key KEY`, which runs that ssh-keygen\n"
	"command (in the key policy's namespace) and checks the REQ.sig it writes.\n"
	"show says what a request asks for and, against the policy's allowed_signers,\n"
	"who has approved with the given signatures and how many more are needed.\n";

static int load_policy(const struct sgt_store *st, const struct sgt_keyrec *rec, struct sgt_policy **pol)
{
	int rc;

	*pol = NULL;
	if (rec->policy[0] == '\0' || (rc = sgt_policy_find(st->dir, rec->policy, pol)) != SGT_OK ||
	    (*pol)->approvals_required == 0) {
		sgt_policy_free(*pol);
		*pol = NULL;
		return sgt_err(SGT_ERR_DATA, "key '%s': its policy%s%s asks for no approvals", rec->label,
			       rec->policy[0] ? " " : "", rec->policy);
	}
	return SGT_OK;
}

static int request(struct sgt_ctx *ctx, int nimg, char **imgs, const char *label, const char *fleet,
		   const char *note, const char *out)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	json_t *doc = NULL, *images = json_array();
	char host[256], created[32], expires[32], *txt = NULL, requester[320];
	struct passwd *pw = getpwuid(getuid());
	time_t now = sgt_now();
	int i, rc;

	/* The images are read before the store is locked: a FIFO that never ends blocks no writer. */
	for (i = 0; i < nimg; i++) {
		unsigned char *buf = NULL;
		size_t len = 0;
		char hex[65];

		if ((rc = sgt_file_read(imgs[i], (size_t)SGT_IMAGE_MAX, &buf, &len)) != SGT_OK) {
			json_decref(images);
			return rc;
		}
		sgt_sha256_hex(buf, len, hex);
		free(buf);
		json_array_append_new(images, json_pack("{s:s, s:s, s:I}", "name", imgs[i], "sha256", hex, "size",
							(json_int_t)len));
	}
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK) {
		json_decref(images);
		return rc;
	}
	if ((rc = sgt_keyrec_load(&st, label, &rec)) != SGT_OK || (rc = load_policy(&st, &rec, &pol)) != SGT_OK)
		goto out;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(requester, sizeof(requester), "%s@%s", pw != NULL ? pw->pw_name : "unknown", host);
	sgt_time_iso(now, created);
	sgt_time_iso(now + pol->approvals_max_age, expires);
	doc = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:s?, s:s?, s:s, s:s, s:s, s:i}", "type",
			"signet-approval-request", "operation", "sign", "store", st.dir, "key", "label", rec.label,
			"spki_sha256", rec.spki_sha256, "images", images, "fleet", fleet, "note", note, "requester",
			requester, "created", created, "expires", expires, "version", 1);
	images = NULL;
	if (doc == NULL || (txt = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (out != NULL) {
		FILE *f = fopen(out, "wx");

		if (f == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "%s: cannot create (it must not exist yet)", out);
			goto out;
		}
		if (fprintf(f, "%s\n", txt) < 0 || fclose(f) != 0) {
			remove(out);
			rc = sgt_err(SGT_ERR_DATA, "%s: write failed", out);
			goto out;
		}
		if (!sgt_quiet)
			printf("wrote %s: %d image%s for key %s, expires %s; approvers sign it with\n"
			       "  ssh-keygen -Y sign -f KEY -n %s %s\n", out, nimg, nimg == 1 ? "" : "s", rec.label,
			       expires, pol->approvals_namespace, out);
	} else {
		printf("%s\n", txt);
	}
	rc = SGT_OK;
out:
	free(txt);
	json_decref(doc);
	json_decref(images);
	sgt_policy_free(pol);
	sgt_store_release(&st);
	return rc;
}

static int show(struct sgt_ctx *ctx, const char *req, int nsig, char **sigs)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	struct sgt_signers signers = { 0 };
	unsigned char *buf = NULL;
	size_t len = 0, i;
	json_t *doc = NULL, *img;
	json_error_t jerr;
	const char *label, *expires;
	char path[4096], approved[1024] = "";
	size_t napproved = 0;
	const char *seen[64];
	int k, rc;

	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if ((rc = sgt_file_read(req, 1 << 20, &buf, &len)) != SGT_OK)
		goto out;
	doc = json_loadb((const char *)buf, len, 0, &jerr);
	label = json_string_value(json_object_get(json_object_get(doc, "key"), "label"));
	expires = json_string_value(json_object_get(doc, "expires"));
	if (doc == NULL || label == NULL || expires == NULL ||
	    !json_is_array(json_object_get(doc, "images"))) {
		rc = sgt_err(SGT_ERR_DATA, "%s: not a signet approval request", req);
		goto out;
	}
	if ((rc = sgt_keyrec_load(&st, label, &rec)) != SGT_OK || (rc = load_policy(&st, &rec, &pol)) != SGT_OK ||
	    (rc = sgt_approve_signers_load(st.dir, pol->approvals_allowed_signers, &signers, path, sizeof(path))) !=
		    SGT_OK)
		goto out;
	printf("request %s: sign with key %s (SPKI SHA-256 %s), expires %s\n", req, label,
	       json_string_value(json_object_get(json_object_get(doc, "key"), "spki_sha256")), expires);
	json_array_foreach(json_object_get(doc, "images"), i, img)
		printf("  image %s  %s  %lld bytes\n", json_string_value(json_object_get(img, "name")),
		       json_string_value(json_object_get(img, "sha256")),
		       (long long)json_integer_value(json_object_get(img, "size")));
	for (k = 0; k < nsig; k++) {
		struct sgt_approval a;

		rc = sgt_approve_judge(sigs[k], buf, len, &signers, path, pol->approvals_namespace, seen, napproved, &a);
		if (rc == SGT_ERR_VERDICT)
			printf("  %s: not counted: %s\n", sigs[k], a.why);
		else if (rc != SGT_OK)
			goto out;
		else if (napproved < 64) {
			seen[napproved++] = a.principal;
			printf("  approved by %s (%s)\n", a.principal, a.fp);
			snprintf(approved + strlen(approved), sizeof(approved) - strlen(approved), "%s%s",
				 napproved > 1 ? ", " : "", a.principal);
		}
	}
	if ((long)napproved >= pol->approvals_required)
		printf("approved: %zu of %ld required (%s)\n", napproved, pol->approvals_required, approved);
	else
		printf("%ld more approval%s needed (%zu of %ld%s%s%s)\n", pol->approvals_required - (long)napproved,
		       pol->approvals_required - (long)napproved == 1 ? "" : "s", napproved, pol->approvals_required,
		       napproved ? ": " : "", approved, "");
	rc = SGT_OK;
out:
	sgt_signers_release(&signers);
	json_decref(doc);
	free(buf);
	sgt_policy_free(pol);
	sgt_store_release(&st);
	return rc;
}

/* Runs ssh-keygen -Y sign for the approver (prompts and touches are theirs), then checks REQ.sig. */
static int sign_req(struct sgt_ctx *ctx, const char *req, const char *sshkey)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	unsigned char *buf = NULL, *sb = NULL;
	size_t len = 0, sl = 0;
	json_t *doc = NULL;
	const char *label;
	char sigpath[4096], why[128], fp[64];
	struct sgt_sshsig s;
	pid_t pid;
	int status = 0, rc;

	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
		return rc;
	if ((rc = sgt_file_read(req, 1 << 20, &buf, &len)) != SGT_OK)
		goto out;
	doc = json_loadb((const char *)buf, len, 0, NULL);
	label = json_string_value(json_object_get(json_object_get(doc, "key"), "label"));
	if (label == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "%s: not a signet approval request", req);
		goto out;
	}
	if ((rc = sgt_keyrec_load(&st, label, &rec)) != SGT_OK || (rc = load_policy(&st, &rec, &pol)) != SGT_OK)
		goto out;
	snprintf(sigpath, sizeof(sigpath), "%s.sig", req);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execlp("ssh-keygen", "ssh-keygen", "-Y", "sign", "-f", sshkey, "-n", pol->approvals_namespace, req,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = sgt_err(SGT_ERR_DATA, "%s: ssh-keygen -Y sign -f %s failed (exit %d)", req, sshkey,
			     pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto out;
	}
	if ((rc = sgt_file_read(sigpath, 1 << 16, &sb, &sl)) != SGT_OK)
		goto out;
	if (sgt_sshsig_parse((const char *)sb, sl, &s, why, sizeof(why)) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "%s: %s", sigpath, why);
		goto out;
	}
	rc = sgt_sshsig_verify(&s, pol->approvals_namespace, buf, len, why, sizeof(why));
	sgt_sshsig_fingerprint(s.pub, s.publen, fp);
	sgt_sshsig_release(&s);
	if (rc != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "%s: %s", sigpath, why);
		goto out;
	}
	if (!sgt_quiet)
		printf("wrote %s: approval of %s by key %s\n", sigpath, req, fp);
out:
	free(sb);
	free(buf);
	json_decref(doc);
	sgt_policy_free(pol);
	sgt_store_release(&st);
	return rc;
}

int cmd_approve(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' },
					      { "key", required_argument, NULL, 'k' },
					      { "fleet", required_argument, NULL, 'f' },
					      { "note", required_argument, NULL, 'n' },
					      { "out", required_argument, NULL, 'o' },
					      { "ssh-key", required_argument, NULL, 's' },
					      { NULL, 0, NULL, 0 } };
	const char *sub, *key = NULL, *fleet = NULL, *note = NULL, *out = NULL, *sshkey = NULL;
	int started = 0, c;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return cmd_help(help_text);
	if (argc < 2)
		return cmd_usage("approve", "missing subcommand (request, sign, show)");
	sub = argv[1];
	argc--;
	argv++;
	while ((c = cmd_getopt("approve", argc, argv, "h", opts, &started)) != -1) {
		switch (c) {
		case 'h': return cmd_help(help_text);
		case 'k': key = optarg; break;
		case 'f': fleet = optarg; break;
		case 'n': note = optarg; break;
		case 'o': out = optarg; break;
		case 's': sshkey = optarg; break;
		default: return SGT_ERR_USAGE;
		}
	}
	if (strcmp(sub, "request") == 0) {
		if (optind >= argc)
			return cmd_usage("approve", "request needs at least one IMAGE");
		if (key == NULL)
			return cmd_usage("approve", "request needs --key LABEL");
		return request(ctx, argc - optind, argv + optind, key, fleet, note, out);
	}
	if (strcmp(sub, "sign") == 0) {
		if (argc - optind != 1 || sshkey == NULL)
			return cmd_usage("approve", "sign needs REQ and --ssh-key KEY");
		return sign_req(ctx, argv[optind], sshkey);
	}
	if (strcmp(sub, "show") == 0) {
		if (optind >= argc)
			return cmd_usage("approve", "show needs REQ");
		if (key != NULL || fleet != NULL || note != NULL || out != NULL || sshkey != NULL)
			return cmd_usage("approve", "show takes no options");
		return show(ctx, argv[optind], argc - optind - 1, argv + optind + 1);
	}
	return cmd_usage("approve", "unknown subcommand '%s' (request, sign, show)", sub);
}
