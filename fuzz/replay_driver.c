/* Stand-in for libFuzzer in normal builds: replays every file of the corpus directories (or
 * single files) given as arguments through LLVMFuzzerTestOneInput, so ctest checks the corpus
 * on every build, sanitizers or not. A missing or empty directory fails the run, because a
 * corpus that silently disappears would otherwise turn the test into a no-op. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file. The buffer has the file's exact size, so a parser reading one byte past the
 * input trips ASan instead of reading a terminator we happened to add. */
static int
replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || st.st_size < 0) {
        fprintf(stderr, "replay: %s: cannot stat\n", path);
        fclose(fp);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size);
    if (buf == NULL && size != 0) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        fclose(fp);
        return -1;
    }
    size_t got = size == 0 ? 0 : fread(buf, 1, size, fp);
    fclose(fp);
    if (got != size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        free(buf);
        return -1;
    }
    /* Named before the call so that a sanitizer report can be traced to its input. */
    fprintf(stderr, "Running: %s\n", path);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Replays the regular files of dir in name order (a stable order makes failures repeatable).
 * Returns how many ran, or -1. */
static long
replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **paths = NULL;
    size_t n = 0, cap = 0;
    long rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        char *p = malloc(len);
        if (p == NULL) {
            rc = -1;
            break;
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **np = realloc(paths, ncap * sizeof *np);
            if (np == NULL) {
                free(p);
                rc = -1;
                break;
            }
            paths = np;
            cap = ncap;
        }
        paths[n++] = p;
    }
    closedir(d);
    if (rc == 0 && n == 0) {
        fprintf(stderr, "replay: %s: no input files (corpus missing?)\n", dir);
        rc = -1;
    }
    if (rc == 0) {
        qsort(paths, n, sizeof *paths, name_cmp);
        for (size_t i = 0; i < n && rc >= 0; i++)
            rc = replay_file(paths[i]) == 0 ? rc + 1 : -1;
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %ld inputs\n", total);
    return 0;
}
