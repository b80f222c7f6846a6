#include "supervisor/github/issues.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "supervisor/github/parse.h"
#include "common/log.h"
#include "supervisor/github/issues_internal.h"
#include "common/util.h"

#define BACKOFF_FIRST_S 1

struct sg_repo {
	struct source_github *sg;
	const struct repo_conf *conf;
	struct issue_list issues;	/* the last complete, successful poll */
	struct issue_list building;	/* the poll under way */
	int inflight;			/* its requests not answered yet */
	bool failed;			/* something in this poll went wrong: keep the last */
	char why[256];			/* what went wrong, when failed */
	bool polled;			/* polled once, successfully or not */
	int64_t next_poll;		/* monotonic ms */
	int interval_s;			/* poll_interval, or more if GitHub asks */
	int backoff_s;
	long milestone;			/* its number; 0: not looked up yet */
	int requests;			/* sent by the poll under way */
	int cost;			/* sent by the last poll: what the next will cost */
};

/* An issue of a repo that is not configured: satisfied once closed. */
struct external {
	char key[160];			/* owner/name#N */
	bool closed;
	bool asked;			/* a request is under way */
};


struct sg_request {
	struct sg_repo *r;
	char *url;
	size_t issue;			/* index into r->building, for dependencies */
	size_t ext;			/* index into sg->ext: the array grows under requests */
};

/* ---- small helpers ---- */

static struct sg_request *
request_new(struct sg_repo *r, const char *url)
{
	struct sg_request *q = xcalloc(1, sizeof(*q));

	q->r = r;
	q->url = xstrdup(url);
	return q;
}

static void
request_free(struct sg_request *q)
{
	free(q->url);
	free(q);
}

static void
request_drop(void *q)
{
	request_free(q);
}

/* GET url (the client sends the ETag it holds for it). */
static void
get(struct sg_repo *r, struct sg_request *q, gh_done_fn *done)
{
	r->inflight++;
	r->requests++;
	github_request(r->sg->gh, &(struct gh_for){ .repo = r->conf->name }, "GET", q->url, NULL,
	    done, request_drop, q);
}

/* The configured repo for owner/name, or NULL. */
static const struct repo_conf *
repo_by_github(const struct config *cfg, const char *owner_name)
{
	for (size_t k = 0; k < cfg->nrepos; k++)
		if (cfg->repos[k].github && strcasecmp(cfg->repos[k].github, owner_name) == 0)
			return &cfg->repos[k];
	return NULL;
}

/* ---- dependencies ---- */

static struct external *
external_find(struct source_github *sg, const char *key)
{
	for (size_t k = 0; k < sg->next; k++)
		if (strcmp(sg->ext[k].key, key) == 0)
			return &sg->ext[k];
	return NULL;
}

static void external_done(const struct gh_response *res, void *arg);

/* Add a dependency on owner/name#N (or same-repo #N when owner_name is NULL). */
static void
add_dep(struct sg_repo *r, struct issue_spec *spec, const char *owner_name, long number)
{
	const struct repo_conf *target;
	const char *repo;
	char key[160];

	/* What an issue body or an answer names reaches a URL only once checked. */
	if (number <= 0 || number > 2147483647L ||
	    (owner_name && !github_owner_name_valid(owner_name))) {
		log_warnx("repo %s: a dependency on \"%.80s#%ld\" is not an issue of owner/name: "
		    "ignored", r->conf->name, owner_name ? owner_name : "", number);
		return;
	}
	target = owner_name ? repo_by_github(r->sg->cfg, owner_name) : r->conf;
	repo = repo_intern(target ? target->name : owner_name);
	for (size_t k = 0; k < spec->ndeps; k++)
		if (spec->deps[k].number == number && spec->deps[k].repo == repo)
			return;	/* interned: the same name is the same pointer */
	if (target) {
		issue_spec_add_dep(spec, target->name, number);
		return;
	}
	/* Not configured: remembered by owner/name, asked about until closed. */
	issue_spec_add_dep(spec, owner_name, number);
	snprintf(key, sizeof(key), "%s#%ld", owner_name, number);
	struct external *e = external_find(r->sg, key);
	if (e == NULL) {
		struct source_github *sg = r->sg;
		grow_array((void **)&sg->ext, &sg->ext_cap, sg->next + 1, sizeof(*sg->ext));
		e = &sg->ext[sg->next++];
		memset(e, 0, sizeof(*e));
		strlcpy(e->key, key, sizeof(e->key));
	}
	if (!e->closed && !e->asked) {
		char *url = xasprintf("/repos/%s/issues/%ld", owner_name, number);
		struct sg_request *q = request_new(r, url);

		q->ext = (size_t)(e - r->sg->ext);
		e->asked = true;
		get(r, q, external_done);
		free(url);
	}
}

/* ---- the poll of one repo ---- */

static void poll_finished(struct sg_repo *r);

/*
 * The interval of every repo's polls: poll_interval, stretched evenly when
 * the polls (each costs what the repo's last one sent) would take more than
 * four fifths of requests_per_minute; the rest is for comments, closes and
 * pull requests.  The limiter holds whatever passes it anyway: this keeps
 * polls from queueing up behind it.
 */
static int
stretched_interval(const struct source_github *sg)
{
	long per_round = 0, budget = (long)github_requests_per_minute(sg->gh) * 4 / 5;
	long need;

	for (size_t k = 0; k < sg->nrepos; k++)
		per_round += sg->repos[k].cost > 0 ? sg->repos[k].cost : 1;
	if (budget < 1)
		budget = 1;
	need = (per_round * 60 + budget - 1) / budget;
	return need > sg->cfg->poll_interval ? (int)need : sg->cfg->poll_interval;
}

/*
 * The interval in force and the budget, for wavectl status: STATE/github.json,
 * written whole when either changes.  Only the daemon's source writes it (the
 * one with an event log; waved --source-issues reads the source too).
 */
static void
interval_show(struct source_github *sg)
{
	int rpm = github_requests_per_minute(sg->gh);
	char *path, *text;

	if (sg->events == NULL || (sg->shown_interval == sg->interval_s && sg->shown_rpm == rpm))
		return;
	path = xasprintf("%s/github.json", sg->cfg->state_dir);
	text = xasprintf("{\"poll_interval\":%d,\"requests_per_minute\":%d}\n", sg->interval_s,
	    rpm);
	if (write_file_whole(path, text) == 0) {
		sg->shown_interval = sg->interval_s;
		sg->shown_rpm = rpm;
	} else
		log_warn("%s", path);
	free(path);
	free(text);
}

/* The repo's interval in force: the stretched one, or longer when GitHub asks. */
static int
repo_interval(const struct sg_repo *r)
{
	return r->interval_s > r->sg->interval_s ? r->interval_s : r->sg->interval_s;
}

/*
 * A response that is not a success: backoff, or a configuration error.  A
 * rate limit never comes here: the client holds every request until it
 * ends and sends the limited one again.
 */
static void
poll_failed(struct sg_repo *r, const struct gh_response *res, const char *what)
{
	int64_t now = mono_ms();

	r->failed = true;
	if (res->status == 401 || res->status == 403 || res->status == 404) {
		snprintf(r->why, sizeof(r->why), "GitHub answered %ld for %s (%s): check [repo \"%s\"] "
		    "github and the token", res->status, r->conf->github, what, r->conf->name);
		if (!r->sg->once)
			log_warnx("repo %s: %s", r->conf->name, r->why);
		r->next_poll = now + (int64_t)repo_interval(r) * 1000;
		return;
	}
	/* 5xx or the network: try again soon, then less and less often. */
	if (res->status)
		snprintf(r->why, sizeof(r->why), "%s from GitHub failed (a server error: HTTP %ld)",
		    what, res->status);
	else
		snprintf(r->why, sizeof(r->why), "%s from GitHub failed (%s)", what, res->error);
	if (!r->sg->once)
		log_warnx("repo %s: %s: retrying in %d s", r->conf->name, r->why, r->backoff_s);
	r->next_poll = now + (int64_t)r->backoff_s * 1000;
	r->backoff_s = r->backoff_s * 2 > repo_interval(r) ? repo_interval(r) : r->backoff_s * 2;
}

/* The body of a 200, or of the page a 304 stands for; NULL (poll failed) otherwise. */
static const char *
page_body(struct sg_repo *r, const struct gh_response *res, const char **next, const char *what)
{
	if (res->status != 200 && res->status != 304) {
		poll_failed(r, res, what);
		return NULL;
	}
	if (next)
		*next = res->next;
	if (res->poll_interval > r->interval_s)
		r->interval_s = (int)res->poll_interval;
	return res->body;
}

static void
external_done(const struct gh_response *res, void *arg)
{
	struct sg_request *q = arg;
	struct sg_repo *r = q->r;
	const char *body = NULL;
	cJSON *o;

	/* An issue we cannot see stays unsatisfied; only a refusal (403, 429 with no
	 * limit to wait out: the client waits those out itself) fails the poll. */
	if (res->status == 200 || res->status == 304 || res->status == 403 || res->status == 429)
		body = page_body(r, res, NULL, "an issue lookup");
	else
		log_warnx("repo %s: dependency %s: GitHub answered %ld; it stays unsatisfied",
		    r->conf->name, r->sg->ext[q->ext].key, res->status);
	o = body ? cJSON_Parse(body) : NULL;
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(o, "state"));
	struct external *e = &r->sg->ext[q->ext];

	e->asked = false;
	if (state && strcmp(state, "closed") == 0)
		e->closed = true;
	cJSON_Delete(o);
	request_free(q);
	if (--r->inflight == 0)
		poll_finished(r);
}

static void
deps_done(const struct gh_response *res, void *arg)
{
	struct sg_request *q = arg;
	struct sg_repo *r = q->r;
	const cJSON *item;
	cJSON *arr = NULL;
	const char *body;

	/* A GitHub without the dependencies API (404) has no such dependencies. */
	if (res->status != 404 && (body = page_body(r, res, NULL, "a dependency list")) != NULL)
		arr = cJSON_Parse(body);
	cJSON_ArrayForEach(item, arr) {
		long number = github_number(item, "number");
		const char *repo_url = cJSON_GetStringValue(cJSON_GetObjectItem(item, "repository_url"));
		const char *slash = repo_url ? strstr(repo_url, "/repos/") : NULL;

		if (number > 0 && slash)
			add_dep(r, &r->building.v[q->issue], slash + 7, number);
		else if (number > 0)
			add_dep(r, &r->building.v[q->issue], NULL, number);
	}
	cJSON_Delete(arr);
	request_free(q);
	if (--r->inflight == 0)
		poll_finished(r);
}

/* A "pool:NAME" label puts the issue in that [pool]; an unknown one is reported. */
static void
pool_label(struct sg_repo *r, const cJSON *item, struct issue_spec *spec)
{
	const cJSON *label;

	cJSON_ArrayForEach(label, cJSON_GetObjectItem(item, "labels")) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(label, "name"));

		if (name == NULL || strncmp(name, "pool:", 5) != 0)
			continue;
		if (config_pool(r->sg->cfg, name + 5) < 0) {
			log_warnx("repo %s: issue #%ld: label \"%.64s\" names no configured [pool]; "
			    "its repo's pool applies", r->conf->name, spec->number, name);
			continue;
		}
		strlcpy(spec->pool, name + 5, sizeof(spec->pool));
	}
}

/* A dependency named in a body, for add_dep. */
struct body_dep {
	struct sg_repo *r;
	size_t index;		/* the issue's place in r->building */
};

static void
body_dep(const char *owner_name, long number, void *arg)
{
	struct body_dep *d = arg;

	add_dep(d->r, &d->r->building.v[d->index], owner_name, number);
}

/* One issue of a listing page: checked field by field; pull requests skipped. */
static void
add_listed_issue(struct sg_repo *r, const cJSON *item)
{
	size_t index = r->building.n;
	struct issue_spec *spec;
	int rc = gh_listed_issue(item, r->conf->name, &r->building);

	if (rc == -1)
		log_warnx("repo %s: an issue without a number or title in GitHub's answer; skipped",
		    r->conf->name);
	if (rc != 1)
		return;
	spec = &r->building.v[index];
	pool_label(r, item, spec);
	gh_body_deps(spec->body, body_dep, &(struct body_dep){ r, index });
	char *url = xasprintf("/repos/%s/issues/%ld/dependencies/blocked_by", r->conf->github,
	    spec->number);
	struct sg_request *q = request_new(r, url);
	q->issue = index;
	get(r, q, deps_done);
	free(url);
}

static void
list_done(const struct gh_response *res, void *arg)
{
	struct sg_request *q = arg;
	struct sg_repo *r = q->r;
	const char *next = NULL, *body = page_body(r, res, &next, "the issue list");
	cJSON *arr = body ? cJSON_Parse(body) : NULL;
	const cJSON *item;

	if (body && !cJSON_IsArray(arr)) {
		strlcpy(r->why, "GitHub's issue list is not a JSON array", sizeof(r->why));
		if (!r->sg->once)
			log_warnx("repo %s: %s", r->conf->name, r->why);
		r->failed = true;
	}
	cJSON_ArrayForEach(item, arr)
		add_listed_issue(r, item);
	cJSON_Delete(arr);
	if (!r->failed && next) {
		struct sg_request *n = request_new(r, next);
		get(r, n, list_done);
	}
	request_free(q);
	if (--r->inflight == 0)
		poll_finished(r);
}

/* The label, escaped for a query string. */
static char *
curl_escape_label(const char *label)
{
	char *e = curl_easy_escape(NULL, label, 0), *copy = xstrdup(e ? e : "");

	curl_free(e);
	return copy;
}

static void
list_first_page(struct sg_repo *r)
{
	char *label = curl_escape_label(r->sg->cfg->source.label);
	char *url = r->milestone > 0 ?
	    xasprintf("/repos/%s/issues?state=open&labels=%s&milestone=%ld&per_page=100",
	    r->conf->github, label, r->milestone) :
	    xasprintf("/repos/%s/issues?state=open&labels=%s&per_page=100", r->conf->github, label);

	get(r, request_new(r, url), list_done);
	free(url);
	free(label);
}

static void
milestones_done(const struct gh_response *res, void *arg)
{
	struct sg_request *q = arg;
	struct sg_repo *r = q->r;
	const char *body = page_body(r, res, NULL, "the milestones");
	cJSON *arr = body ? cJSON_Parse(body) : NULL;
	const cJSON *item;

	cJSON_ArrayForEach(item, arr) {
		const char *title = cJSON_GetStringValue(cJSON_GetObjectItem(item, "title"));
		if (title && strcmp(title, r->sg->cfg->source.milestone) == 0)
			r->milestone = github_number(item, "number");
	}
	cJSON_Delete(arr);
	if (body && r->milestone <= 0) {
		log_warnx("repo %s: no milestone \"%s\" in %s: no issues from it", r->conf->name,
		    r->sg->cfg->source.milestone, r->conf->github);
		issue_list_clear(&r->issues);	/* the filter matches nothing, truly */
	} else if (body)
		list_first_page(r);
	request_free(q);
	if (--r->inflight == 0)
		poll_finished(r);
}

static void
poll_repo(struct sg_repo *r)
{
	issue_list_clear(&r->building);
	r->failed = false;
	r->requests = 0;
	if (r->sg->cfg->source.milestone && r->milestone <= 0) {
		char *url = xasprintf("/repos/%s/milestones?state=all&per_page=100", r->conf->github);
		get(r, request_new(r, url), milestones_done);
		free(url);
	} else
		list_first_page(r);
}

/* Every repo's latest good issues, together, to the scheduler. */
static void
deliver(struct source_github *sg)
{
	struct issue_list all = { 0 };

	for (size_t k = 0; k < sg->nrepos; k++)
		for (size_t i = 0; i < sg->repos[k].issues.n; i++)
			*issue_list_add(&all) = sg->repos[k].issues.v[i];	/* borrowed */
	sg->on_issues(&all, sg->arg);
	free(all.v);
}

static void
poll_finished(struct sg_repo *r)
{
	r->polled = true;
	r->cost = r->requests;
	r->sg->interval_s = stretched_interval(r->sg);
	interval_show(r->sg);
	if (!r->failed) {
		struct issue_list old = r->issues;

		r->issues = r->building;
		r->building = old;
		issue_list_clear(&r->building);
		r->backoff_s = BACKOFF_FIRST_S;
		r->next_poll = mono_ms() + (int64_t)repo_interval(r) * 1000;
	} else
		issue_list_clear(&r->building);	/* a failed poll never drops known issues */
	deliver(r->sg);
}

/* ---- the source ---- */

static void
repo_clear(struct sg_repo *r)
{
	issue_list_clear(&r->issues);
	issue_list_clear(&r->building);
	memset(r, 0, sizeof(*r));
}

/*
 * The repo table of a configuration: a repo the previous table had (same
 * owner/name) keeps its issues, caches and clocks.  Rebuilt only while no
 * request is in flight, since requests point into the table.
 */
static void
repos_build(struct source_github *sg, const struct config *cfg)
{
	struct sg_repo *old = sg->repos;
	size_t nold = sg->nrepos;
	bool same_milestone = sg->cfg && !!sg->cfg->source.milestone == !!cfg->source.milestone &&
	    (!cfg->source.milestone || strcmp(sg->cfg->source.milestone, cfg->source.milestone) == 0);

	sg->repos = xcalloc(cfg->nrepos, sizeof(*sg->repos));
	sg->nrepos = 0;
	for (size_t k = 0; k < cfg->nrepos; k++) {
		struct sg_repo *r = &sg->repos[sg->nrepos];

		if (cfg->repos[k].github == NULL)
			continue;
		for (size_t o = 0; o < nold; o++)
			if (old[o].conf && strcasecmp(old[o].conf->github, cfg->repos[k].github) == 0) {
				*r = old[o];
				memset(&old[o], 0, sizeof(old[o]));
				break;
			}
		if (r->sg == NULL) {
			r->interval_s = cfg->poll_interval;
			r->backoff_s = BACKOFF_FIRST_S;
		}
		if (!same_milestone)
			r->milestone = 0;
		r->sg = sg;
		r->conf = &cfg->repos[k];
		sg->nrepos++;
	}
	for (size_t o = 0; o < nold; o++)
		repo_clear(&old[o]);
	free(old);
	config_release(sg->cfg);
	sg->cfg = config_hold(cfg);
	sg->interval_s = stretched_interval(sg);
	interval_show(sg);
}

struct source_github *
source_github_new(const struct config *cfg, struct github *gh, struct events *events,
    sg_issues_fn *issues, void *arg)
{
	struct source_github *sg = xcalloc(1, sizeof(*sg));

	sg->gh = gh;
	sg->events = events;
	sg->on_issues = issues;
	sg->arg = arg;
	repos_build(sg, cfg);
	return sg;
}

void
source_github_reconfigure(struct source_github *sg, const struct config *cfg)
{
	config_release(sg->next_cfg);
	sg->next_cfg = config_hold(cfg);
}

/* Take up a reload once nothing in flight points into the repo table. */
static void
take_up_reload(struct source_github *sg)
{
	if (sg->next_cfg == NULL || github_pending(sg->gh) > 0)
		return;
	repos_build(sg, sg->next_cfg);
	config_release(sg->next_cfg);
	sg->next_cfg = NULL;
}

void
source_github_free(struct source_github *sg)
{
	if (sg == NULL)
		return;
	for (size_t k = 0; k < sg->nrepos; k++)
		repo_clear(&sg->repos[k]);
	free(sg->repos);
	free(sg->ext);
	config_release(sg->cfg);
	config_release(sg->next_cfg);
	free(sg);
}

void
source_github_tick(struct source_github *sg)
{
	int64_t now = mono_ms();

	take_up_reload(sg);
	if (github_held_until(sg->gh))
		return;		/* a rate limit: polls would only queue up behind it */
	for (size_t k = 0; k < sg->nrepos; k++)
		if (sg->repos[k].inflight == 0 && now >= sg->repos[k].next_poll)
			poll_repo(&sg->repos[k]);
}

int64_t
source_github_next_deadline(const struct source_github *sg)
{
	int64_t next = INT64_MAX, held = github_held_until(sg->gh);

	for (size_t k = 0; k < sg->nrepos; k++)
		if (sg->repos[k].inflight == 0 && sg->repos[k].next_poll < next)
			next = sg->repos[k].next_poll;
	return next < held ? held : next;
}

void
source_github_poll_all(struct source_github *sg)
{
	int64_t now = mono_ms();

	for (size_t k = 0; k < sg->nrepos; k++) {
		struct sg_repo *r = &sg->repos[k];

		/* A repo that GitHub asked to wait (x-poll-interval) or that backs off keeps its time. */
		if (r->inflight == 0 && r->next_poll <= now + (int64_t)repo_interval(r) * 1000)
			r->next_poll = now;
	}
	source_github_tick(sg);
}

bool
source_github_ready(const struct source_github *sg)
{
	for (size_t k = 0; k < sg->nrepos; k++)
		if (!sg->repos[k].polled)
			return false;
	return true;
}

bool
source_github_dep_closed(const struct issue_ref *dep, void *arg)
{
	struct source_github *sg = arg;
	char key[160];
	struct external *e;

	snprintf(key, sizeof(key), "%s#%ld", dep->repo, dep->number);
	e = external_find(sg, key);
	return e && e->closed;
}

int
source_github_interval(const struct source_github *sg)
{
	return sg->interval_s;
}

/* The latest issues, copied: what source_github_read_once hands back. */
static void
copy_issues(const struct issue_list *issues, void *arg)
{
	struct issue_list *out = arg;

	issue_list_clear(out);
	for (size_t k = 0; k < issues->n; k++) {
		const struct issue_spec *from = &issues->v[k];
		struct issue_spec *to = issue_list_add(out);

		*to = *from;
		to->title = xstrdup(from->title);
		to->body = xstrdup(from->body);
		to->deps = xcalloc(from->ndeps, sizeof(*to->deps));
		if (from->ndeps)
			memcpy(to->deps, from->deps, from->ndeps * sizeof(*to->deps));
	}
}

/*
 * A dependency on an issue closed upstream (of a repo waved does not
 * manage) is met, as the daemon counts it (sched_set_external): left out of
 * what read_once hands back, so that wavectl plan plans as the daemon runs.
 */
static void
drop_closed_externals(struct source_github *sg, struct issue_list *issues)
{
	for (size_t k = 0; k < issues->n; k++) {
		struct issue_spec *spec = &issues->v[k];
		size_t kept = 0;

		for (size_t d = 0; d < spec->ndeps; d++)
			if (!source_github_dep_closed(&spec->deps[d], sg))
				spec->deps[kept++] = spec->deps[d];
		spec->ndeps = kept;
	}
}

int
source_github_read_once(const struct config *cfg, struct issue_list *out, struct strbuf *errors)
{
	char *err = NULL;
	struct github *gh = github_open(cfg, &err);
	struct source_github *sg;
	int rc = 0;

	if (gh == NULL) {
		strbuf_addf(errors, "%s\n", err);
		free(err);
		return -1;
	}
	sg = source_github_new(cfg, gh, NULL, copy_issues, out);
	sg->once = true;
	source_github_poll_all(sg);
	github_wait(gh, cfg->git_timeout * 1000);
	if (github_pending(gh) > 0 || !source_github_ready(sg)) {
		strbuf_addf(errors, "GitHub did not answer within %d s (git_timeout)\n",
		    cfg->git_timeout);
		rc = -1;
	}
	for (size_t k = 0; k < sg->nrepos; k++)
		if (sg->repos[k].failed) {
			strbuf_addf(errors, "repo %s: %s\n", sg->repos[k].conf->name, sg->repos[k].why);
			rc = -1;
		}
	drop_closed_externals(sg, out);
	source_github_free(sg);
	github_free(gh);
	if (rc == -1)
		issue_list_clear(out);
	return rc;
}
