/*
 * cmd_mcuboot.c: the MCUboot side of `signet sign` and `signet verify`
 * (`--format mcuboot`), and the MCUboot lines of `extract` and `key
 * match`.  sign: the image is laid out (mcuboot.h), its hash is signed
 * on the token (ECDSA through sign.h, RSA-PSS with CKM_RSA_PKCS_PSS), the
 * finished image is judged as bootutil judges it before anything is
 * written, and it is staged and committed with its one audit record as
 * every other signature is (intent.h: no signed image without its
 * record).  verify: the key comes from custody (--key), a keys.c
 * (--header, read as the compiler reads it) or a certificate or key file
 * (--cert), and the image is judged by mcuboot.h with mbedTLS.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "cmd.h"
#include "container.h"
#include "extract.h"
#include "intent.h"
#include "key.h"
#include "mcuboot.h"
#include "p11.h"
#include "rotate.h"
#include "sign.h"
#include "token.h"
#include "tx.h"

#define MCU_MAX_INPUT (256UL << 20)

static const char sign_help[] =
	"usage: signet sign IMAGE --key LABEL --format mcuboot [--version X.Y.Z[+B]]\n"
	"                   [--header-size N] [--pad-header] [--align 1|2|4|8|16|32]\n"
	"                   [--slot-size N] [--pad] [--confirm] [--public-key-format hash|full]\n"
	"                   [--security-counter N|auto] [--load-addr A] [--out FILE]\n"
	"                   [--pin-file F | --pin-fd N]\n\n"
	"Makes IMAGE (raw binary, or Intel HEX when it ends in .hex) an MCUboot image\n"
	"signed on the token with key LABEL (ECDSA P-256/P-384, RSA-2048/3072 PSS,\n"
	"Ed25519 over the image hash):\n"
	"header, protected TLVs, hash, key hash (or key) and signature, as MCUboot's\n"
	"bootutil checks them at boot.  The result is judged as bootutil would before\n"
	"it is written to --out (default IMAGE.signed.bin or .hex), with one audit record.\n\n"
	"  --version V            ih_ver, X.Y.Z+B within 255.255.65535+4294967295 (default 0.0.0)\n"
	"  --header-size N        ih_hdr_size, at least 32 (default 32); IMAGE must begin with\n"
	"                         N zero bytes unless --pad-header prepends them\n"
	"  --align N              the slot's flash write size, for the trailer (default 1)\n"
	"  --slot-size N          refuse an image that does not fit the slot with its trailer\n"
	"  --pad                  pad to --slot-size with the trailer and its boot magic\n"
	"  --confirm              mark the image confirmed (image_ok), implies --pad\n"
	"  --public-key-format F  hash (default: the key's hash TLV) or full (the key itself)\n"
	"  --security-counter N   a protected SEC_CNT TLV; auto: from --version\n"
	"  --load-addr A          ih_load_addr, and the RAM-load flag when not 0\n"
	"Intel HEX output (--out x.hex) needs an Intel HEX IMAGE: its address is the slot's.\n";

static const char verify_help[] =
	"usage: signet verify IMAGE --format mcuboot (--key LABEL | --header keys.c | --cert FILE)\n"
	"                     [-D NAME[=VALUE]]... [-U NAME]...\n\n"
	"Judges the MCUboot image IMAGE (raw, or Intel HEX when it ends in .hex) as\n"
	"MCUboot's bootutil does with the given key baked in: magic, sizes, TLV areas,\n"
	"the hash of header, body and protected TLVs, the key hash (or key), and the\n"
	"signature, checked with mbedTLS (Ed25519 with OpenSSL: mbedTLS 2.28 has none,\n"
	"and MCUboot uses its own Ed25519 code).  The key: a key in custody (--key), the\n"
	"array of a keys.c (--header, as `signet header --format mcuboot` writes it),\n"
	"or a certificate or public key file (--cert).\n\n"
	"A security counter is shown, not judged: the device's own counter is not known here.\n\n"
	"exit status: 0 the bootloader's image check accepts it, 1 it refuses it (the\n"
	"reason is said), 2 usage, 3 unreadable input\n";

/* 1 when argv has --format (only mcuboot is one; the MCUboot parsers say so for another). */
int cmd_mcuboot_wanted(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--format") == 0 || strncmp(argv[i], "--format=", 9) == 0)
			return 1;
	}
	return 0;
}

/* A size or address: decimal, 0x hex, or with a k/K (KiB) suffix. */
static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s[0] == '-' || s[0] == '\0')
		return -1;
	v = strtoull(s, &end, 0);
	if (end && (*end == 'k' || *end == 'K') && end[1] == '\0') {
		v *= 1024;
		end++;
	}
	if (end == NULL || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static char *default_out(const char *image, int hex)
{
	size_t n = strlen(image);
	char *p = malloc(n + 16);
	const char *dot = strrchr(image, '.'), *slash = strrchr(image, '/');

	if (p == NULL)
		return NULL;
	if (dot != NULL && (slash == NULL || dot > slash))
		n = (size_t)(dot - image);
	snprintf(p, n + 16, "%.*s.signed.%s", (int)n, image, hex ? "hex" : "bin");
	return p;
}

static int ends_hex(const char *p)
{
	size_t n = strlen(p);

	return n >= 4 && strcasecmp(p + n - 4, ".hex") == 0;
}

struct mcu_sign {
	const char *image, *label, *out, *version, *pkf, *seccnt;
	struct sgt_mcuboot_opts o;
	int have_load;
};

static int parse_sign_args(int argc, char **argv, struct mcu_sign *a, struct sgt_pin_opts *pin)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "key", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' }, { "format", required_argument, NULL, 'f' },
		{ "version", required_argument, NULL, 0x300 }, { "header-size", required_argument, NULL, 0x301 },
		{ "pad-header", no_argument, NULL, 0x302 }, { "align", required_argument, NULL, 0x303 },
		{ "slot-size", required_argument, NULL, 0x304 }, { "pad", no_argument, NULL, 0x305 },
		{ "confirm", no_argument, NULL, 0x306 }, { "public-key-format", required_argument, NULL, 0x307 },
		{ "security-counter", required_argument, NULL, 0x308 }, { "load-addr", required_argument, NULL, 0x309 },
		CMD_PIN_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	const char *hdr = "32", *align = "1", *slot = NULL, *load = NULL;
	unsigned long long v;
	int started = 0, c, rc = SGT_OK;

	memset(a, 0, sizeof(*a));
	while ((c = cmd_getopt(argv[0], argc, argv, "hk:o:", longopts, &started)) != -1) {
		if (c == -2)
			return SGT_ERR_USAGE;
		if (cmd_pin_opt(argv[0], c, optarg, pin, &rc)) {
			if (rc != SGT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'h': return cmd_help(sign_help) == SGT_OK ? 1 : SGT_ERR_USAGE;
		case 'k': a->label = optarg; break;
		case 'o': a->out = optarg; break;
		case 'f':
			if (strcmp(optarg, "mcuboot") != 0)
				return cmd_usage(argv[0], "unknown --format '%s': use mcuboot", optarg);
			break;
		case 0x300: a->version = optarg; break;
		case 0x301: hdr = optarg; break;
		case 0x302: a->o.pad_header = 1; break;
		case 0x303: align = optarg; break;
		case 0x304: slot = optarg; break;
		case 0x305: a->o.pad = 1; break;
		case 0x306: a->o.confirm = 1; break;
		case 0x307: a->pkf = optarg; break;
		case 0x308: a->seccnt = optarg; break;
		case 0x309: load = optarg; break;
		}
	}
	if (optind >= argc)
		return cmd_usage(argv[0], "missing IMAGE");
	if (optind + 1 < argc)
		return cmd_usage(argv[0], "--format mcuboot signs one IMAGE at a time");
	a->image = argv[optind];
	if (strcmp(a->image, "-") == 0 && a->out == NULL)
		return cmd_usage(argv[0], "IMAGE '-' (standard input) needs --out FILE");
	if (a->label == NULL)
		return cmd_usage(argv[0], "missing --key LABEL");
	if (a->version && sgt_mcuboot_version_parse(a->version, &a->o.ver) != SGT_OK)
		return cmd_usage(argv[0], "--version '%s' is not X.Y.Z[+B] within 255.255.65535+4294967295", a->version);
	if (parse_num(hdr, 0xffff, &v) != 0 || v < SGT_MCUBOOT_HDR)
		return cmd_usage(argv[0], "--header-size '%s': MCUboot's header needs at least 32 bytes (at most 65535)", hdr);
	a->o.hdr_size = (unsigned)v;
	if (parse_num(align, 32, &v) != 0 || (v != 1 && v != 2 && v != 4 && v != 8 && v != 16 && v != 32))
		return cmd_usage(argv[0], "--align '%s': use 1, 2, 4, 8, 16 or 32", align);
	a->o.align = (unsigned)v;
	if (slot && (parse_num(slot, 0xffffffffULL, &a->o.slot_size) != 0 || a->o.slot_size == 0))
		return cmd_usage(argv[0], "--slot-size '%s' is not a size (bytes, 0x..., or NNk)", slot);
	if (a->o.confirm)
		a->o.pad = 1;	/* as imgtool: a confirmed image needs the trailer that says so */
	if (a->o.pad && slot == NULL)
		return cmd_usage(argv[0], "--pad%s needs --slot-size: the trailer sits at the slot's end",
				 a->o.confirm ? " (implied by --confirm)" : "");
	if (a->pkf && strcmp(a->pkf, "hash") != 0 && strcmp(a->pkf, "full") != 0)
		return cmd_usage(argv[0], "--public-key-format '%s': use hash or full", a->pkf);
	a->o.full_key = a->pkf && strcmp(a->pkf, "full") == 0;
	if (a->seccnt && strcmp(a->seccnt, "auto") == 0) {
		a->o.have_sec_cnt = 1;
		a->o.sec_cnt = (uint32_t)a->o.ver.major << 24 | (uint32_t)a->o.ver.minor << 16 | a->o.ver.revision;
	} else if (a->seccnt) {
		if (parse_num(a->seccnt, 0xffffffffULL, &v) != 0)
			return cmd_usage(argv[0], "--security-counter '%s': a number up to 4294967295, or auto", a->seccnt);
		a->o.have_sec_cnt = 1;
		a->o.sec_cnt = (uint32_t)v;
	}
	if (load) {
		if (parse_num(load, 0xffffffffULL, &v) != 0)
			return cmd_usage(argv[0], "--load-addr '%s' is not a 32-bit address", load);
		a->o.load_addr = (uint32_t)v;
	}
	if (!sgt_p11_is_uri(a->label) && (rc = sgt_label_check(a->label)) != SGT_OK)
		return rc;
	return SGT_OK;
}

/* The token's signature over the image hash, as the key's MCUboot TLV carries it. */
static int token_sign(EVP_PKEY *priv, const char *label, const struct sgt_mcuboot_key *k,
		      const struct sgt_mcuboot_build *b, unsigned char **sig, size_t *siglen)
{
	if (k->ed25519) {
		/* image_ed25519.c: pure Ed25519 whose message is the 32-byte image hash. */
		*siglen = 64;
		if ((*sig = malloc(64)) == NULL)
			return sgt_err(SGT_ERR_DATA, "out of memory");
		return sgt_token_sign_eddsa(priv, b->digest, b->dlen, *sig, siglen);
	}
	if (!k->pss)
		return sgt_sign_digest(priv, label, k->md, b->digest, b->dlen, sig, siglen);
	*siglen = k->rsa_len;
	if ((*sig = malloc(k->rsa_len)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	return sgt_token_sign_pss(priv, b->digest, b->dlen, *sig, siglen);
}

int cmd_sign_mcuboot(struct sgt_ctx *ctx, int argc, char **argv)
{
	struct sgt_pin_opts pin = SGT_PIN_OPTS_INIT;
	struct mcu_sign a;
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_token *tok = NULL;
	struct sgt_mcuboot_key k;
	struct sgt_mcuboot_build b;
	struct sgt_mcuboot_image im;
	struct sgt_buf file = { 0 };
	EVP_PKEY *priv = NULL, *pub = NULL;
	unsigned char *raw = NULL, *body = NULL, *sig = NULL;
	size_t rawlen = 0, bodylen = 0, siglen = 0;
	unsigned long long base = 0;
	char *outpath = NULL, why[300], in_sha[65], out_sha[65], vers[48];
	const char *kwhy = NULL, *finals[1];
	json_t *d = NULL;
	struct sgt_tx *tx = NULL;
	int rc, opened = 0, hex_in = 0, hex_out;

	memset(&k, 0, sizeof(k));
	memset(&b, 0, sizeof(b));
	if ((rc = parse_sign_args(argc, argv, &a, &pin)) != SGT_OK)
		return rc == 1 ? SGT_OK : rc;
	hex_out = a.out ? ends_hex(a.out) : ends_hex(a.image);
	if (hex_out && !ends_hex(a.image))
		return cmd_usage(argv[0], "'%s' is a raw binary: Intel HEX output '%s' needs the slot's address, so give IMAGE as Intel HEX",
				 a.image, a.out);
	if ((outpath = a.out ? strdup(a.out) : default_out(a.image, hex_out)) == NULL)
		return sgt_err(SGT_ERR_DATA, "out of memory");
	if (strcmp(outpath, "-") == 0) {
		free(outpath);
		return cmd_usage(argv[0], "--format mcuboot writes the image to a file, not standard output");
	}
	/*
	 * The image is read before the store is locked and the module loaded:
	 * a FIFO that never ends then blocks no other command, and SIGINT or
	 * SIGTERM ends the wait at once.
	 */
	if ((rc = sgt_file_read(a.image, MCU_MAX_INPUT, &raw, &rawlen)) != SGT_OK)
		goto early;
	sgt_sha256_hex(raw, rawlen, in_sha);
	if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_EXCLUSIVE)) != SGT_OK)
		goto early;
	opened = 1;
	if ((rc = sgt_key_lookup(&st, &pin, a.label, &rec)) != SGT_OK)
		goto out;
	if ((rc = sgt_rotate_sign_allowed(&st, &rec, NULL)) != SGT_OK) {
		if (rc == SGT_ERR_VERDICT)
			sgt_record_refused(&st, "sign", rec.label, rec.spki_sha256, sgt_last_error());
		goto out;
	}
	/* Everything about the input is settled before the token signs. */
	if ((rc = sgt_out_check(outpath)) != SGT_OK)
		goto out;
	if ((rc = sgt_mcuboot_load(a.image, raw, rawlen, 0, &body, &bodylen, &base, &hex_in)) != SGT_OK)
		goto out;
	if (a.o.pad_header && hex_in && base < a.o.hdr_size) {
		rc = sgt_err(SGT_ERR_DATA, "'%s' starts at 0x%llx: no room below it for a %u-byte header (--pad-header)", a.image,
			     base, a.o.hdr_size);
		goto out;
	}
	if (a.o.pad_header && hex_in)
		base -= a.o.hdr_size;
	if ((rc = sgt_key_pubkey(&st, &rec, &pub)) != SGT_OK)
		goto out;
	if (sgt_mcuboot_key_of(pub, &k, &kwhy) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "key '%s' (%s) cannot sign MCUboot images: %s", rec.label, rec.algorithm, kwhy);
		goto out;
	}
	if (sgt_mcuboot_prepare(body, bodylen, &a.o, &k, &b, why, sizeof(why)) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "'%s': %s", a.image, why);
		goto out;
	}
	EVP_PKEY_free(pub);
	pub = NULL;
	if ((rc = sgt_token_open(&st, &pin, &tok)) != SGT_OK || (rc = sgt_token_key(tok, &rec, &priv, &pub)) != SGT_OK)
		goto out;
	if ((rc = token_sign(priv, rec.label, &k, &b, &sig, &siglen)) != SGT_OK)
		goto out;
	if (sgt_mcuboot_finish(&b, &a.o, &k, sig, siglen, why, sizeof(why)) != SGT_OK) {
		rc = sgt_err(SGT_ERR_DATA, "'%s': %s; nothing written", a.image, why);
		goto out;
	}
	/* Never ship an image the bootloader would refuse. */
	if (sgt_mcuboot_parse((const unsigned char *)b.img.p, b.img.len, &im, why, sizeof(why)) != SGT_OK ||
	    sgt_mcuboot_judge(&im, &k, NULL, why, sizeof(why)) != SGT_OK) {
		rc = sgt_err(SGT_ERR_HSM, "the token's signature for '%s' does not pass MCUboot's check (%s); nothing written",
			     a.image, why);
		goto out;
	}
	if ((rc = sgt_mcuboot_render(&b, &a.o, hex_out, base, &file)) != SGT_OK)
		goto out;
	sgt_sha256_hex(file.p, file.len, out_sha);
	finals[0] = outpath;
	if ((rc = sgt_tx_begin(&st, "sign", rec.label, NULL, finals, 1, &tx)) != SGT_OK ||
	    (rc = sgt_tx_stage(tx, outpath, file.p, file.len, SGT_TX_OUT)) != SGT_OK)
		goto out;
	snprintf(vers, sizeof(vers), "%u.%u.%u+%u", a.o.ver.major, a.o.ver.minor, a.o.ver.revision, a.o.ver.build);
	d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "image", a.image, "image_sha256", in_sha, "format", "mcuboot",
		      "output", outpath, "output_sha256", out_sha, "version", vers, "hash",
		      k.hash_tlv == SGT_MCUBOOT_SHA384 ? "SHA384" : "SHA256", "signature_algorithm",
		      k.pss ? "RSA-PSS" : k.ed25519 ? "Ed25519" : "ECDSA", "key_tlv", a.o.full_key ? "full" : "hash");
	if (d == NULL) {
		rc = sgt_err(SGT_ERR_DATA, "out of memory");
		goto out;
	}
	sgt_err_hold();
	if ((rc = sgt_tx_record(tx, "sign", rec.label, rec.spki_sha256, d)) == SGT_OK)
		rc = sgt_tx_commit(tx);
	if (rc != SGT_OK) {
		rc = cmd_failed_because(rc, sgt_tx_committed(tx) ? "image signed and recorded, but not put in place (the "
					"next command completes it)" : "image not signed (no audit record)");
		goto out;
	}
	(void)sgt_err_release();
	if (ctx->json) {
		json_t *j = json_deep_copy(d);

		json_object_set_new(j, "key", json_string(rec.label));
		rc = cmd_json_print(json_pack("{s:[o]}", "signed", j));
	} else if (!sgt_quiet) {
		printf("signed %s as %s MCUboot image (version %s, %s%s over %s, %s TLV) with key '%s': %s\n", a.image,
		       hex_out ? "an Intel HEX" : "a raw", vers, k.name, k.pss ? " PSS" : "",
		       k.hash_tlv == SGT_MCUBOOT_SHA384 ? "SHA-384" : "SHA-256", a.o.full_key ? "public key" : "key hash",
		       rec.label, outpath);
	}
out:
	sgt_tx_free(tx);	/* not committed: rolled back */
	json_decref(d);
	sgt_buf_free(&file);
	sgt_mcuboot_build_release(&b);
	sgt_mcuboot_key_release(&k);
	free(sig);
	free(body);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	sgt_token_free(tok);
	if (opened)
		sgt_store_release(&st);
early:
	free(raw);
	free(outpath);
	return rc;
}

/* A key the bootloader may hold, and where it came from. */
struct boot_key {
	struct sgt_mcuboot_key k;
	char where[200];
};

/* The keys of a keys.c (--header) or a certificate / key file (--cert): what extract finds baked there. */
static int keys_from_file(const char *path, const struct cmd_defines *defs, struct boot_key **out, size_t *n)
{
	struct sgt_extract_opts xo;
	struct sgt_found_list l = { 0 };
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&xo, 0, sizeof(xo));
	xo.defines = defs->v;
	xo.ndefines = defs->n;
	if ((rc = sgt_extract_file_opts(path, &xo, &l)) != SGT_OK)
		return rc;
	if ((*out = calloc(l.n + 1, sizeof(**out))) == NULL) {
		sgt_found_list_release(&l);
		return sgt_err(SGT_ERR_DATA, "out of memory");
	}
	for (i = 0; i < l.n; i++) {
		const char *why = NULL;
		char where[96] = "";

		if (!l.v[i].baked || l.v[i].pub == NULL || sgt_mcuboot_key_of(l.v[i].pub, &(*out)[*n].k, &why) != SGT_OK)
			continue;
		sgt_found_where(&l, &l.v[i], 0, where, sizeof(where));
		snprintf((*out)[*n].where, sizeof((*out)[*n].where), "%s:%s%s%s", path, where, l.v[i].symbol[0] ? " " : "",
			 l.v[i].symbol);
		(*n)++;
	}
	sgt_found_list_release(&l);
	if (*n == 0)
		return sgt_err(SGT_ERR_DATA, "no key MCUboot verifies with (ECDSA P-256/P-384, RSA-2048/3072) is baked in '%s'",
			       path);
	return SGT_OK;
}

int cmd_verify_mcuboot(struct sgt_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "format", required_argument, NULL, 'F' },
		{ "key", required_argument, NULL, 'k' }, { "cert", required_argument, NULL, 'c' },
		{ "header", required_argument, NULL, 'H' }, { "define", required_argument, NULL, 'D' },
		{ "undefine", required_argument, NULL, 'U' }, { NULL, 0, NULL, 0 }
	};
	struct cmd_defines defs = { .n = 0 };
	struct sgt_store st;
	struct sgt_keyrec rec;
	struct sgt_mcuboot_image im;
	struct boot_key *keys = NULL;
	const char *image = NULL, *label = NULL, *file = NULL;
	unsigned char *raw = NULL, *body = NULL;
	size_t rawlen = 0, bodylen = 0, nkeys = 0, i, best = 0;
	unsigned long long base = 0;
	char why[300] = "", first[300] = "";
	int started = 0, c, rc, nsrc = 0, is_hex = 0, named_best = -1;
	EVP_PKEY *pub = NULL;

	while ((c = cmd_getopt(argv[0], argc, argv, "hD:U:", longopts, &started)) != -1) {
		switch (c) {
		case -2: return SGT_ERR_USAGE;
		case 'h': return cmd_help(verify_help);
		case 'D':
		case 'U':
			if ((rc = cmd_define_opt(argv[0], c == 'U', optarg, &defs)) != SGT_OK)
				return rc;
			break;
		case 'F':
			if (strcmp(optarg, "mcuboot") != 0)
				return cmd_usage(argv[0], "unknown --format '%s': use mcuboot", optarg);
			break;
		case 'k': label = optarg; nsrc++; break;
		case 'c': file = optarg; nsrc++; break;
		case 'H': file = optarg; nsrc++; break;
		}
	}
	if (optind >= argc)
		return cmd_usage(argv[0], "missing IMAGE");
	if (optind + 1 < argc)
		return cmd_usage(argv[0], "one IMAGE at a time");
	image = argv[optind];
	if (nsrc != 1)
		return cmd_usage(argv[0], "give exactly one of --key LABEL, --header keys.c, --cert FILE");
	if (label != NULL) {
		struct sgt_pin_opts pin = SGT_PIN_OPTS_INIT;

		if ((rc = cmd_store_open(ctx, &st, SGT_LOCK_SHARED)) != SGT_OK)
			return rc;

		rc = sgt_key_lookup(&st, &pin, label, &rec);
		if (rc == SGT_OK)
			rc = sgt_key_pubkey(&st, &rec, &pub);
		sgt_store_release(&st);
		if (rc != SGT_OK)
			goto out;
		if ((keys = calloc(1, sizeof(*keys))) == NULL) {
			rc = sgt_err(SGT_ERR_DATA, "out of memory");
			goto out;
		}
		{
			const char *kwhy = NULL;

			if (sgt_mcuboot_key_of(pub, &keys[0].k, &kwhy) != SGT_OK) {
				rc = sgt_err(SGT_ERR_DATA, "key '%s' (%s): %s", rec.label, rec.algorithm, kwhy);
				goto out;
			}
		}
		nkeys = 1;
		snprintf(keys[0].where, sizeof(keys[0].where), "key '%s' in custody", rec.label);
	} else if ((rc = keys_from_file(file, &defs, &keys, &nkeys)) != SGT_OK) {
		goto out;
	}
	if ((rc = sgt_file_read(image, MCU_MAX_INPUT, &raw, &rawlen)) != SGT_OK ||
	    (rc = sgt_mcuboot_load(image, raw, rawlen, 0, &body, &bodylen, &base, &is_hex)) != SGT_OK)
		goto out;
	rc = SGT_ERR_VERDICT;
	if (sgt_mcuboot_parse(body, bodylen, &im, why, sizeof(why)) != SGT_OK) {
		snprintf(first, sizeof(first), "%s", why);
	} else {
		/* bootutil tries its keys in turn: the first that the key TLV names and that verifies boots it. */
		for (i = 0; i < nkeys && rc != SGT_OK; i++) {
			int named = 0;

			if (sgt_mcuboot_judge(&im, &keys[i].k, &named, why, sizeof(why)) == SGT_OK) {
				rc = SGT_OK;
				best = i;
			} else if (first[0] == '\0' || (named && named_best != 1)) {
				snprintf(first, sizeof(first), "%s", why);
				named_best = named;
				best = i;
			}
		}
	}
	if (ctx->json) {
		json_t *j = json_pack("{s:s,s:b,s:s}", "image", image, "valid", rc == SGT_OK, "key", keys[best].where);

		json_object_set_new(j, "reason", rc == SGT_OK ? json_null() : json_string(first));
		if (im.d != NULL && im.ntlv > 0) {
			char v[48];

			snprintf(v, sizeof(v), "%u.%u.%u+%u", im.ver.major, im.ver.minor, im.ver.revision, im.ver.build);
			json_object_set_new(j, "version", json_string(v));
		}
		cmd_json_print(j);
	} else if (rc == SGT_OK) {
		struct sgt_mcuboot_tlv sc;

		char with[160];

		if (keys[best].k.ed25519)	/* mbedTLS 2.28 has no Ed25519 */
			snprintf(with, sizeof(with), "OpenSSL %s, as %s has no Ed25519; MCUboot uses its own Ed25519 code",
				 OpenSSL_version(OPENSSL_VERSION_STRING), sgt_device_version());
		else
			snprintf(with, sizeof(with), "%s", sgt_device_version());
		printf("valid: MCUboot's image check accepts %s: version %u.%u.%u+%u, %s hash, %s signature by %s (checked with %s)\n",
		       image, im.ver.major, im.ver.minor, im.ver.revision, im.ver.build,
		       keys[best].k.hash_tlv == SGT_MCUBOOT_SHA384 ? "SHA-384" : "SHA-256", keys[best].k.name, keys[best].where,
		       with);
		if (sgt_mcuboot_find(&im, SGT_MCUBOOT_SEC_CNT, &sc) && sc.len == 4)
			printf("  not checked: a bootloader with rollback protection also refuses it when its security counter (%u) is below the device's\n",
			       (unsigned)(im.d[sc.off] | im.d[sc.off + 1] << 8 | im.d[sc.off + 2] << 16 | (unsigned)im.d[sc.off + 3] << 24));
	} else {
		printf("invalid: MCUboot refuses %s: %s\n", image, first);
	}
out:
	for (i = 0; keys != NULL && i < nkeys; i++)
		sgt_mcuboot_key_release(&keys[i].k);
	free(keys);
	EVP_PKEY_free(pub);
	free(raw);
	free(body);
	return rc;
}

int cmd_mcuboot_signer(struct sgt_ctx *ctx, const char *path, char *line, size_t cap)
{
	struct sgt_store st;
	struct sgt_keyrec *recs = NULL;
	struct sgt_mcuboot_image im;
	unsigned char *raw = NULL, *body = NULL;
	size_t rawlen = 0, bodylen = 0, nrecs = 0, i;
	unsigned long long base = 0;
	char why[300], found[300] = "", named_bad[700] = "";
	int rc = -1, hex = 0, have = 0, silent = sgt_silent;

	line[0] = '\0';
	sgt_silent = 1;	/* a file that is no MCUboot image is extract's business, not an error here */
	if (sgt_file_read(path, MCU_MAX_INPUT, &raw, &rawlen) != SGT_OK ||
	    sgt_mcuboot_load(path, raw, rawlen, sgt_container_type(raw, rawlen) == SGT_CONT_IHEX, &body, &bodylen, &base,
			     &hex) != SGT_OK ||
	    !sgt_mcuboot_is_image(body, bodylen))
		goto out;
	rc = 0;
	if (sgt_mcuboot_parse(body, bodylen, &im, why, sizeof(why)) != SGT_OK) {
		snprintf(line, cap, "%s: MCUboot image%s: malformed, the bootloader refuses it: %s", path,
			 hex ? " (Intel HEX)" : "", why);
		goto out;
	}
	if (cmd_store_open_optional(ctx, &st, SGT_LOCK_NONE, &have) == SGT_OK && have) {
		if (sgt_keyrec_list(&st, &recs, &nrecs) != SGT_OK)
			nrecs = 0;
		for (i = 0; i < nrecs && found[0] == '\0'; i++) {
			struct sgt_mcuboot_key k;
			EVP_PKEY *pub = NULL;
			const char *kwhy;

			if (sgt_key_pubkey(&st, &recs[i], &pub) != SGT_OK || sgt_mcuboot_key_of(pub, &k, &kwhy) != SGT_OK) {
				EVP_PKEY_free(pub);
				continue;
			}
			if (sgt_mcuboot_names_key(&im, &k)) {
				if (sgt_mcuboot_judge(&im, &k, NULL, why, sizeof(why)) == SGT_OK)
					snprintf(found, sizeof(found), "signed by key '%s' in custody (%s, signature verified)",
						 recs[i].label, k.name);
				else if (named_bad[0] == '\0')
					snprintf(named_bad, sizeof(named_bad), "names key '%s' in custody, but the bootloader refuses it: %s",
						 recs[i].label, why);
			}
			sgt_mcuboot_key_release(&k);
			EVP_PKEY_free(pub);
		}
		sgt_store_release(&st);
	}
	snprintf(line, cap, "%s: MCUboot image%s version %u.%u.%u+%u: %s", path, hex ? " (Intel HEX)" : "", im.ver.major,
		 im.ver.minor, im.ver.revision, im.ver.build,
		 found[0] ? found : named_bad[0] ? named_bad
			  : have ? "its key TLV names no key in custody" : "no store: the key in custody is not known");
	rc = found[0] ? 1 : 0;
out:
	sgt_silent = silent;
	free(recs);
	free(raw);
	free(body);
	return rc;
}
