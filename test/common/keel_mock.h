/*
 * Stubs for unit tests: replace a neighbouring function with one that returns a value the
 * test can set, and count its calls.
 */
#ifndef KEEL_MOCK_H
#define KEEL_MOCK_H

#include "keel/stdinc.h"

/* Define fn returning ut_<fn>_ret (initially val); the test may change ut_<fn>_ret. */
#define KEEL_STUB(fn, ret, args, val)                                                              \
	ret ut_##fn##_ret = (val);                                                                 \
	int ut_##fn##_calls;                                                                       \
	ret fn args                                                                                \
	{                                                                                          \
		ut_##fn##_calls++;                                                                 \
		return ut_##fn##_ret;                                                              \
	}

/* Define a void fn that only counts its calls. */
#define KEEL_STUB_V(fn, args)                                                                      \
	int ut_##fn##_calls;                                                                       \
	void fn args                                                                               \
	{                                                                                          \
		ut_##fn##_calls++;                                                                 \
	}

#endif /* KEEL_MOCK_H */
