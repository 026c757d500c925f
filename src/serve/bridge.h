/* `klined bridge`: the live Binance feed published to Kafka (see bridge.c). */
#ifndef KL_SERVE_BRIDGE_H
#define KL_SERVE_BRIDGE_H

/* Parses serve's flags (binance source + bridge-to), runs until SIGINT/SIGTERM, flushes the
 * producer. Returns the exit status. */
int kl_bridge_main(int argc, char **argv);

#endif
