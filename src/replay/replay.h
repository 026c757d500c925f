/* `klined replay`: the backfill path from trade dump files to kline CSV files. */
#ifndef KL_REPLAY_REPLAY_H
#define KL_REPLAY_REPLAY_H

/* Runs the replay subcommand; argv[0] is "replay". Returns the process exit status: 0 on
 * success, 1 when rows were rejected under --strict or an I/O error stopped it, 2 on usage. */
int kl_replay_main(int argc, char **argv);

#endif
