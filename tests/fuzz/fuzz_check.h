/* CHECK(): the harnesses' assertion. Not assert(): the checks must hold in every build type,
 * and a failure must abort so libFuzzer keeps the input. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
