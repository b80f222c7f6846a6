/*
 * Every process the supervisor starts, in one table keyed by pid: its type,
 * what it is, and what to do when it exits (smtpd's child tree).  One
 * waitpid loop reaps them all on SIGCHLD; every exit status is read, and
 * logged when it is not 0.
 *
 * The table is the process's own, not an object passed around: waitpid(-1)
 * reaps whatever child of this process has ended, so there can only be one.
 */
#ifndef WAVED_CHILDREN_H
#define WAVED_CHILDREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum child_type {
	CHILD_WORKER,		/* an attempt at an issue (workers.c) */
	CHILD_RECOVERY,		/* asks git what became of a crashed worker's attempt */
	CHILD_PREFLIGHT,	/* a reload's check of the new configuration's repos */
	CHILD_USAGE,		/* the usage monitor's command */
	CHILD_COMMAND,		/* the source's or the report's command */
	CHILD_GIT,		/* a git helper nobody waits on (deleting a landed branch) */
};

/* Called once the child is reaped, with its wait status. */
typedef void child_exit_fn(pid_t pid, int status, void *arg);

/* Track pid; what names it in the log ("api#12", "git branch -D ..."); fn may be NULL. */
void children_add(pid_t pid, enum child_type type, const char *what, child_exit_fn *fn,
    void *arg);
/* arg is being freed: its children, when they exit, are reaped and logged only. */
void children_forget(const void *arg);
/* Reap every child that has exited, each told to its callback. */
void children_reap(void);
/* Reap until no child of type is left, or timeout_ms has passed. */
void children_wait(enum child_type type, int64_t timeout_ms);
/* How many of type are alive (not reaped). */
size_t children_count(enum child_type type);
/* The type's name, for the log: "worker", "git helper", ... */
const char *child_type_name(enum child_type type);
/* "exit 3" or "signal 9 (Killed)", for the log. */
void child_status_text(int status, char *buf, size_t size);
/* At the end of the supervisor: the table's memory (children left are not waited for). */
void children_free(void);

#endif
