#include "supervisor/pulls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "supervisor/github/pulls_parse.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/util.h"
#include "supervisor/awaiting.h"

#define REVIEWS_MAX 32

/* The requests of one issue's pull request, one at a time, in this order. */
enum step {
	STEP_FIND,		/* the open pull request of the head branch */
	STEP_WRITE,		/* open it, or update its title and body */
	STEP_PULL,		/* merged, closed, or open on which head */
	STEP_REVIEWS,		/* changes requested on that head */
	STEP_COMMENTS,		/* the inline comments of those reviews */
	STEP_CHECKS,		/* check runs on the head */
	STEP_STATUS,		/* commit statuses on the head */
	STEP_COUNT
};

struct watch {
	struct pulls *p;
	size_t issue;
	char *key;
	bool busy;
	int64_t next;			/* monotonic ms: when it is due */
	enum step step;
	char *path;			/* of the request in flight */
	char github[256];		/* its repo's owner/name (a reload may free the conf) */
	char repo_name[REPO_NAME_MAX + 1];
	char branch[128];
	struct gh_pull pull;		/* found (STEP_FIND) or read (STEP_PULL) */
	long ids[REVIEWS_MAX];		/* reviews that requested changes on the head */
	int nids;
	struct strbuf reviews, checks;	/* the feedback being gathered */
};

struct pulls {
	const struct config *cfg;	/* held */
	struct github *gh;
	struct sched *sched;
	struct watch **w;
	size_t n, cap;
	int pending;
};


/* ---- the watches ---- */

static struct watch *
watch_of(struct pulls *p, size_t issue, const char *key)
{
	struct watch *w;

	for (size_t k = 0; k < p->n; k++)
		if (p->w[k]->issue == issue)
			return p->w[k];
	w = xcalloc(1, sizeof(*w));
	w->p = p;
	w->issue = issue;
	w->key = xstrdup(key);
	grow_array((void **)&p->w, &p->cap, p->n + 1, sizeof(*p->w));
	p->w[p->n++] = w;
	return w;
}

static void
watch_free(struct watch *w)
{
	strbuf_free(&w->reviews);
	strbuf_free(&w->checks);
	free(w->path);
	free(w->key);
	free(w);
}

/* The client freed with a request in flight: the watch is the watcher's to free. */
static void
request_dropped(void *arg)
{
	(void)arg;
}

static void
request(struct watch *w, enum step step, const char *method, char *path, const char *body,
    gh_done_fn *done)
{
	free(w->path);
	w->path = path;
	w->step = step;
	w->busy = true;
	w->p->pending++;
	/* The client's one limiter and ETag cache: a rate limit never reaches the watch. */
	github_request(w->p->gh, &(struct gh_for){ .repo = w->repo_name, .issue = w->key }, method,
	    path, body, done, request_dropped, w);
}

/* Not now: again at the next interval. */
static void
give_up_for_now(struct watch *w, const struct gh_response *res)
{
	int64_t wait_ms = (int64_t)w->p->cfg->poll_interval * 1000;

	log_warnx("%s: its pull request: GitHub answered %ld%s%s for %s; again in %lld s", w->key,
	    res->status, res->error ? ": " : "", res->error ? res->error : "", w->path,
	    (long long)(wait_ms / 1000));
	w->busy = false;
	w->next = mono_ms() + (wait_ms > 0 ? wait_ms : 0);
}

static void
rest(struct watch *w)
{
	w->busy = false;
	w->next = mono_ms() + (int64_t)w->p->cfg->poll_interval * 1000;
}

/*
 * The body of an answer: fresh, or the one a 304 stands for (the client's
 * ETag cache), "{}" for a missing resource when missing_ok; NULL after a
 * failure (the watch rests).  The body lives until the callback returns.
 */
static const char *
answer(struct watch *w, const struct gh_response *res, bool missing_ok)
{
	w->p->pending--;
	if (missing_ok && res->status == 404)
		return "{}";
	if ((res->status < 200 || res->status >= 300) && res->status != 304) {
		give_up_for_now(w, res);
		return NULL;
	}
	return res->body ? res->body : "";
}

/* ---- after a push: open the pull request, or update the one opened before ---- */

static char *
pull_body(const struct pulls *p, const struct awaiting_pull *v)
{
	return xasprintf("Closes #%ld\n\n"
	    "Opened by waved for %s: attempt %d, trace `%s`, feedback round %d of %d.\n"
	    "Agent time so far: %lld s, of which wasted: %lld s.\n",
	    v->number, v->key, v->attempts, v->trace, v->round, p->cfg->pr_rounds,
	    (long long)(v->agent_ms / 1000), (long long)(v->wasted_ms / 1000));
}

static void
written(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *body = answer(w, res, false);
	struct gh_pull made;

	if (body == NULL)
		return;
	/* What GitHub answers is the pull request; an update keeps what was found. */
	if (gh_pull_parse(body, &made) && made.url[0])
		w->pull = made;
	if (w->pull.number <= 0) {
		log_warnx("%s: GitHub opened a pull request without a number: again later", w->key);
		rest(w);
		return;
	}
	awaiting_pr_opened(w->p->sched, w->issue, w->pull.number, w->pull.url);
	rest(w);
}

static void
found(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *page = answer(w, res, false);
	struct awaiting_pull v;
	cJSON *req;
	char *body, *text;
	bool update;

	if (page == NULL)
		return;
	if (!awaiting_view(w->p->sched, w->issue, &v)) {
		rest(w);	/* no longer awaiting: nothing to open */
		return;
	}
	update = gh_pull_find(page, w->branch, &w->pull);
	req = cJSON_CreateObject();
	body = pull_body(w->p, &v);
	cJSON_AddStringToObject(req, "title", v.title);
	cJSON_AddStringToObject(req, "body", body);
	if (!update) {
		cJSON_AddStringToObject(req, "head", w->branch);
		cJSON_AddStringToObject(req, "base", w->p->cfg->base_branch);
		memset(&w->pull, 0, sizeof(w->pull));
	}
	text = cJSON_PrintUnformatted(req);
	request(w, STEP_WRITE, update ? "PATCH" : "POST", update ?
	    xasprintf("/repos/%s/pulls/%ld", w->github, w->pull.number) :
	    xasprintf("/repos/%s/pulls", w->github), text, written);
	free(text);
	free(body);
	cJSON_Delete(req);
}

/* What a watch keeps of its repo: a reload may free the configuration meanwhile. */
static void
watch_repo(struct watch *w, const struct repo_conf *repo)
{
	strlcpy(w->github, repo->github, sizeof(w->github));
	strlcpy(w->repo_name, repo->name, sizeof(w->repo_name));
}

/* Open the pull request of a pushed branch; never two: one of this head branch is looked for first. */
static void
open_pull_request(struct watch *w, const struct awaiting_pull *v)
{
	char *owner = strndup(v->repo->github, strcspn(v->repo->github, "/"));
	char *branch = issue_branch_name(w->p->cfg, v->number), *head;

	watch_repo(w, v->repo);
	strlcpy(w->branch, branch, sizeof(w->branch));
	head = github_query_escape(branch);	/* a branch name may hold & or + */
	request(w, STEP_FIND, "GET", xasprintf("/repos/%s/pulls?state=open&head=%s:%s&per_page=100",
	    v->repo->github, owner, head), NULL, found);
	free(head);
	free(branch);
	free(owner);
}

/* ---- watching: merged, closed, or come back with feedback ---- */

static bool
sha_valid(const char *sha)
{
	size_t n = strspn(sha, "0123456789abcdef");

	return n >= 7 && sha[n] == '\0';
}

/*
 * Reviews first, then checks: either makes a round that also brings the base
 * in if it collides.  A pull request that only conflicts makes a round for
 * that alone.
 */
static void
decide(struct watch *w)
{
	struct strbuf text = { 0 };
	const char *kind = w->nids > 0 ? "review" : w->checks.len > 0 ? "checks" :
	    w->pull.conflicting ? "conflict" : NULL;

	if (w->nids > 0)
		strbuf_addf(&text, "## Reviews\n\n%s", w->reviews.s ? w->reviews.s : "");
	if (w->checks.len > 0)
		strbuf_addf(&text, "## Checks\n\n%s", w->checks.s);
	if (w->pull.conflicting)
		strbuf_addf(&text, "## Conflict\n\nThe pull request no longer merges into %s: "
		    "its changes meet what was merged there since.\n", w->p->cfg->base_branch);
	if (kind)
		awaiting_pr_feedback(w->p->sched, w->issue, kind, text.s);
	strbuf_free(&text);
	rest(w);
}

static void
statuses_read(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *body = answer(w, res, true);

	if (body == NULL)
		return;
	gh_status_failures(body, w->pull.head, &w->checks);
	decide(w);
}

static void
checks_read(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *body = answer(w, res, true);

	if (body == NULL)
		return;
	gh_check_failures(body, w->pull.head, &w->checks);
	request(w, STEP_STATUS, "GET", xasprintf("/repos/%s/commits/%s/status", w->github,
	    w->pull.head), NULL, statuses_read);
}

static void
read_checks(struct watch *w)
{
	request(w, STEP_CHECKS, "GET", xasprintf("/repos/%s/commits/%s/check-runs?per_page=100",
	    w->github, w->pull.head), NULL, checks_read);
}

static void
comments_read(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *body = answer(w, res, false);

	if (body == NULL)
		return;
	if (gh_review_comments(body, w->ids, w->nids, &w->reviews) > 0)
		strbuf_add(&w->reviews, "\n");
	read_checks(w);
}

static void
reviews_read(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *body = answer(w, res, false);

	if (body == NULL)
		return;
	strbuf_free(&w->reviews);
	strbuf_free(&w->checks);
	w->nids = gh_reviews_changes(body, w->pull.head, &w->reviews, w->ids, REVIEWS_MAX);
	if (w->nids > 0)
		request(w, STEP_COMMENTS, "GET", xasprintf("/repos/%s/pulls/%ld/comments?per_page=100",
		    w->github, w->pull.number), NULL, comments_read);
	else
		read_checks(w);
}

static void
pull_read(const struct gh_response *res, void *arg)
{
	struct watch *w = arg;
	const char *body = answer(w, res, false);
	struct awaiting_pull v;

	if (body == NULL)
		return;
	if (!gh_pull_parse(body, &w->pull) ||
	    !awaiting_view(w->p->sched, w->issue, &v)) {
		rest(w);
		return;
	}
	if (w->pull.merged) {
		awaiting_pr_merged(w->p->sched, w->issue, sha_valid(w->pull.merge_sha) ?
		    w->pull.merge_sha : NULL);
		rest(w);
		return;
	}
	if (strcmp(w->pull.state, "closed") == 0) {
		awaiting_pr_closed(w->p->sched, w->issue);
		rest(w);
		return;
	}
	/* Feedback is on what the pull request shows: its head, as GitHub has it. */
	if (!sha_valid(w->pull.head))
		strlcpy(w->pull.head, v.head ? v.head : "", sizeof(w->pull.head));
	if (!sha_valid(w->pull.head)) {
		rest(w);
		return;
	}
	request(w, STEP_REVIEWS, "GET", xasprintf("/repos/%s/pulls/%ld/reviews?per_page=100",
	    w->github, w->pull.number), NULL, reviews_read);
}

static void
check_pull(struct watch *w)
{
	struct awaiting_pull v;

	if (!awaiting_view(w->p->sched, w->issue, &v))
		return;
	watch_repo(w, v.repo);
	request(w, STEP_PULL, "GET", xasprintf("/repos/%s/pulls/%ld", v.repo->github, v.pr),
	    NULL, pull_read);
}

/* ---- the watcher ---- */

struct pulls *
pulls_new(const struct config *cfg, struct github *gh, struct sched *s)
{
	struct pulls *p = xcalloc(1, sizeof(*p));

	p->cfg = config_hold(cfg);
	p->gh = gh;
	p->sched = s;
	return p;
}

void
pulls_free(struct pulls *p)
{
	if (p == NULL)
		return;
	for (size_t k = 0; k < p->n; k++)
		watch_free(p->w[k]);
	free(p->w);
	config_release(p->cfg);
	free(p);
}

void
pulls_reconfigure(struct pulls *p, const struct config *cfg)
{
	const struct config *old = p->cfg;

	/* The watches copy what they need of a repo at each start: nothing points in. */
	p->cfg = config_hold(cfg);
	config_release(old);
}

void
pulls_pushed(size_t issue, void *arg)
{
	struct pulls *p = arg;
	struct awaiting_pull v;

	if (awaiting_view(p->sched, issue, &v))
		watch_of(p, issue, v.key)->next = 0;	/* due now */
}

void
pulls_tick(struct pulls *p)
{
	int64_t now = mono_ms();
	struct awaiting_pull v;
	size_t k = 0;

	/* Watches of issues that no longer await their merge go, once idle. */
	while (k < p->n) {
		struct watch *w = p->w[k];

		if (!w->busy && !awaiting_view(p->sched, w->issue, &v)) {
			watch_free(w);
			p->w[k] = p->w[--p->n];
		} else
			k++;
	}
	/* Nothing due: no walk over the scheduler's table (the loop turns often). */
	if (pulls_next_deadline(p) > now)
		return;
	for (size_t from = 0; awaiting_next(p->sched, from, &v); from = v.issue + 1) {
		struct watch *w = watch_of(p, v.issue, v.key);

		if (w->busy || w->next > now || v.repo->github == NULL)
			continue;
		if (!v.synced || v.pr <= 0)
			open_pull_request(w, &v);
		else
			check_pull(w);
	}
}

int64_t
pulls_next_deadline(const struct pulls *p)
{
	int64_t next = INT64_MAX;

	if (awaiting_count(p->sched) == 0)
		return INT64_MAX;
	/* An issue awaiting without a watch yet (a start) is due now. */
	if ((size_t)awaiting_count(p->sched) > p->n)
		return 0;
	for (size_t k = 0; k < p->n; k++)
		if (!p->w[k]->busy && p->w[k]->next < next)
			next = p->w[k]->next;
	return next;
}

bool
pulls_idle(const struct pulls *p)
{
	return p->pending == 0;
}
