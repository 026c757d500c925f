/* klined entry point: picks the subcommand and hands over; nothing else lives here. */
#include <stdio.h>
#include <string.h>

#include "replay/export.h"
#include "replay/replay.h"
#include "serve/bridge.h"
#include "serve/service.h"
#include "wal/waltool.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: klined replay [--intervals LIST|all] [--tz +HH:MM] [--symbol SYM]\n"
               "                     [--strict] [--quiet] --out DIR FILE-OR-DIR...\n"
               "       klined serve [--config FILE] [flags]   (klined serve --help)\n"
               "       klined bridge --bridge-to kafka://BROKERS/TOPIC [serve flags]\n"
               "       klined export --store URL --out DIR [--symbols LIST] [--intervals LIST]\n"
               "       klined wal dump|verify --wal-dir DIR [--worker N] [--from SEQ]\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "replay") == 0)
        return kl_replay_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0)
        return kl_export_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return kl_serve_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "bridge") == 0)
        return kl_bridge_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "wal") == 0)
        return kl_wal_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "klined: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
