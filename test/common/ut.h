/*
 * A small driver for CUnit test programs: each program declares its tests in a table and
 * calls keel_ut_run(), which runs them verbosely and returns the number of failures.
 */
#ifndef KEEL_UT_H
#define KEEL_UT_H

#include "keel/stdinc.h"
#include <CUnit/Basic.h>

struct keel_ut_test {
	const char *name;
	void (*fn)(void);
};

#define KEEL_UT_TEST(fn) { #fn, fn }

static inline int
keel_ut_run(const char *suite_name, const struct keel_ut_test *tests, size_t count,
	    int (*init)(void), int (*fini)(void))
{
	CU_pSuite suite;
	unsigned int failures;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite(suite_name, init, fini);
	if (suite == NULL) {
		CU_cleanup_registry();
		return 1;
	}
	for (i = 0; i < count; i++) {
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL) {
			CU_cleanup_registry();
			return 1;
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_tests_failed();
	if (CU_get_number_of_suites_failed() > 0) {
		failures += (unsigned int)count;
	}
	CU_cleanup_registry();
	return failures > 0 ? 1 : 0;
}

#endif /* KEEL_UT_H */
