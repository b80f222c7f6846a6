/*
 * The GitHub source writing back (DESIGN.md section 10): one comment per
 * outcome (found again by its marker after a crash: never two), closing a
 * done issue, the pull request of a repo's agent branch; and the preflight
 * that every repo is readable with the token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "supervisor/github/parse.h"
#include "common/log.h"
#include "supervisor/github/issues_internal.h"
#include "common/util.h"

/* ---- reporting back ---- */

struct report {
	struct source_github *sg;
	const struct repo_conf *repo;
	long number;
	char *outcome, *text, *marker;
	char *key;			/* "api#12" */
	struct gh_for who;		/* its repo and key, for the limiter */
	sg_reported_fn *done;
	void *arg;
	bool ok;
};

static void
report_drop(void *arg)
{
	struct report *rp = arg;

	free(rp->outcome);
	free(rp->text);
	free(rp->marker);
	free(rp->key);
	free(rp);
}

static void
report_end(struct report *rp)
{
	rp->done(rp->repo->name, rp->number, rp->outcome, rp->ok, rp->arg);
	report_drop(rp);
}

static bool
report_failed(struct report *rp, const struct gh_response *res, const char *what)
{
	if ((res->status >= 200 && res->status < 300) || res->status == 304)
		return false;
	log_warnx("%s#%ld: reporting to GitHub: %s failed (%ld%s%s); will try again", rp->repo->name,
	    rp->number, what, res->status, res->error ? ": " : "", res->error ? res->error : "");
	rp->ok = false;
	report_end(rp);
	return true;
}

static void
report_closed(const struct gh_response *res, void *arg)
{
	struct report *rp = arg;

	if (!report_failed(rp, res, "closing the issue")) {
		rp->ok = true;
		report_end(rp);
	}
}

/* After the comment: close the issue when configured and it is done. */
static void
report_close(struct report *rp)
{
	char *path;

	if (strcmp(rp->outcome, "done") != 0 || !rp->sg->cfg->source.close_on_done) {
		rp->ok = true;
		report_end(rp);
		return;
	}
	path = xasprintf("/repos/%s/issues/%ld", rp->repo->github, rp->number);
	github_request(rp->sg->gh, &rp->who, "PATCH", path, "{\"state\":\"closed\"}", report_closed,
	    report_drop, rp);
	free(path);
}

static void
report_commented(const struct gh_response *res, void *arg)
{
	struct report *rp = arg;

	if (!report_failed(rp, res, "posting the comment"))
		report_close(rp);
}

/*
 * The comment carries a marker; one already on the issue means a report
 * went out before (a crash lost our note of it): never a second comment.
 */
static void
report_comments_listed(const struct gh_response *res, void *arg)
{
	struct report *rp = arg;
	cJSON *body;
	char *path, *text;

	if (report_failed(rp, res, "listing the comments"))
		return;
	if (gh_comments_have(res->body, rp->marker)) {
		report_close(rp);
		return;
	}
	body = cJSON_CreateObject();
	text = xasprintf("%s\n\n%s", rp->text, rp->marker);
	cJSON_AddStringToObject(body, "body", text);
	free(text);
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	path = xasprintf("/repos/%s/issues/%ld/comments", rp->repo->github, rp->number);
	github_request(rp->sg->gh, &rp->who, "POST", path, text, report_commented, report_drop, rp);
	free(path);
	free(text);
}

void
source_github_report(struct source_github *sg, const char *repo, long number,
    const char *outcome, const char *text, sg_reported_fn *done, void *arg)
{
	const struct repo_conf *conf = config_repo(sg->cfg, repo);
	struct report *rp;
	char *path;

	if (conf == NULL || conf->github == NULL) {
		done(repo, number, outcome, true, arg);	/* nothing to report to */
		return;
	}
	rp = xcalloc(1, sizeof(*rp));
	rp->sg = sg;
	rp->repo = conf;
	rp->number = number;
	rp->outcome = xstrdup(outcome);
	rp->text = xstrdup(text);
	rp->marker = xasprintf("<!-- waved: %s#%ld %s -->", repo, number, outcome);
	rp->key = xasprintf("%s#%ld", conf->name, number);
	rp->who = (struct gh_for){ .repo = conf->name, .issue = rp->key };
	rp->done = done;
	rp->arg = arg;
	path = xasprintf("/repos/%s/issues/%ld/comments?per_page=100", conf->github, number);
	github_request(sg->gh, &rp->who, "GET", path, NULL, report_comments_listed, report_drop, rp);
	free(path);
}

/* ---- preflight ---- */

struct preflight {
	const struct repo_conf *repo;
	struct strbuf *errors;
	int *failures;
};

static void
preflight_done(const struct gh_response *res, void *arg)
{
	struct preflight *p = arg;

	if (res->status != 200) {
		strbuf_addf(p->errors, "repo %s: GitHub repo %s is not readable with this token (%s%ld%s%s)\n",
		    p->repo->name, p->repo->github, res->status ? "HTTP " : "", res->status,
		    res->error ? ": " : "", res->error ? res->error : "");
		(*p->failures)++;
	}
	free(p);
}

int
source_github_preflight(const struct config *cfg, struct github *gh, struct strbuf *errors)
{
	int failures = 0, asked = 0;

	for (size_t k = 0; k < cfg->nrepos; k++) {
		struct preflight *p;
		char *path;

		if (cfg->repos[k].github == NULL)
			continue;
		p = xcalloc(1, sizeof(*p));
		p->repo = &cfg->repos[k];
		p->errors = errors;
		p->failures = &failures;
		path = xasprintf("/repos/%s", cfg->repos[k].github);
		github_request(gh, &(struct gh_for){ .repo = p->repo->name }, "GET", path, NULL,
		    preflight_done, free, p);
		free(path);
		asked++;
	}
	github_wait(gh, cfg->git_timeout * 1000);
	if (github_pending(gh) > 0) {
		strbuf_addf(errors, "GitHub did not answer within %d s\n", cfg->git_timeout);
		return -1;
	}
	return failures ? -1 : 0;
}

/* ---- one pull request per repo, from the agent branch to the base ---- */

struct pr_update {
	struct source_github *sg;
	const struct repo_conf *repo;
	char *body;
};

static void
pr_update_drop(void *arg)
{
	struct pr_update *u = arg;

	free(u->body);
	free(u);
}

static void
pr_written(const struct gh_response *res, void *arg)
{
	struct pr_update *u = arg;

	if (res->status < 200 || res->status >= 300)
		log_warnx("repo %s: GitHub refused the pull request (%ld): is %s pushed to %s?",
		    u->repo->name, res->status, u->sg->cfg->agent_branch, u->repo->github);
	pr_update_drop(u);
}

static void
pr_listed(const struct gh_response *res, void *arg)
{
	struct pr_update *u = arg;
	const struct config *cfg = u->sg->cfg;
	bool ok = res->status == 200 || res->status == 304;
	cJSON *arr = ok ? cJSON_Parse(res->body) : NULL, *req = cJSON_CreateObject();
	long number = github_number(cJSON_GetArrayItem(arr, 0), "number");
	char *path, *text;

	if (!ok) {
		log_warnx("repo %s: listing pull requests failed (%ld)", u->repo->name, res->status);
		cJSON_Delete(req);
		pr_update_drop(u);
		return;
	}
	cJSON_AddStringToObject(req, "body", u->body);
	if (number > 0)
		path = xasprintf("/repos/%s/pulls/%ld", u->repo->github, number);
	else {
		char *title = xasprintf("waved: %s", cfg->agent_branch);
		cJSON_AddStringToObject(req, "title", title);
		cJSON_AddStringToObject(req, "head", cfg->agent_branch);
		cJSON_AddStringToObject(req, "base", cfg->base_branch);
		free(title);
		path = xasprintf("/repos/%s/pulls", u->repo->github);
	}
	text = cJSON_PrintUnformatted(req);
	github_request(u->sg->gh, &(struct gh_for){ .repo = u->repo->name },
	    number > 0 ? "PATCH" : "POST", path, text, pr_written, pr_update_drop, u);
	cJSON_Delete(req);
	cJSON_Delete(arr);
	free(text);
	free(path);
}

void
source_github_update_pr(struct source_github *sg, const char *repo, const long *numbers, size_t n)
{
	const struct repo_conf *conf = config_repo(sg->cfg, repo);
	struct strbuf body = { 0 };
	struct pr_update *u;
	char *path, *owner, *head, *base;

	if (conf == NULL || conf->github == NULL)
		return;
	strbuf_addf(&body, "The work waved landed on `%s`:\n\n", sg->cfg->agent_branch);
	for (size_t k = 0; k < n; k++)
		strbuf_addf(&body, "Issue: #%ld\n", numbers[k]);
	u = xcalloc(1, sizeof(*u));
	u->sg = sg;
	u->repo = conf;
	u->body = strbuf_take(&body);
	owner = strndup(conf->github, strcspn(conf->github, "/"));
	head = github_query_escape(sg->cfg->agent_branch);
	base = github_query_escape(sg->cfg->base_branch);
	path = xasprintf("/repos/%s/pulls?state=open&head=%s:%s&base=%s", conf->github, owner,
	    head, base);
	free(head);
	free(base);
	github_request(sg->gh, &(struct gh_for){ .repo = conf->name }, "GET", path, NULL, pr_listed,
	    pr_update_drop, u);
	free(path);
	free(owner);
}
