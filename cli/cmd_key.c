/* cymat key generate: a signing key (Ed25519) and a sealing key (X25519) for one person or node. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "cli.h"

const char cmd_key_help[] =
	"usage: cymat key generate [--dir DIR] [--json] NAME\n"
	"\n"
	"Generate a new Ed25519 signing key and X25519 sealing key and write\n"
	"  NAME.key          the Ed25519 private key (PKCS#8 PEM, mode 0600)\n"
	"  NAME.x25519.key   the X25519 private key (PKCS#8 PEM, mode 0600)\n"
	"  NAME.pub          the Ed25519 public key as an OpenSSH line (comment NAME)\n"
	"  NAME.x25519.pub   the X25519 public key, standard base64 of the raw 32 bytes\n"
	"in DIR (default: the current directory; created with mode 0700 when missing).\nExisting files are never replaced.\n"
	"Prints the key id (SHA-256 of the raw Ed25519 public key) and both public\n"
	"keys in base64.  The ledger is not touched: bind the key with `cymat init`\n"
	"or `cymat principal add`.\n"
	"\n"
	"Options:\n"
	"  --dir DIR    write the files in DIR\n"
	"  --json       print {\"name\",\"kid\",\"ed25519\",\"x25519\"} as one JSON object\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 written; 3 one of the files already exists (nothing is\n"
	"written) or DIR cannot be created.\n"
	"\n"
	"Examples:\n"
	"  cymat key generate director\n"
	"  cymat key generate --dir ~/.cymat --json alice\n";

static const char *const suffixes[] = { ".key", ".x25519.key", ".pub", ".x25519.pub" };
#define NFILES (sizeof(suffixes) / sizeof(suffixes[0]))

/* Create a public file exclusively and durably. */
static int write_public(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, rc = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ledger_error_set(errno == EEXIST ? LEDGER_EEXISTS : LEDGER_EIO,
		                        "cannot create \"%s\": %s", path, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", path, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = ledger_error_set(LEDGER_EIO, "cannot write \"%s\": %s", path, strerror(errno));
	return rc;
}

static int generate(const char *dir, const char *name, int json)
{
	ledger_key *ed = NULL, *x = NULL;
	char *paths[NFILES] = { NULL };
	int written[NFILES] = { 0 };
	char kid[LEDGER_HEX_ID_LEN + 1];
	char *ed_b64 = NULL, *x_b64 = NULL, *openssh = NULL, *xline = NULL, *sshline = NULL;
	uint8_t ed_pub[32], x_pub[32];
	json_t *obj;
	size_t i;
	int error = 0, rc = CLI_EXIT_INTERNAL;

	/* A key directory of its own is private: created 0700 when missing (one level). */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		cli_error("cannot create the key directory \"%s\": %s", dir, strerror(errno));
		rc = CLI_EXIT_INPUT;
		goto done;
	}
	for (i = 0; i < NFILES; i++) {
		if (asprintf(&paths[i], "%s/%s%s", dir, name, suffixes[i]) < 0) {
			paths[i] = NULL;
			cli_error("out of memory");
			goto done;
		}
		if (access(paths[i], F_OK) == 0) {
			cli_error("\"%s\" already exists; refusing to overwrite", paths[i]);
			rc = CLI_EXIT_INPUT;
			goto done;
		}
	}
	if ((error = ledger_key_generate(&ed, LEDGER_KEY_ED25519)) < 0 ||
	    (error = ledger_key_generate(&x, LEDGER_KEY_X25519)) < 0) {
		rc = cli_lib_error(error, "cannot generate keys");
		goto done;
	}
	ledger_key_public(ed_pub, ed);
	ledger_key_public(x_pub, x);
	ledger_key_id(kid, ed_pub);
	if ((error = ledger_base64_encode(&ed_b64, ed_pub, 32)) < 0 ||
	    (error = ledger_base64_encode(&x_b64, x_pub, 32)) < 0 ||
	    (error = ledger_ed25519_openssh(&openssh, ed_pub, name)) < 0) {
		rc = cli_lib_error(error, NULL);
		goto done;
	}
	/* Both public files are one line each, newline-terminated. */
	if (asprintf(&xline, "%s\n", x_b64) < 0 || asprintf(&sshline, "%s\n", openssh) < 0) {
		cli_error("out of memory");
		goto done;
	}
	if ((error = ledger_key_save(ed, paths[0])) < 0)
		goto fail;
	written[0] = 1;
	if ((error = ledger_key_save(x, paths[1])) < 0)
		goto fail;
	written[1] = 1;
	if ((error = write_public(paths[2], sshline)) < 0)
		goto fail;
	written[2] = 1;
	if ((error = write_public(paths[3], xline)) < 0)
		goto fail;
	written[3] = 1;

	if (json) {
		obj = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "kid", kid,
		                "ed25519", ed_b64, "x25519", x_b64);
		cli_print_json(obj, 0);
		json_decref(obj);
	} else {
		printf("kid     %s\ned25519 %s\nx25519  %s\n", kid, ed_b64, x_b64);
	}
	rc = CLI_EXIT_OK;
	goto done;
fail:
	rc = cli_lib_error(error, NULL);
	if (error == LEDGER_EEXISTS)
		rc = CLI_EXIT_INPUT;
	/* All four files or none. */
	for (i = 0; i < NFILES; i++)
		if (written[i])
			unlink(paths[i]);
done:
	for (i = 0; i < NFILES; i++)
		free(paths[i]);
	free(ed_b64);
	free(x_b64);
	free(openssh);
	free(xline);
	free(sshline);
	ledger_key_free(ed);
	ledger_key_free(x);
	return rc;
}

int cmd_key(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = ".", *name;
	int c, json = 0;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return cli_getopt_default(c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("missing subcommand");
	if (strcmp(argv[optind], "generate") != 0)
		return cli_usage_error("unknown subcommand \"%s\"", argv[optind]);
	if (argc - optind != 2)
		return cli_usage_error("expected one NAME");
	name = argv[optind + 1];
	if (!*name || strchr(name, '/') || name[0] == '.')
		return cli_usage_error("NAME \"%s\" must be a plain file name; use --dir", name);
	return generate(dir, name, json);
}
