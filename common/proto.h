/*
 * The pipe protocol between a worker and the supervisor (DESIGN.md section 8).
 *
 * One pipe per worker, worker -> supervisor, newline-delimited JSON objects of
 * at most PROTO_MAX_LINE bytes each (newline included), so that every write
 * is atomic (PIPE_BUF).  Field "t" is the type.
 *
 *   {"t":"hello","v":7,"pid":123,"issue":"api#12","attempt":1,"trace":"9f2c..."}
 *   {"t":"phase","phase":"implement","state":"start","pgid":456}
 *   {"t":"phase","phase":"implement","state":"end","exit":0,"ms":41234,"maxrss_kb":812000,"head":"<sha>","job":4711,
 *    "cost_usd":0.42,"tokens_in":12000,"tokens_out":900}
 *   {"t":"usage","cost_usd":0.42,"tokens_in":12000,"tokens_out":900}
 *   {"t":"prepared","base":"<sha>"}
 *   {"t":"slot"}
 *   {"t":"merge","state":"wait"|"locked"|"merged","sha":"<sha>"}
 *   {"t":"done","outcome":"merged"|"no_change"|"conflict"|"failed"|"timeout"|"tempfail"|"pushed"|"over_budget","reason":"...","sha":"<sha>",
 *    "cause":"agent"|"disk"|"cluster"|"remote"|"lock"|"start","resume":"merge"}
 *   {"t":"resolved","round":1,"files":["a.c","b.c"]}
 *   {"t":"recovered","action":"done"|"resume"|"reset","resume":"verify","sha":"<sha>"}
 *    (sha: with done, the commit that landed; with resume at merge, a landing
 *    found here but not on the push remote, whose push is all that is left)
 *   {"t":"guard","what":"branch_restored"|"branch_moved"|"config_restored","sha":"<sha>","detail":"..."}
 *
 * "guard" (DESIGN.md section 19): what the worker found the agent (or
 * someone) did to the shared repository and undid or took in: the agent
 * branch restored to waved's tip "sha" (detail: the ref keeping the foreign
 * commit), moved by a fast-forward taken in (sha: the new tip), or the
 * shared config restored (detail: the keys, comma separated).
 * "cause" (with "tempfail" alone, and then always): who is to wait,
 * typed so that the supervisor never reads it from the reason (enum
 * proto_cause); "resume" (with "tempfail", optional): the worker kept its
 * worktree, past its phases, for the next try to go on at the merge.
 * "pushed" (with land = pr: the issue branch's head, pushed for its pull
 * request; "sha" is that head),
 * "v" (PROTO_VERSION: a mismatch is a protocol error), "job" (the Slurm job
 * a phase ran as, with the cluster runner; absent otherwise), "pgid" (the phase's
 * process group, so that the supervisor can end it if the worker is killed)
 * and "prepared" (the base commit recorded at prepare, for recovery) extend
 * section 8, as do "usage" (what a phase appended to $WAVED_USAGE_FILE since
 * the last report, sent while it runs and before its end: the supervisor
 * counts these alone; the end's cost_usd and tokens are the phase's whole,
 * for its event) and "over_budget" (the supervisor stopped the attempt
 * with SIGUSR1: its issue passed [budget] per_issue), and "recovered": a child the supervisor forks to ask git
 * what became of a crashed worker's attempt (so that the loop never waits
 * on git) answers with it, and with nothing else.  The other way, supervisor -> worker, is the gate: a pipe on
 * which one byte lets the worker past its admission, and past each "merge
 * wait", once the supervisor has committed them.  When this changes: bump PROTO_VERSION, update
 * proto.c's parser and builder and the tests in tests/test_proto.c.
 */
#ifndef WAVED_PROTO_H
#define WAVED_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/util.h"

#define PROTO_VERSION 8
#define PROTO_MAX_LINE 4096	/* == PIPE_BUF on Linux: one write, never interleaved */
#define PROTO_SHA_MAX 64	/* SHA-256 object names */
#define PROTO_REASON_MAX 3072
/* How the feedback file of a pull request's round begins (the supervisor
 * writes it; a worker keeps it across the round's own failures). */
#define PR_FEEDBACK_HEADER "# waved: pull request"

enum proto_type {
	PROTO_HELLO,
	PROTO_PHASE,
	PROTO_PREPARED,
	PROTO_SLOT,
	PROTO_MERGE,
	PROTO_DONE,
	PROTO_RESOLVED,		/* a merge conflict resolved and committed */
	PROTO_RECOVERED,	/* from a recovery child, not a worker */
	PROTO_GUARD,		/* the shared repository guarded (section 19) */
	PROTO_USAGE		/* what the phase reported it spent, since the last one */
};

enum proto_guard {
	GUARD_BRANCH_RESTORED,
	GUARD_BRANCH_MOVED,
	GUARD_CONFIG_RESTORED
};

/* Where a resumed attempt picks up: the phase after its last state marker. */
enum resume_point {
	RESUME_NONE,		/* a fresh attempt: prepare a new worktree */
	RESUME_IMPLEMENT,
	RESUME_VERIFY,
	RESUME_REVIEW,
	RESUME_MERGE
};

/* What recovery decided for an attempt whose worker is gone (DESIGN.md section 7). */
enum recover_action {
	RECOVER_DONE,		/* its work had landed */
	RECOVER_RESUME,		/* the branch is where the last marker says: go on from there */
	RECOVER_RESET		/* anything else: a new start, worktree and branch removed */
};

/*
 * Where a worker is in its repo's merge queue, told on the pipe as it gets
 * there ({"t":"merge","state":...}; the events merge_wait, merge_locked,
 * merged).  Progress only, with no failure in it: it is not enum
 * mergeq_result (worker/mergeq.h), the queue's verdict on one pass, which
 * stays in the worker; a landing is told here as MERGE_MERGED, and every
 * other verdict as the "done" outcome (or a conflict round) it leads to.
 */
enum proto_merge_stage {
	MERGE_WAIT,		/* queued for the repo's merge lock */
	MERGE_LOCKED,		/* holding it */
	MERGE_MERGED		/* landed (sha: the agent branch's new tip) */
};

enum proto_outcome {
	OUTCOME_MERGED,
	OUTCOME_NO_CHANGE,
	OUTCOME_CONFLICT,
	OUTCOME_FAILED,
	OUTCOME_TIMEOUT,
	OUTCOME_TEMPFAIL,
	OUTCOME_PUSHED,		/* land = pr: the branch is on the remote (sha: its head) */
	OUTCOME_OVER_BUDGET	/* stopped: the issue passed its budget (DESIGN.md section 20) */
};

/*
 * Why an attempt ended "tempfail", which decides who waits: only the
 * agent's exits of 75 feed the usage lever (tempfail_streak, max_tempfails);
 * a full disk holds admissions; the others back the issue off alone.
 */
enum proto_cause {
	CAUSE_AGENT,		/* a phase exited 75 (a usage or rate limit) */
	CAUSE_DISK,		/* the state directory's disk was nearly full */
	CAUSE_CLUSTER,		/* the cluster ended a phase's or the gate's Slurm job */
	CAUSE_REMOTE,		/* the push remote did not answer, or kept refusing */
	CAUSE_LOCK,		/* another worker of the issue still held its lock */
	CAUSE_START,		/* the supervisor could not start a worker (its own) */
	CAUSE_COUNT
};

struct proto_msg {
	enum proto_type type;
	/* hello */
	long pid;
	char issue[ISSUE_KEY_MAX];
	int attempt;
	char trace[TRACE_LEN + 1];
	/* phase */
	char phase[16];
	bool end;		/* false: start */
	long pgid;		/* start */
	int exit;		/* end */
	long ms;		/* end */
	long maxrss_kb;		/* end: the phase's peak resident size (wait4) */
	long job;		/* end: the Slurm job id, 0: none */
	/* usage: since the last report; phase end: the phase's whole */
	double cost_usd;
	long tokens_in, tokens_out;
	/* phase end head, prepared base, merge sha */
	char sha[PROTO_SHA_MAX + 1];
	/* merge */
	enum proto_merge_stage merge;
	/* done; resolved: the files, one a line */
	enum proto_outcome outcome;
	enum proto_cause cause;	/* done, tempfail */
	char reason[PROTO_REASON_MAX + 1];
	int round;		/* resolved */
	/* recovered (sha: with RECOVER_DONE, the commit that landed) */
	enum recover_action action;
	enum resume_point resume;	/* recovered; done, tempfail: RESUME_NONE or _MERGE */
	/* guard (sha: the tip; reason: the foreign ref or the keys) */
	enum proto_guard guard;
};

/* Parse one line (without its newline); on error return -1 with why in err. */
int proto_parse(const char *line, struct proto_msg *msg, char *err, size_t errsize);
/* Write one message to fd in a single write; 0 or -1. The reason is cut to fit. */
int proto_send(int fd, const struct proto_msg *msg);

const char *proto_outcome_name(enum proto_outcome o);
const char *proto_cause_name(enum proto_cause c);
const char *resume_point_name(enum resume_point r);
bool resume_point_from_name(const char *name, enum resume_point *r);
const char *recover_action_name(enum recover_action a);
const char *proto_merge_stage_name(enum proto_merge_stage s);
const char *proto_guard_name(enum proto_guard g);

#endif
