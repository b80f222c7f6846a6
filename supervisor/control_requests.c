/*
 * The control socket's requests: cap N|up|down, pause, resume, retry,
 * reload.  The same levers the signals pull (supervisor/admission.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "supervisor/backlog.h"
#include "supervisor/supervisor.h"

static cJSON *
cap_reply(struct supervisor *sv, int was)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "cap", admission_configured(sv->admission));
	cJSON_AddNumberToObject(o, "effective_cap", admission_effective(sv->admission));
	cJSON_AddNumberToObject(o, "was", was);
	return o;
}

static cJSON *
control_cap(struct supervisor *sv, const char *arg, char **error)
{
	int was = admission_effective(sv->admission);
	long n;

	if (arg && strcmp(arg, "up") == 0)
		admission_step(sv->admission, +1, "control", "wavectl cap up");
	else if (arg && strcmp(arg, "down") == 0)
		admission_step(sv->admission, -1, "control", "wavectl cap down");
	else if (arg && (strcmp(arg, "0") == 0 || parse_positive_long(arg, &n)))
		admission_set(sv->admission, strcmp(arg, "0") == 0 ? 0 : (int)(n > 10000 ? 10000 : n),
		    "control", "wavectl cap");
	else {
		*error = xstrdup("cap: expected a number, up or down");
		return NULL;
	}
	return cap_reply(sv, was);
}

cJSON *
control_requests_handle(const char *cmd, const char *arg, char **error, uint64_t ticket, void *ctx)
{
	struct supervisor *sv = ctx;
	int was = admission_effective(sv->admission);

	if (!sched_can_act(sv->sched)) {
		*error = xstrdup("the state database cannot be written: waved acts on nothing until "
		    "it can (see its log)");
		return NULL;
	}
	if (strcmp(cmd, "cap") == 0)
		return control_cap(sv, arg, error);
	if (strcmp(cmd, "pause") == 0) {
		if (was > 0)
			sv->paused_from = was;
		admission_set(sv->admission, 0, "control", "wavectl pause");
		return cap_reply(sv, was);
	}
	if (strcmp(cmd, "resume") == 0) {
		admission_set(sv->admission, sv->paused_from > 0 ? sv->paused_from :
		    admission_configured(sv->admission), "control", "wavectl resume");
		return cap_reply(sv, was);
	}
	if (strcmp(cmd, "retry") == 0) {
		if (arg == NULL) {
			*error = xstrdup("retry: expected an issue, as in api#12");
			return NULL;
		}
		if (backlog_retry(sv->sched, arg, error) == -1)
			return NULL;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "issue", arg);
		return o;
	}
	if (strcmp(cmd, "reload") == 0) {
		if (reload_request(sv, ticket) == -1) {
			*error = xstrdup("reload refused: keeping the running configuration (see the log)");
			return NULL;
		}
		return CONTROL_LATER;	/* answered once the preflight is through */
	}
	*error = xasprintf("unknown command \"%.32s\": expected cap, pause, resume, retry or reload",
	    cmd);
	return NULL;
}

