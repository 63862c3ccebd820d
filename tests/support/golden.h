/* Golden files: compare output with a checked-in file; EBB_UPDATE_GOLDEN=1 rewrites the file
 * instead. */
#ifndef EBB_TESTS_GOLDEN_H
#define EBB_TESTS_GOLDEN_H

/*
 * Compare actual with the file rel_path under the source tree (e.g.
 * "tests/golden/plans/x.txt"). A difference fails the test and names the
 * first differing line. With EBB_UPDATE_GOLDEN=1 in the environment the file
 * is written with actual instead (and the test passes).
 */
void ebb_golden_check(const char *rel_path, const char *actual);

#endif
