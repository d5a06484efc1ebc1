/* The daemon's main loop (daemon.c), started by main.c. */
#ifndef SYNCD_DAEMON_H
#define SYNCD_DAEMON_H

#include "syncd.h"

/* Exit statuses of cymat-syncd (docs/cymat-syncd.8). */
enum syncd_exit {
	SYNCD_EXIT_OK = 0,
	SYNCD_EXIT_CONFIG = 1,   /* the config, the key or the ledger is unusable */
	SYNCD_EXIT_USAGE = 2,
	SYNCD_EXIT_RUNNING = 4,  /* another cymat-syncd holds the ledger's pidfile */
	SYNCD_EXIT_INTERNAL = 5
};

struct syncd_daemon_options {
	const char *config_path;
	int verbosity;  /* -v count minus -q count: levels above (or below) the config's */
};

/* Run until SIGTERM or SIGINT; takes ownership of `node`.  Returns an exit status. */
int syncd_daemon_run(struct syncd_node *node, const struct syncd_daemon_options *opts);

#endif
