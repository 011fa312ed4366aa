/*
 * test_store_env.c: which signet.yaml `env` values are resolved against
 * the store (relative paths) and which are set exactly as written
 * (absolute paths, a p11-kit client address unix:path=..., host:port
 * forms, plain words).  Before, everything not starting with '/' was
 * resolved, which turned unix:path=/run/x into <store>/unix:path=/run/x.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"

static void check(const char *value, const char *want)
{
	struct sgt_store st;
	char name[] = "SGT_UNIT_ENV", dir[] = "/tmp/sgt-store";

	memset(&st, 0, sizeof(st));
	st.lock_fd = -1;
	st.dir = dir;
	st.cfg.env_name[0] = name;
	st.cfg.env_value[0] = (char *)value;
	st.cfg.nenv = 1;
	assert_int_equal(sgt_store_apply_env(&st), SGT_OK);
	assert_non_null(getenv("SGT_UNIT_ENV"));
	assert_string_equal(getenv("SGT_UNIT_ENV"), want);
}

static void test_relative_paths_resolved(void **state)
{
	(void)state;
	check("hsm/softhsm2.conf", "/tmp/sgt-store/hsm/softhsm2.conf");
	check("./conf", "/tmp/sgt-store/./conf");
	check("../shared/conf", "/tmp/sgt-store/../shared/conf");
}

static void test_other_values_kept(void **state)
{
	(void)state;
	check("/etc/softhsm/softhsm2.conf", "/etc/softhsm/softhsm2.conf");
	check("unix:path=/run/user/1000/p11-kit/pkcs11", "unix:path=/run/user/1000/p11-kit/pkcs11");
	check("swtpm:host=127.0.0.1,port=2321", "swtpm:host=127.0.0.1,port=2321");
	check("tcp:hsm.example.com:1792", "tcp:hsm.example.com:1792");
	check("KEY=a/b", "KEY=a/b");
	check("debug", "debug");
	check("", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relative_paths_resolved),
		cmocka_unit_test(test_other_values_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
