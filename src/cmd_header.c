/* cmd_header.c: placeholder until the command lands. */
#include "cmd.h"

int cmd_header(struct sgt_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	return sgt_err(SGT_ERR_USAGE, "%s: not implemented yet", argv[0]);
}
