/*
 * test_p11.c: unit tests for the parts of p11.c that need no token:
 * telling a PKCS#11 URI from a label, parsing URIs through p11-kit
 * (percent-encoding, unknown attributes refused), CKR names and words,
 * and which return values mean the session died.  Token behaviour is
 * tested against real modules in tests/cli/t6*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <p11-kit/uri.h>

#include "p11.h"

static void test_is_uri(void **state)
{
	(void)state;
	assert_true(sgt_p11_is_uri("pkcs11:object=fw"));
	assert_true(sgt_p11_is_uri("PKCS11:token=prod"));
	assert_false(sgt_p11_is_uri("fw"));
	assert_false(sgt_p11_is_uri("pkcs11"));
	assert_false(sgt_p11_is_uri("./pkcs11:object=fw"));
	assert_false(sgt_p11_is_uri(NULL));
}

static void test_uri_parse(void **state)
{
	void *uri = NULL;
	CK_ATTRIBUTE *id, *label, *cls;
	CK_TOKEN_INFO *ti;

	(void)state;
	assert_int_equal(sgt_p11_uri_parse("pkcs11:token=prod;serial=4c2b;object=f%77;id=%01%a2;type=private", &uri), SGT_OK);
	assert_non_null(uri);
	id = p11_kit_uri_get_attribute(uri, CKA_ID);
	label = p11_kit_uri_get_attribute(uri, CKA_LABEL);
	cls = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	assert_non_null(id);
	assert_int_equal(id->ulValueLen, 2);
	assert_memory_equal(id->pValue, "\x01\xa2", 2);
	assert_non_null(label);
	assert_int_equal(label->ulValueLen, 2);
	assert_memory_equal(label->pValue, "fw", 2);	/* %77 is 'w' */
	assert_non_null(cls);
	assert_int_equal(*(CK_OBJECT_CLASS *)cls->pValue, CKO_PRIVATE_KEY);
	ti = p11_kit_uri_get_token_info(uri);
	assert_memory_equal(ti->label, "prod ", 5);	/* space-padded as CK_TOKEN_INFO holds it */
	sgt_p11_uri_free(uri);
	sgt_p11_uri_free(NULL);
}

static void test_uri_refused(void **state)
{
	void *uri = (void *)1;

	(void)state;
	assert_int_equal(sgt_p11_uri_parse("pkcs11:object=fw;bogus=1", &uri), SGT_ERR_USAGE);
	assert_null(uri);
	assert_int_equal(sgt_p11_uri_parse("pkcs11:id=%zz", &uri), SGT_ERR_USAGE);
	assert_int_equal(sgt_p11_uri_parse("http://example.com/", &uri), SGT_ERR_USAGE);
	assert_int_equal(sgt_p11_uri_parse("pkcs11:type=nosuch", &uri), SGT_ERR_USAGE);
}

static void test_rv_words(void **state)
{
	(void)state;
	assert_string_equal(sgt_p11_rv_name(CKR_SESSION_HANDLE_INVALID), "CKR_SESSION_HANDLE_INVALID");
	assert_string_equal(sgt_p11_rv_why(CKR_PIN_INCORRECT), "wrong PIN");
	assert_string_equal(sgt_p11_rv_name(0x8000abcdUL), "CKR_0x8000abcd");
	assert_string_equal(sgt_p11_rv_why(0x8000abcdUL), "unknown PKCS#11 error");
}

static void test_dead(void **state)
{
	(void)state;
	assert_true(sgt_p11_dead(CKR_SESSION_HANDLE_INVALID));
	assert_true(sgt_p11_dead(CKR_SESSION_CLOSED));
	assert_true(sgt_p11_dead(CKR_DEVICE_ERROR));
	assert_true(sgt_p11_dead(CKR_TOKEN_NOT_PRESENT));
	assert_true(sgt_p11_dead(CKR_DEVICE_REMOVED));
	/* Not worth a reopen: the answer would be the same. */
	assert_false(sgt_p11_dead(CKR_OK));
	assert_false(sgt_p11_dead(CKR_PIN_INCORRECT));
	assert_false(sgt_p11_dead(CKR_KEY_HANDLE_INVALID));
	assert_false(sgt_p11_dead(CKR_GENERAL_ERROR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_uri),
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_uri_refused),
		cmocka_unit_test(test_rv_words),
		cmocka_unit_test(test_dead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
