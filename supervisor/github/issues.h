/*
 * The GitHub source (DESIGN.md section 10): the open issues with the label
 * (and milestone) of every repo with a github key, their dependencies, rate
 * limits honoured, and outcomes reported back.  Everything goes through the
 * non-blocking client of supervisor/github/client.h.
 */
#ifndef WAVED_SOURCE_GITHUB_H
#define WAVED_SOURCE_GITHUB_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/events.h"
#include "supervisor/github/client.h"
#include "common/issue.h"

struct source_github;

/* Called with every repo's latest good issue list after a repo's poll. */
typedef void sg_issues_fn(const struct issue_list *issues, void *arg);

struct source_github *source_github_new(const struct config *cfg, struct github *gh,
    struct events *events, sg_issues_fn *issues, void *arg);
void source_github_free(struct source_github *sg);
/* A reloaded configuration: taken up (repos added, kept or dropped) at the
 * next tick with no request in flight; the old one is held until then. */
void source_github_reconfigure(struct source_github *sg, const struct config *cfg);

/* Poll the repos that are due (each on its own clock: poll_interval,
 * x-poll-interval, rate limits, backoff). */
void source_github_tick(struct source_github *sg);
/* When the next repo is due (monotonic ms). */
int64_t source_github_next_deadline(const struct source_github *sg);
/* Poll every repo now (SIGHUP), rate limits still honoured. */
void source_github_poll_all(struct source_github *sg);
/* The seconds between a repo's polls in force: poll_interval, or longer when
 * the polls would pass requests_per_minute (a repo GitHub asks to wait longer waits). */
int source_github_interval(const struct source_github *sg);
/* Every repo has been polled at least once (successfully or not). */
bool source_github_ready(const struct source_github *sg);

/*
 * Read every repo once, in place, and wait (waved --source-issues: what
 * wavectl plan shows of a GitHub source): 0 with the issues in out, or -1
 * with why in errors, one line a repo GitHub refused or could not be asked
 * for, and nothing in out.  A repo that fails is not tried again.
 */
int source_github_read_once(const struct config *cfg, struct issue_list *out,
    struct strbuf *errors);

/* A dependency outside the configured repos: satisfied once it is closed. */
bool source_github_dep_closed(const struct issue_ref *dep, void *sg);

/* Report an outcome ("done" or "dead") on the issue once, then call back. */
typedef void sg_reported_fn(const char *repo, long number, const char *outcome, bool ok,
    void *arg);
void source_github_report(struct source_github *sg, const char *repo, long number,
    const char *outcome, const char *text, sg_reported_fn *done, void *arg);

/* Open or update the repo's pull request from the agent branch to the base
 * branch, listing its landed issues as "Issue: #N". */
void source_github_update_pr(struct source_github *sg, const char *repo, const long *numbers,
    size_t n);

/* Preflight: every repo readable with the token.  Blocking; 0, or -1 with
 * one line per problem in errors. */
int source_github_preflight(const struct config *cfg, struct github *gh, struct strbuf *errors);

#endif
