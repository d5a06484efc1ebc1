/* cymat append: records of any type from JSON bodies, for scripts. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "cli.h"

const char cmd_append_help[] =
	"usage: cymat append [--key FILE] --type TYPE [--incident ID] [--ref ID...]\n"
	"                    [--class c1|c2|c3] [--sealed FILE] [--time TIME]\n"
	"                    [--seal FILE [--to PRINCIPAL...]]\n"
	"                    [--author PRINCIPAL] [--json] BODY.json|-\n"
	"       cymat append [--key FILE] [--author PRINCIPAL] [--json]\n"
	"                    --batch FILE.jsonl|-\n"
	"\n"
	"Append one record of type TYPE whose body is the JSON object in BODY.json\n"
	"(\"-\": standard input).  Everything else is computed: agency and author from\n"
	"the key's binding, seq and prev from the key's chain, the time, the id and the\n"
	"signature.  With --batch, each line of FILE.jsonl is one record,\n"
	"{\"type\":..., \"body\":{...}} with optional \"refs\", \"incident\", \"class\",\n"
	"\"time\" and \"sealed\"; all of them are added in one commit, or none.\n"
	"Each record is judged against the ledger as the verifier would judge it once\n"
	"written (a batch's records as if those before them were in the ledger), and\n"
	"an act of the agreement (request, dispatch, ...) by its rules as well (an\n"
	"error-level rule broken refuses it, named by its rule id, e.g. R10.4);\n"
	"nothing is written when any is refused.  Prints the new record ids, one a line.\n"
	"\n"
	"With --seal, the JSON object in FILE is the record's confidential part: it is\n"
	"sealed (docs/FORMAT.md, \"Sealed content\") for every key, bound at the\n"
	"record's time, of the author, of NISC's director, deputy and managers, and\n"
	"of each --to principal, and becomes the record's \"sealed\" member.  It needs\n"
	"--class c2 or c3; the rules refuse a recipient no consent covers (R15.2).\n"
	"Read it back with `cymat show --unseal`.\n"
	"\n"
	"Options:\n"
	"  --key FILE          signing key (default $CYMAT_KEY)\n"
	"  --type TYPE         record type (a schema name: request, dispatch, ...)\n"
	"  --incident ID       the record that opened the incident\n"
	"  --ref ID            a record this one depends on (repeatable)\n"
	"  --class CLASS       confidentiality class c1 (default), c2 or c3\n"
	"  --sealed FILE       the record's sealed member, a JSON object, as it is\n"
	"                      (its structure is checked)\n"
	"  --seal FILE         seal the confidential JSON object in FILE (\"-\": stdin)\n"
	"  --to PRINCIPAL      also seal for this principal's keys (repeatable)\n"
	"  --time TIME         record time, YYYY-MM-DDTHH:MM:SSZ (default now)\n"
	"  --author PRINCIPAL  author instead of the key's own principal\n"
	"  --batch FILE        several records from a JSON-lines file\n"
	"  --json              print {\"id\",\"type\",\"seq\",\"path\",\"commit\"} a record\n"
	"  -h, --help          show this help\n"
	"\n"
	"Expert options (recovery and tests; they can make the ledger invalid):\n"
	"  --seq N --prev ID   use this chain position instead of the next one\n"
	"  --no-judge          append even when the rules refuse the record\n"
	"\n"
	"Examples:\n"
	"  cymat append --key ciso.key --type request request.json\n"
	"  cymat append --key ciso.key --type report --class c2 --incident ID \\\n"
	"      --seal detail.json --to mlit/ciso report.json\n"
	"  jq -c . day.json | cymat append --key ciso.key --batch -\n";

#define MAX_REFS 256

static const char *opt_string(json_t *line, const char *name, int *bad)
{
	json_t *v = json_object_get(line, name);

	if (v && !json_is_string(v))
		*bad = 1;
	return json_string_value(v);
}

/* Read FILE.jsonl into lines[] and records[]; both malloc'd. */
static int read_batch(json_t ***out_lines, struct cli_new_record **out_recs, size_t *out_count,
                      const char *path)
{
	static const char *const known[] = { "type", "body", "refs", "incident", "class",
	                                     "time", "sealed" };
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	char *buf = NULL, *line, *next;
	json_t **lines = NULL, **grown_lines, *value, *member_value;
	struct cli_new_record *recs = NULL, *grown_recs;
	size_t count = 0, lineno = 0, k;
	const char *member;
	int error, bad, rc = CLI_EXIT_INPUT;

	error = cli_read_file(&buf, NULL, path);
	if (error < 0) {
		cli_lib_error(error, "batch");
		goto done;
	}
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (strspn(line, " \t\r") == strlen(line))
			continue;
		grown_lines = realloc(lines, (count + 1) * sizeof(*lines));
		if (grown_lines)
			lines = grown_lines;
		grown_recs = realloc(recs, (count + 1) * sizeof(*recs));
		if (grown_recs)
			recs = grown_recs;
		if (!grown_lines || !grown_recs) {
			cli_error("out of memory");
			rc = CLI_EXIT_INTERNAL;
			goto done;
		}
		error = ledger_json_parse(&lines[count], line, strlen(line), NULL);
		if (error < 0) {
			cli_lib_error(error, "batch \"%s\" line %zu", name, lineno);
			goto done;
		}
		value = lines[count];
		count++;
		memset(&recs[count - 1], 0, sizeof(recs[0]));
		if (!json_is_object(value)) {
			cli_error("batch \"%s\" line %zu: not a JSON object", name, lineno);
			goto done;
		}
		json_object_foreach(value, member, member_value) {
			for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
				if (strcmp(member, known[k]) == 0)
					break;
			if (k == sizeof(known) / sizeof(known[0])) {
				cli_error("batch \"%s\" line %zu: unknown member \"%s\"", name,
				          lineno, member);
				goto done;
			}
		}
		bad = 0;
		recs[count - 1].type = opt_string(value, "type", &bad);
		recs[count - 1].incident = opt_string(value, "incident", &bad);
		recs[count - 1].class_ = opt_string(value, "class", &bad);
		recs[count - 1].time = opt_string(value, "time", &bad);
		recs[count - 1].body = json_object_get(value, "body");
		recs[count - 1].refs = json_object_get(value, "refs");
		recs[count - 1].sealed = json_object_get(value, "sealed");
		if (bad || !recs[count - 1].type || !json_is_object(recs[count - 1].body) ||
		    (recs[count - 1].refs && !json_is_array(recs[count - 1].refs)) ||
		    (recs[count - 1].sealed && !json_is_object(recs[count - 1].sealed))) {
			cli_error("batch \"%s\" line %zu: expected {\"type\": string, \"body\": object} "
			          "with optional string \"incident\", \"class\", \"time\", array "
			          "\"refs\" and object \"sealed\"", name, lineno);
			goto done;
		}
	}
	if (count == 0) {
		cli_error("batch \"%s\": no records", name);
		goto done;
	}
	*out_lines = lines;
	*out_recs = recs;
	*out_count = count;
	lines = NULL;
	recs = NULL;
	count = 0;
	rc = CLI_EXIT_OK;
done:
	for (k = 0; lines && k < count; k++)
		json_decref(lines[k]);
	free(lines);
	free(recs);
	free(buf);
	return rc;
}

int cmd_append(int argc, char **argv)
{
	static const struct option options[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "type", required_argument, NULL, 'T' },
		{ "incident", required_argument, NULL, 'i' },
		{ "ref", required_argument, NULL, 'r' },
		{ "class", required_argument, NULL, 'c' },
		{ "sealed", required_argument, NULL, 's' },
		{ "seal", required_argument, NULL, 'e' },
		{ "to", required_argument, NULL, 'o' },
		{ "time", required_argument, NULL, 't' },
		{ "author", required_argument, NULL, 'a' },
		{ "batch", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "seq", required_argument, NULL, 'S' },
		{ "prev", required_argument, NULL, 'P' },
		{ "no-judge", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_append_options opts = { 0 };
	struct cli_new_record one = { 0 }, *recs = NULL;
	const char *batch = NULL, *sealed_path = NULL, *seal_path = NULL;
	const char **to = calloc((size_t)argc + 1, sizeof(*to));
	json_t *refs = json_array(), *body = NULL, *sealed = NULL, *confidential = NULL;
	json_t **lines = NULL;
	size_t count = 0, nto = 0, i;
	long long seq;
	char *end;
	int c, rc;

	if (!refs || !to) {
		cli_error("out of memory");
		rc = CLI_EXIT_INTERNAL;
		goto done;
	}
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'k':
			opts.key_path = optarg;
			break;
		case 'T':
			one.type = optarg;
			break;
		case 'i':
			one.incident = optarg;
			break;
		case 'r':
			json_array_append_new(refs, json_string(optarg));
			break;
		case 'c':
			one.class_ = optarg;
			break;
		case 's':
			sealed_path = optarg;
			break;
		case 'e':
			seal_path = optarg;
			break;
		case 'o':
			to[nto++] = optarg;
			break;
		case 't':
			one.time = optarg;
			break;
		case 'a':
			opts.author = optarg;
			break;
		case 'b':
			batch = optarg;
			break;
		case 'j':
			opts.json = 1;
			break;
		case 'S':
			seq = strtoll(optarg, &end, 10);
			if (!*optarg || *end || seq < 1) {
				rc = cli_usage_error("--seq wants an integer >= 1");
				goto done;
			}
			opts.seq = seq;
			break;
		case 'P':
			opts.prev = optarg;
			break;
		case 'X':
			opts.no_judge = 1;
			break;
		default:
			rc = cli_getopt_default(c, argv);
			goto done;
		}
	}
	if (opts.prev && !opts.seq) {
		rc = cli_usage_error("--prev goes with --seq");
		goto done;
	}
	if (batch) {
		if (optind != argc || one.type || one.incident || one.class_ || one.time ||
		    sealed_path || seal_path || nto || json_array_size(refs)) {
			rc = cli_usage_error("--batch takes the records' members from the file");
			goto done;
		}
		if ((rc = read_batch(&lines, &recs, &count, batch)) != CLI_EXIT_OK)
			goto done;
		rc = cli_append_records(recs, count, &opts);
		goto done;
	}
	if (seal_path && sealed_path) {
		rc = cli_usage_error("--seal and --sealed exclude each other");
		goto done;
	}
	if (seal_path && strcmp(seal_path, "-") == 0 && argc - optind == 1 &&
	    strcmp(argv[optind], "-") == 0) {
		rc = cli_usage_error("the body and --seal cannot both be standard input");
		goto done;
	}
	if (nto && !seal_path) {
		rc = cli_usage_error("--to goes with --seal");
		goto done;
	}
	if (!one.type) {
		rc = cli_usage_error("--type is required");
		goto done;
	}
	if (argc - optind != 1) {
		rc = cli_usage_error("expected one BODY file (or - for standard input)");
		goto done;
	}
	if ((rc = cli_read_object(&body, argv[optind], "body")) != CLI_EXIT_OK)
		goto done;
	if (sealed_path && (rc = cli_read_object(&sealed, sealed_path, "sealed")) != CLI_EXIT_OK)
		goto done;
	if (seal_path &&
	    (rc = cli_read_object(&confidential, seal_path, "confidential part")) != CLI_EXIT_OK)
		goto done;
	one.body = body;
	one.refs = refs;
	one.sealed = sealed;
	one.confidential = confidential;
	one.seal_to = to;
	one.nseal_to = nto;
	rc = cli_append_records(&one, 1, &opts);
done:
	for (i = 0; i < count; i++)
		json_decref(lines[i]);
	free(lines);
	free(recs);
	json_decref(refs);
	json_decref(body);
	json_decref(sealed);
	json_decref(confidential);
	free(to);
	return rc;
}
