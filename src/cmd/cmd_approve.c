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

#include <openssl/x509.h>

#include "approve.h"
#include "cert.h"
#include "cmd.h"
#include "policy.h"
#include "rotate.h"
#include "sign.h"
#include "store.h"

static const char help_text[] =
	"usage: signet approve request IMAGE... --key LABEL [--fleet F] [--note TEXT] [--out REQ]\n"
	"       signet approve request --op rotate.start --key OLD --new NEW [--note TEXT] [--out REQ]\n"
	"       signet approve request --op rotate.finish --key OLD [--note TEXT] [--out REQ]\n"
	"       signet approve request --op cert.reissue --key LABEL [--days N] [--policy NAME] [...]\n"
	"       signet approve request --op key.adopt --key LABEL (--id HEX | --uri URI) [--policy NAME] [...]\n"
	"       signet approve sign REQ --ssh-key KEY\n"
	"       signet approve show REQ [SIG...]\n"
	"\n"
	"The two-person rule (docs/approvals.md).  request writes what approvers sign\n"
	"(to REQ, else stdout): the store, the operation (--op; sign unless given),\n"
	"the key's SPKI SHA-256, what exactly is asked (to sign: each image's SHA-256\n"
	"and size and the fleet gate; rotate.start: the new key; rotate.finish: the\n"
	"rotation; cert.reissue: the subject, --days and --policy as cert reissue will\n"
	"be given them; key.adopt: --id or --uri and the policy), who asked and when\n"
	"it expires (the key policy's approvals.max_age).  Approvers sign it with\n"
	"  ssh-keygen -Y sign -f KEY -n signet-release REQ\n"
	"or with `signet approve sign REQ --ssh-key KEY`, which runs that ssh-keygen\n"
	"command (in the key policy's namespace) and checks the REQ.sig it writes.\n"
	"The operation then takes --approval SIG... or --approvals DIR; a request\n"
	"for one operation or key is refused for any other.\n"
	"show says what a request asks for and, against the policy's allowed_signers,\n"
	"who has approved with the given signatures and how many more are needed\n"
	"(--json: one object, keys in docs/approvals.md).\n";

static const char *const ops[] = { "sign", "rotate.start", "rotate.finish", "cert.reissue", "key.adopt" };

struct reqopts {
	const char *op, *key, *fleet, *note, *out, *new_, *policy, *id, *uri;
	long days;
};

/* The policy named, which must ask for approvals. */
static int load_policy(const struct sgt_store *st, const char *label, const char *pname, struct sgt_policy **pol)
{
	int rc;

	*pol = NULL;
	if (pname == NULL || (rc = sgt_policy_find(st->dir, pname, pol)) != SGT_OK || (*pol)->approvals_required == 0) {
		if (pname != NULL && *pol == NULL && rc != SGT_OK)
			return rc;
		sgt_policy_free(*pol);
		*pol = NULL;
		return sgt_err(SGT_ERR_DATA, "key '%s': its policy%s%s asks for no approvals", label,
			       pname != NULL ? " " : "", pname != NULL ? pname : "");
	}
	return SGT_OK;
}

/* The policy whose approvals rule the request doc: key.adopt's own, else the key's (or the store's). */
static int request_policy(const struct sgt_store *st, const json_t *doc, struct sgt_keyrec *rec,
			  struct sgt_policy **pol)
{
	const char *label = json_string_value(json_object_get(json_object_get(doc, "key"), "label"));
	const char *op = json_string_value(json_object_get(doc, "operation"));
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (op != NULL && strcmp(op, "key.adopt") == 0) {
		snprintf(rec->label, sizeof(rec->label), "%s", label);
		return load_policy(st, label, json_string_value(json_object_get(json_object_get(doc, "params"), "policy")),
				   pol);
	}
	if ((rc = sgt_keyrec_load(st, label, rec)) != SGT_OK)
		return rc;
	return load_policy(st, label, sgt_approve_policy_name(st, rec), pol);
}

/* What the request asks besides the key, as the gate of o->op will rebuild it. */
static int request_params(const struct sgt_store *st, const struct sgt_keyrec *rec, const struct reqopts *o,
			  json_t **params)
{
	struct sgt_keyrec nrec;
	struct sgt_rotation r;
	X509 *cur = NULL;
	char subject[512];
	int rc;

	*params = NULL;
	if (strcmp(o->op, "rotate.start") == 0) {
		if ((rc = sgt_keyrec_load(st, o->new_, &nrec)) != SGT_OK)
			return rc;
		*params = sgt_approve_params_rotate(nrec.label, nrec.spki_sha256, NULL);
	} else if (strcmp(o->op, "rotate.finish") == 0) {
		if ((rc = sgt_rotation_load(st, rec->label, &r)) != SGT_OK)
			return rc;
		*params = sgt_approve_params_rotate(r.new_, r.new_spki, r.started);
	} else if (strcmp(o->op, "cert.reissue") == 0) {
		if ((rc = sgt_cert_store_current(st, rec->label, &cur)) != SGT_OK)
			return rc;
		if (cur == NULL)
			return sgt_err(SGT_ERR_DATA, "key '%s' has no certificate to reissue", rec->label);
		sgt_cert_name(X509_get_subject_name(cur), subject, sizeof(subject));
		X509_free(cur);
		*params = sgt_approve_params_reissue(subject, o->days, o->policy);
	} else if (strcmp(o->op, "key.adopt") == 0) {
		*params = sgt_approve_params_adopt(o->id, o->uri, o->policy != NULL ? o->policy : st->cfg.policy);
	}
	return *params != NULL ? SGT_OK : sgt_err(SGT_ERR_DATA, "out of memory");
}

static int request(struct sgt_ctx *ctx, int nimg, char **imgs, const struct reqopts *o)
{
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_policy *pol = NULL;
	json_t *doc = NULL, *images = NULL, *params = NULL, *key = NULL;
	char host[256], created[32], expires[32], *txt = NULL, requester[320];
	struct passwd *pw = getpwuid(getuid());
	time_t now = sgt_now();
	int sign = strcmp(o->op, "sign") == 0, adopt = strcmp(o->op, "key.adopt") == 0, i, rc;

	/* The images are read before the store is locked: a FIFO that never ends blocks no writer. */
	if (sign) {
		if ((images = json_array()) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
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
	}
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK) {
		json_decref(images);
		return rc;
	}
	memset(&rec, 0, sizeof(rec));
	if (adopt) {
		/* Not in custody yet: the request names the label it will get and the policy it is adopted under. */
		if ((rc = sgt_label_check(o->key)) != SGT_OK)
			goto out;
		snprintf(rec.label, sizeof(rec.label), "%s", o->key);
		rc = load_policy(&st, o->key, o->policy != NULL ? o->policy : st.cfg.policy, &pol);
	} else if ((rc = sgt_keyrec_load(&st, o->key, &rec)) == SGT_OK) {
		rc = load_policy(&st, rec.label, sgt_approve_policy_name(&st, &rec), &pol);
	}
	if (rc != SGT_OK)
		goto out;
	if (!sign && (rc = request_params(&st, &rec, o, &params)) != SGT_OK)
		goto out;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(requester, sizeof(requester), "%s@%s", pw != NULL ? pw->pw_name : "unknown", host);
	sgt_time_iso(now, created);
	sgt_time_iso(now + pol->approvals_max_age, expires);
	key = adopt ? json_pack("{s:s}", "label", rec.label)
		    : json_pack("{s:s, s:s}", "label", rec.label, "spki_sha256", rec.spki_sha256);
	doc = json_pack("{s:s, s:s, s:s, s:o, s:o*, s:o*, s:s?, s:s?, s:s, s:s, s:s, s:i}", "type",
			"signet-approval-request", "operation", o->op, "store", st.dir, "key", key, "images", images,
			"params", params, "fleet", o->fleet, "note", o->note, "requester", requester, "created", created,
			"expires", expires, "version", 1);
	images = params = key = NULL;
	if (doc == NULL || (txt = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT)) == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	if (o->out != NULL) {
		FILE *f = fopen(o->out, "wx");

		if (f == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "%s: cannot create (it must not exist yet)", o->out);
			goto out;
		}
		if (fprintf(f, "%s\n", txt) < 0 || fclose(f) != 0) {
			remove(o->out);
			rc = sgt_err(SGT_ERR_DATA, "%s: write failed", o->out);
			goto out;
		}
		if (!sgt_quiet) {
			if (sign)
				printf("wrote %s: %d image%s for key %s", o->out, nimg, nimg == 1 ? "" : "s", rec.label);
			else
				printf("wrote %s: %s of key %s", o->out, o->op, rec.label);
			printf(", expires %s; approvers sign it with\n  ssh-keygen -Y sign -f KEY -n %s %s\n", expires,
			       pol->approvals_namespace, o->out);
		}
	} else {
		printf("%s\n", txt);
	}
	rc = SGT_OK;
out:
	free(txt);
	json_decref(doc);
	json_decref(images);
	json_decref(params);
	json_decref(key);
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
	json_t *doc = NULL, *img, *j = NULL, *japp = json_array(), *jnot = json_array();
	const char *label, *expires, *op, *spki;
	char path[4096], approved[1024] = "", rhash[65];
	size_t napproved = 0;
	const char *seen[64];
	time_t exp = 0;
	int k, rc;

	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK) {
		json_decref(japp);
		json_decref(jnot);
		return rc;
	}
	if ((rc = sgt_file_read(req, 1 << 20, &buf, &len)) != SGT_OK)
		goto out;
	sgt_sha256_hex(buf, len, rhash);
	doc = json_loadb((const char *)buf, len, 0, NULL);
	label = json_string_value(json_object_get(json_object_get(doc, "key"), "label"));
	spki = json_string_value(json_object_get(json_object_get(doc, "key"), "spki_sha256"));
	expires = json_string_value(json_object_get(doc, "expires"));
	op = json_string_value(json_object_get(doc, "operation"));
	if (doc == NULL || label == NULL || expires == NULL || op == NULL || sgt_time_parse(expires, &exp) != 0 ||
	    (strcmp(op, "sign") == 0 ? !json_is_array(json_object_get(doc, "images"))
				     : !json_is_object(json_object_get(doc, "params")))) {
		rc = sgt_err(SGT_ERR_DATA, "%s: not a signet approval request", req);
		goto out;
	}
	if ((rc = request_policy(&st, doc, &rec, &pol)) != SGT_OK ||
	    (rc = sgt_approve_signers_load(st.dir, pol->approvals_allowed_signers, &signers, path, sizeof(path))) !=
		    SGT_OK)
		goto out;
	if (!ctx->json) {
		printf("request %s: %s with key %s", req, op, label);
		if (spki != NULL)
			printf(" (SPKI SHA-256 %s)", spki);
		printf(", expires %s%s\n", expires, sgt_now() > exp ? " (expired)" : "");
		json_array_foreach(json_object_get(doc, "images"), i, img)
			printf("  image %s  %s  %lld bytes\n", json_string_value(json_object_get(img, "name")),
			       json_string_value(json_object_get(img, "sha256")),
			       (long long)json_integer_value(json_object_get(img, "size")));
		if (json_string_value(json_object_get(doc, "fleet")) != NULL)
			printf("  fleet %s\n", json_string_value(json_object_get(doc, "fleet")));
		if (json_is_object(json_object_get(doc, "params"))) {
			const char *pk;
			json_t *pv;

			json_object_foreach(json_object_get(doc, "params"), pk, pv) {
				char *t = json_dumps(pv, JSON_ENCODE_ANY | JSON_COMPACT);

				printf("  %s %s\n", pk, t != NULL ? t : "?");
				free(t);
			}
		}
	}
	for (k = 0; k < nsig; k++) {
		struct sgt_approval a;

		rc = sgt_approve_judge(sigs[k], buf, len, &signers, path, pol->approvals_namespace, seen, napproved, &a);
		if (rc == SGT_ERR_VERDICT) {
			json_array_append_new(jnot, json_pack("{s:s, s:s}", "signature", sigs[k], "why", a.why));
			if (!ctx->json)
				printf("  %s: not counted: %s\n", sigs[k], a.why);
		} else if (rc != SGT_OK) {
			goto out;
		} else if (napproved < 64) {
			seen[napproved++] = a.principal;
			json_array_append_new(japp, json_pack("{s:s, s:s, s:s}", "signature", sigs[k], "principal",
							      a.principal, "fingerprint", a.fp));
			if (!ctx->json)
				printf("  approved by %s (%s)\n", a.principal, a.fp);
			snprintf(approved + strlen(approved), sizeof(approved) - strlen(approved), "%s%s",
				 napproved > 1 ? ", " : "", a.principal);
		}
	}
	rc = SGT_OK;
	if (ctx->json) {
		long more = pol->approvals_required - (long)napproved;

		j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s?}, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:s, s:b, s:s, s:I, "
			      "s:I, s:I, s:b, s:O, s:O}",
			      "request", req, "request_sha256", rhash, "operation", op, "key", "label", label,
			      "spki_sha256", spki, "images", json_object_get(doc, "images"), "params",
			      json_object_get(doc, "params"), "fleet", json_object_get(doc, "fleet"), "note",
			      json_object_get(doc, "note"), "requester", json_object_get(doc, "requester"), "created",
			      json_object_get(doc, "created"), "expires", expires, "expired", sgt_now() > exp, "policy",
			      pol->name, "required", (json_int_t)pol->approvals_required, "approved", (json_int_t)napproved,
			      "needed", (json_int_t)(more > 0 ? more : 0), "complete", more <= 0, "approvers", japp,
			      "not_counted", jnot);
		rc = cmd_json_print(j);
	} else if ((long)napproved >= pol->approvals_required) {
		printf("approved: %zu of %ld required (%s)\n", napproved, pol->approvals_required, approved);
	} else {
		printf("%ld more approval%s needed (%zu of %ld%s%s%s)\n", pol->approvals_required - (long)napproved,
		       pol->approvals_required - (long)napproved == 1 ? "" : "s", napproved, pol->approvals_required,
		       napproved ? ": " : "", approved, "");
	}
out:
	json_decref(japp);
	json_decref(jnot);
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
	if ((rc = request_policy(&st, doc, &rec, &pol)) != SGT_OK)
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

/* Each option of request belongs to one operation: given to another, it is a usage error, not ignored. */
static int request_check(const struct reqopts *o, int nimg)
{
	size_t i;
	int sign = strcmp(o->op, "sign") == 0;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]) && strcmp(ops[i], o->op) != 0; i++)
		;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return cmd_usage("approve", "unknown --op '%s' (sign, rotate.start, rotate.finish, cert.reissue, key.adopt)",
				 o->op);
	if (o->key == NULL)
		return cmd_usage("approve", "request needs --key LABEL");
	if (sign && nimg == 0)
		return cmd_usage("approve", "request needs at least one IMAGE");
	if (!sign && nimg > 0)
		return cmd_usage("approve", "request --op %s takes no IMAGE", o->op);
	if (!sign && o->fleet != NULL)
		return cmd_usage("approve", "--fleet belongs to a request to sign, not --op %s", o->op);
	if ((o->new_ != NULL) != (strcmp(o->op, "rotate.start") == 0))
		return cmd_usage("approve", o->new_ ? "--new belongs to --op rotate.start" :
				 "request --op rotate.start needs --new NEW (the key the rotation moves to)");
	if (o->days != 0 && strcmp(o->op, "cert.reissue") != 0)
		return cmd_usage("approve", "--days belongs to --op cert.reissue");
	if (o->policy != NULL && strcmp(o->op, "cert.reissue") != 0 && strcmp(o->op, "key.adopt") != 0)
		return cmd_usage("approve", "--policy belongs to --op cert.reissue or key.adopt");
	if (strcmp(o->op, "key.adopt") == 0 ? (o->id == NULL) == (o->uri == NULL) : o->id != NULL || o->uri != NULL)
		return cmd_usage("approve", strcmp(o->op, "key.adopt") == 0 ?
				 "request --op key.adopt names the key on the token with --id HEX or --uri URI (one of them)" :
				 "--id and --uri belong to --op key.adopt");
	return SGT_OK;
}

int cmd_approve(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' },
					      { "key", required_argument, NULL, 'k' },
					      { "fleet", required_argument, NULL, 'f' },
					      { "note", required_argument, NULL, 'n' },
					      { "out", required_argument, NULL, 'o' },
					      { "ssh-key", required_argument, NULL, 's' },
					      { "op", required_argument, NULL, 'O' },
					      { "new", required_argument, NULL, 'N' },
					      { "policy", required_argument, NULL, 'p' },
					      { "days", required_argument, NULL, 'd' },
					      { "id", required_argument, NULL, 'i' },
					      { "uri", required_argument, NULL, 'u' },
					      { NULL, 0, NULL, 0 } };
	struct reqopts o = { .op = "sign" };
	const char *sub, *sshkey = NULL;
	int started = 0, other = 0, c, rc;
	char *end;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return cmd_help(help_text);
	if (argc < 2)
		return cmd_usage("approve", "missing subcommand (request, sign, show)");
	sub = argv[1];
	argc--;
	argv++;
	while ((c = cmd_getopt("approve", argc, argv, "h", opts, &started)) != -1) {
		other += c != 's' && c != 'h';
		switch (c) {
		case 'h': return cmd_help(help_text);
		case 'k': o.key = optarg; break;
		case 'f': o.fleet = optarg; break;
		case 'n': o.note = optarg; break;
		case 'o': o.out = optarg; break;
		case 's': sshkey = optarg; break;
		case 'O': o.op = optarg; break;
		case 'N': o.new_ = optarg; break;
		case 'p': o.policy = optarg; break;
		case 'i': o.id = optarg; break;
		case 'u': o.uri = optarg; break;
		case 'd':
			o.days = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || o.days < 1 || o.days > 36500)
				return cmd_usage("approve", "--days needs a number of days from 1 to 36500, not '%s'", optarg);
			break;
		default: return SGT_ERR_USAGE;
		}
	}
	if (strcmp(sub, "request") == 0) {
		if (strcmp(o.op, "sign") != 0 && optind < argc)
			return cmd_usage("approve", "request --op %s takes no IMAGE ('%s')", o.op, argv[optind]);
		if ((rc = request_check(&o, argc - optind)) != SGT_OK)
			return rc;
		return request(ctx, argc - optind, argv + optind, &o);
	}
	if (strcmp(sub, "sign") == 0) {
		if (argc - optind != 1 || sshkey == NULL)
			return cmd_usage("approve", "sign needs REQ and --ssh-key KEY");
		if (other > 0)
			return cmd_usage("approve", "sign takes only --ssh-key");
		return sign_req(ctx, argv[optind], sshkey);
	}
	if (strcmp(sub, "show") == 0) {
		if (optind >= argc)
			return cmd_usage("approve", "show needs REQ");
		if (other > 0 || sshkey != NULL)
			return cmd_usage("approve", "show takes no options");
		return show(ctx, argv[optind], argc - optind - 1, argv + optind + 1);
	}
	return cmd_usage("approve", "unknown subcommand '%s' (request, sign, show)", sub);
}
