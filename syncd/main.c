/* cymat-syncd: keeps a ledger in sync with its remotes.  Options, the config, then the loop. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "syncd.h"
#include "daemon.h"

static const char usage_text[] =
	"usage: cymat-syncd [-c FILE] [--syslog] [-v | -q]...\n"
	"       cymat-syncd [-c FILE] --check-config\n"
	"\n"
	"Keep a CYMAT ledger in sync with its remotes: in agency mode, fetch each\n"
	"remote's main, verify what is new, merge it into the local main and push\n"
	"the local main to the master's inbox; in master mode, take in the inboxes,\n"
	"sign receipts and, periodically, checkpoints.  Runs in the foreground\n"
	"(systemd Type=notify).  SIGHUP reloads the config when the new one is\n"
	"valid, SIGUSR1 syncs now, SIGTERM finishes the step in progress and exits.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE  the config file (default: " SYNCD_DEFAULT_CONFIG ")\n"
	"  --check-config     check the config, load the key, open the ledger, exit\n"
	"  --syslog           log to syslog instead of stderr\n"
	"  -v, --verbose      log more (repeatable; above the config's log_level)\n"
	"  -q, --quiet        log less (repeatable)\n"
	"  -h, --help         show this help\n"
	"  --version          show the version\n"
	"\n"
	"Exit status: 0 stopped by a signal, or the config is valid (--check-config);\n"
	"1 the config, the key or the ledger is unusable; 2 usage; 4 another\n"
	"cymat-syncd runs on the ledger; 5 internal error.  See cymat-syncd(8).\n";

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct syncd_daemon_options opts = { SYNCD_DEFAULT_CONFIG, 0 };
	struct syncd_config *cfg = NULL;
	struct syncd_node *node = NULL;
	int c, check = 0, use_syslog = 0, error, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:vqh", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'v':
			opts.verbosity++;
			break;
		case 'q':
			opts.verbosity--;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return SYNCD_EXIT_OK;
		case 'V':
			printf("cymat-syncd %s\n", PACKAGE_VERSION);
			return SYNCD_EXIT_OK;
		default:
			fprintf(stderr, "cymat-syncd: unknown option \"%s\"\n", argv[optind - 1]);
			fputs(usage_text, stderr);
			return SYNCD_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "cymat-syncd: unexpected argument \"%s\"\n", argv[optind]);
		return SYNCD_EXIT_USAGE;
	}
	/* Until the config says otherwise: info, or what -v/-q make of it. */
	syncd_log_open("cymat-syncd", use_syslog && !check, LOG_INFO + opts.verbosity);
	error = syncd_config_load_logged(&cfg, opts.config_path);
	if (error < 0) {
		rc = error == LEDGER_ENOMEM ? SYNCD_EXIT_INTERNAL : SYNCD_EXIT_CONFIG;
		goto done;
	}
	syncd_log_set_level(syncd_effective_log_level(cfg, opts.verbosity));
	error = syncd_node_open(&node, cfg);
	if (error < 0) {
		syncd_log(LOG_ERR, "config \"%s\": %s", opts.config_path, syncd_error_message());
		rc = SYNCD_EXIT_CONFIG;
		goto done;
	}
	if (check) {
		printf("config \"%s\": ok: mode %s, agency %s, ledger \"%s\", %zu remote%s\n",
		       opts.config_path, node->cfg->mode == SYNCD_MODE_MASTER ? "master" : "agency",
		       node->cfg->agency, node->cfg->ledger, node->cfg->nremotes,
		       node->cfg->nremotes == 1 ? "" : "s");
		rc = fflush(stdout) == 0 ? SYNCD_EXIT_OK : SYNCD_EXIT_INTERNAL;
		goto done;
	}
	rc = syncd_daemon_run(node, &opts);
	node = NULL; /* the loop owned it */
done:
	syncd_node_free(node);
	syncd_log_close();
	return rc;
}
