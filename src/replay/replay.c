/* placeholder: being written */
#include "replay/replay.h"
int
kl_replay_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
