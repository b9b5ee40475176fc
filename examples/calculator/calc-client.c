/* calc-client URI: calls a demo.Calculator through the generated stubs. */
#include <stdio.h>

#include <roc/roc.h>

#include "calc.roc.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: calc-client URI\n");
        return 2;
    }
    roc_error err = ROC_ERROR_INIT;
    demo_Calculator *calc = NULL;
    int64_t sum = 0, product = 0;
    double q = 0;
    int rc = demo_Calculator_open(&calc, argv[1], &err);
    if (rc == 0)
        rc = demo_Calculator_add(calc, 40, 2, &sum, NULL, &err);
    if (rc == 0)
        rc = demo_Calculator_multiply(calc, 6, 7, &product, NULL, &err);
    if (rc == 0)
        rc = demo_Calculator_divide(calc, 1, 4, &q, NULL, &err);
    if (rc != 0) {
        fprintf(stderr, "calc-client: %s\n", err.message);
        goto out;
    }
    printf("40 + 2 = %lld\n6 * 7 = %lld\n1 / 4 = %g\n", (long long)sum,
           (long long)product, q);

    /* a typed exception */
    rc = demo_Calculator_divide(calc, 1, 0, &q, NULL, &err);
    roc_arena *a = NULL;
    demo_DivideByZero dz;
    if (rc == ROC_EREMOTE && roc_arena_new(&a) == 0 &&
        demo_DivideByZero_catch(&err, &dz, a) == 0) {
        printf("1 / 0 raised %s (dividend %g): %s\n", err.type, dz.dividend,
               err.message);
        rc = 0;
    } else {
        fprintf(stderr, "calc-client: expected DivideByZero, got %d\n", rc);
        rc = 1;
    }
    roc_arena_free(a);
out:
    demo_Calculator_close(calc);
    roc_error_clear(&err);
    return rc == 0 ? 0 : 1;
}
