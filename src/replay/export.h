/* `klined export`: writes a store's klines in exactly the layout `klined replay` writes, so the
 * two can be diffed. */
#ifndef KL_REPLAY_EXPORT_H
#define KL_REPLAY_EXPORT_H

/* argv[0] is "export". Returns the exit status: 0, 1 on a store or I/O error, 2 on usage. */
int kl_export_main(int argc, char **argv);

#endif
