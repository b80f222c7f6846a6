/*
 * What the GitHub source's two files share: issues.c polls (issues,
 * dependencies, milestones), writeback.c writes back (outcome
 * comments, closing, the pull request) and checks the repos at start.
 */
#ifndef WAVED_SOURCE_GITHUB_INTERNAL_H
#define WAVED_SOURCE_GITHUB_INTERNAL_H

#include "common/events.h"
#include "supervisor/github/client.h"
#include "supervisor/github/issues.h"

struct sg_repo;
struct external;

struct source_github {
	const struct config *cfg;	/* held: its repos are what sg_repo.conf points into */
	const struct config *next_cfg;	/* a reload, taken up once no request is in flight */
	struct github *gh;
	struct events *events;
	sg_issues_fn *on_issues;
	void *arg;
	struct sg_repo *repos;
	size_t nrepos;
	struct external *ext;
	size_t next, ext_cap;
	int interval_s;			/* every repo's poll interval in force (stretched_interval) */
	int shown_interval, shown_rpm;	/* what STATE/github.json says */
	bool once;			/* source_github_read_once: what goes wrong is told, not logged */
};

#endif
