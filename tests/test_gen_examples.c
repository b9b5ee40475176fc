/* The IDL examples as real processes: examples/calculator and
 * examples/warehouse servers on a free tcp port, their clients run against
 * them and must succeed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Starts server, reads its URI, runs client URI; returns the client's exit
 * status. */
static int run_pair(const char *server, const char *client)
{
    char sbin[512], cbin[512], uri[512];
    char *sargv[] = {(char *)tu_bin(server, sbin, sizeof sbin),
                     "tcp://127.0.0.1:0", NULL};
    int fd = -1;
    pid_t spid = tu_spawn(sargv, &fd);
    assert_true(spid > 0);
    assert_int_equal(tu_read_line(fd, uri, sizeof uri, 10000), 0);
    assert_non_null(strstr(uri, "ROC:"));
    char *cargv[] = {(char *)tu_bin(client, cbin, sizeof cbin), uri, NULL};
    pid_t cpid = tu_spawn(cargv, NULL);
    assert_true(cpid > 0);
    int st = 0;
    waitpid(cpid, &st, 0);
    assert_int_equal(tu_stop(spid), 0);
    close(fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_gen_example_calculator(void **state)
{
    (void)state;
    assert_int_equal(run_pair("examples/calculator/calc-server",
                              "examples/calculator/calc-client"),
                     0);
}

static void test_gen_example_warehouse(void **state)
{
    (void)state;
    assert_int_equal(run_pair("examples/warehouse/warehouse-server",
                              "examples/warehouse/warehouse-client"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_example_calculator),
        cmocka_unit_test(test_gen_example_warehouse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
