/* Replays every fuzz input kept in the tree through the harness of its
 * target, in the ordinary (gcc, and ASan in CI) build: the crashes the
 * fuzzers found (fuzz/regressions/<target>-<what>) and the seed corpora
 * (every file in fuzz/<target>/). The harnesses are the fuzz targets' own
 * sources, each included under another name; a property they check aborts
 * the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLVMFuzzerTestOneInput fuzz_value_one
#include "../fuzz/fuzz_value.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_envelope_one
#include "../fuzz/fuzz_envelope.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_uri_one
#include "../fuzz/fuzz_uri.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idl_one
#include "../fuzz/fuzz_idl.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_daemon_one
#include "../fuzz/fuzz_daemon.c"
#undef LLVMFuzzerTestOneInput

typedef int (*harness)(const uint8_t *, size_t);

static const struct {
    const char *target;
    harness fn;
} targets[] = {
    {"value", fuzz_value_one},   {"envelope", fuzz_envelope_one},
    {"uri", fuzz_uri_one},       {"idl", fuzz_idl_one},
    {"daemon", fuzz_daemon_one},
};

static harness harness_for(const char *target)
{
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].target, target) == 0)
            return targets[i].fn;
    return NULL;
}

static int replay_file(const char *path, harness fn)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    fn(buf, len);
    free(buf);
    return 0;
}

/* Replays the files of dir; with prefix_target, each file's target is the
 * part of its name before the first '-'. Returns how many ran. */
static int replay_dir(const char *dir, harness fixed)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
            continue;
        harness fn = fixed;
        if (!fn) {
            char target[64];
            size_t tl = strcspn(de->d_name, "-");
            if (tl >= sizeof target)
                tl = sizeof target - 1;
            memcpy(target, de->d_name, tl);
            target[tl] = '\0';
            fn = harness_for(target);
            if (!fn)
                fail_msg("fuzz/regressions/%s: no target '%s'", de->d_name,
                         target);
        }
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        print_message("replay %s\n", path);
        assert_int_equal(replay_file(path, fn), 0);
        count++;
    }
    closedir(d);
    return count;
}

static void test_fuzz_regressions_replay(void **state)
{
    (void)state;
    replay_dir(ROC_SOURCE_DIR "/fuzz/regressions", NULL);
}

static void test_fuzz_seeds_replay(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fuzz/%s", ROC_SOURCE_DIR,
                 targets[i].target);
        int n = replay_dir(dir, targets[i].fn);
        if (n == 0)
            fail_msg("no seed inputs in %s", dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_regressions_replay),
        cmocka_unit_test(test_fuzz_seeds_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
