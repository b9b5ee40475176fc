/* Naming client: placeholder until the name server lands (issue 4). */
#include "roci.h"

int roci_naming_resolve(const roc_uri *u, int timeout_ms, char ***uris,
                        size_t *n, roc_error *err)
{
    (void)u;
    (void)timeout_ms;
    *uris = NULL;
    *n = 0;
    return roc_error_set(err, ROC_EUNAVAIL,
                         "name server resolution is not built in yet");
}
