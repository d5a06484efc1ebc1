/* Shared by the views (status, incident, roster, findings): the rules' view of the ledger. */
#include "config.h"

#include <stdio.h>

#include "ledger.h"
#include "cli.h"

int cli_policy_load(struct cli_policy_view *view)
{
	ledger_verify_options vopts = LEDGER_VERIFY_OPTIONS_INIT;
	int error, rc;

	view->repo = NULL;
	view->state = NULL;
	view->policy = NULL;
	if ((rc = cli_open_repo(&view->repo)) != CLI_EXIT_OK)
		return rc;
	vopts.policy_feed = 1; /* the rules judge what verification read */
	error = ledger_state_load(&view->state, view->repo, &vopts);
	if (error < 0)
		return cli_lib_error(error, "cannot load the ledger");
	error = ledger_policy_evaluate(&view->policy, view->state, view->repo, NULL);
	if (error < 0)
		return cli_lib_error(error, "cannot judge the ledger");
	return CLI_EXIT_OK;
}

void cli_policy_view_free(struct cli_policy_view *view)
{
	/* The policy borrows the state: free it first. */
	ledger_policy_free(view->policy);
	ledger_state_free(view->state);
	ledger_repo_free(view->repo);
	view->policy = NULL;
	view->state = NULL;
	view->repo = NULL;
}

const char *cli_json_str(const json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s ? s : "-";
}

int cli_finish_output(void)
{
	if (fflush(stdout) != 0) {
		cli_error("cannot write the output");
		return CLI_EXIT_INTERNAL;
	}
	return CLI_EXIT_OK;
}
