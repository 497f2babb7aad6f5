/* Runs every registered TEST() and prints the summary line CI reads. */
#include "harness.h"

struct sb_test sb_tests[SB_MAX_TESTS];
int sb_n_tests;

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (int i = 0; i < sb_n_tests; i++) {
		if (argc > 1 && strcmp(argv[1], sb_tests[i].name) != 0)
			continue;
		int r = sb_tests[i].fn();
		printf("%s %s\n", r == 0 ? "ok  " : "FAIL", sb_tests[i].name);
		if (r == 0)
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
