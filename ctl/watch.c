/*
 * wavectl watch: a live view of the daemon.  On a terminal, one row per
 * issue in flight is redrawn in place under a header, and finished issues
 * scroll above it (as cargo does); otherwise each event of note is one plain
 * line.  Ends on q or Ctrl-C, or when waved stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/keymap.h"
#include "ctl/ctl.h"
#include "common/snapshot.h"
#include "common/paths.h"

#define REFRESH_MS 250

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct watch {
	const struct config *cfg;
	struct event_tail *events;
	bool tty;
	int width;
	int drawn;		/* lines of the live block on screen */
	struct keymap *started;	/* issue -> index into start_ms */
	int64_t *start_ms;
	size_t nstart, start_cap;
	bool stopped;
	struct termios saved;
	bool raw;
};

/* Keys for 'q' without Enter, only when we own the terminal's foreground. */
static void
input_raw(struct watch *w)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp() ||
	    tcgetattr(STDIN_FILENO, &w->saved) == -1)
		return;
	t = w->saved;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	w->raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

static void
input_restore(struct watch *w)
{
	if (w->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &w->saved);
}

static int
terminal_width(void)
{
	struct winsize ws;

	return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 100;
}

/* When an issue's current run started, as far as this watch has seen. */
static int64_t
started_at(struct watch *w, const char *key, int64_t fallback)
{
	char repo[REPO_NAME_MAX + 1];
	long number, i;

	if (!issue_key_parse(key, repo, sizeof(repo), &number))
		return fallback;
	i = keymap_get(w->started, repo, number);
	return i >= 0 ? w->start_ms[i] : fallback;
}

static void
note_start(struct watch *w, const char *key, int64_t ms)
{
	char repo[REPO_NAME_MAX + 1];
	long number, i;

	if (!issue_key_parse(key, repo, sizeof(repo), &number))
		return;
	if ((i = keymap_get(w->started, repo, number)) < 0) {
		grow_array((void **)&w->start_ms, &w->start_cap, w->nstart + 1, sizeof(int64_t));
		i = (long)w->nstart++;
		keymap_put(w->started, repo, number, i);
	}
	w->start_ms[i] = ms;
}

/* The last line a phase wrote to its attempt log, for the live row. */
static void
last_log_line(const struct watch *w, const struct snapshot_issue *r, char *out, size_t size)
{
	char *path = path_attempt_log(w->cfg, r->repo, r->number, r->attempt > 0 ? r->attempt : 1);
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n = 0;

	out[0] = '\0';
	free(path);
	if (fd == -1)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > 0)
		n = pread(fd, buf, sizeof(buf) - 1, end > (off_t)sizeof(buf) - 1 ?
		    end - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	char *line = strrchr(buf, '\n');
	snprintf(out, size, "%s", line ? line + 1 : buf);
}

/* One event as a line of its own: what scrolls above the live view. */
static void
print_event_line(struct watch *w, const cJSON *e)
{
	const char *name = cJSON_GetObjectItem(e, "event")->valuestring;
	const cJSON *issue = cJSON_GetObjectItem(e, "issue");
	const cJSON *attempt = cJSON_GetObjectItem(e, "attempt");
	const char *key = cJSON_IsString(issue) ? issue->valuestring : "";
	int64_t ts = timestamp_parse(cJSON_GetStringValue(cJSON_GetObjectItem(e, "ts")));
	char age[16];

	if (strcmp(name, "admitted") == 0) {
		note_start(w, key, ts);
		if (!w->tty)
			printf("%12s %s (attempt %d)\n", "Started", key, attempt->valueint);
	} else if (strcmp(name, "phase_start") == 0 && !w->tty) {
		printf("%12s %s %s\n", "Phase", key,
		    cJSON_GetStringValue(cJSON_GetObjectItem(e, "phase")));
	} else if (strcmp(name, "done") == 0) {
		format_age(ts - started_at(w, key, ts), age, sizeof(age));
		printf("%12s %s in %s (attempt %d)\n", "Landed", key, age, attempt->valueint);
	} else if (strcmp(name, "failed") == 0 || strcmp(name, "dead") == 0 ||
	    strcmp(name, "blocked") == 0) {
		const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason"));
		printf("%12s %s%s", strcmp(name, "failed") == 0 ? "Failed" :
		    strcmp(name, "dead") == 0 ? "Dead" : "Blocked", key, why ? ": " : "");
		print_text(stdout, why ? why : "", (size_t)(w->width > 40 ? w->width - 30 : 10));
		putchar('\n');
	} else if (strcmp(name, "conflict_resolved") == 0) {
		const cJSON *files = cJSON_GetObjectItem(e, "files"), *f;

		printf("%12s %s round %d:", "Resolved", key,
		    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "round")));
		cJSON_ArrayForEach(f, files) {
			putchar(' ');
			print_text(stdout, cJSON_GetStringValue(f) ? f->valuestring : "", 60);
		}
		printf(" (a merge conflict the agent resolved)\n");
	} else if (strncmp(name, "pr_", 3) == 0) {
		/* land = pr: a pull request opened, back with feedback, merged or closed. */
		const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(e, "url"));
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));

		printf("%12s %s ", strcmp(name, "pr_opened") == 0 ? "PR opened" :
		    strcmp(name, "pr_merged") == 0 ? "PR merged" :
		    strcmp(name, "pr_closed") == 0 ? "PR closed" : "PR back", key);
		print_text(stdout, url ? url : "", 100);
		if (kind)
			printf(" (%s, round %d)", strcmp(kind, "review") == 0 ? "review" : "checks",
			    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "round")));
		putchar('\n');
	} else if (strcmp(name, "cap_changed") == 0) {
		printf("%12s effective cap %d of %d (%s)\n", "Cap",
		    cJSON_GetObjectItem(e, "effective")->valueint,
		    cJSON_GetObjectItem(e, "cap")->valueint,
		    cJSON_GetStringValue(cJSON_GetObjectItem(e, "why")));
	} else if (strcmp(name, "stopped") == 0) {
		w->stopped = true;
	}
}

static int
draw_live(struct watch *w, const struct snapshot *st)
{
	int lines = 1, running = st->counts[STATE_RUNNING] +
	    st->counts[STATE_REVIEW] + st->counts[STATE_MERGING];
	char age[16], last[512];

	printf("\033[1mwaved\033[0m %s  cap %d, effective %d%s  in flight %d  queued %d  "
	    "ready %d  retry %d  done %d  dead %d  blocked %d\033[K\n",
	    st->running ? "running" : "not running", st->daemon.cap, st->daemon.effective_cap,
	    st->running && st->daemon.paused ? " (paused)" : "", running,
	    st->counts[STATE_QUEUED], st->counts[STATE_READY], st->counts[STATE_RETRY_WAIT],
	    st->counts[STATE_DONE], st->counts[STATE_DEAD], st->counts[STATE_BLOCKED]);
	for (size_t k = 0; k < st->n; k++) {
		const struct snapshot_issue *r = &st->issues[k];
		int used;

		if (!snapshot_in_flight(r->state))
			continue;
		format_age(now_ms() - started_at(w, r->key, r->since), age, sizeof(age));
		last_log_line(w, r, last, sizeof(last));
		used = printf("  %-16s %-10s attempt %-2d %8s  ", r->key, r->phase, r->attempt, age);
		print_text(stdout, last, (size_t)(w->width - used > 4 ? w->width - used - 4 : 1));
		printf("\033[K\n");
		lines++;
	}
	return lines;
}

/*
 * Attached mid-run, the watch has not seen the admissions of what is in
 * flight: their starts come from the state, so that a landing says how
 * long it really took.
 */
static void
note_starts_in_flight(struct watch *w)
{
	struct snapshot st;

	if (snapshot_read(w->cfg, &st) == -1)
		return;
	for (size_t k = 0; k < st.n; k++)
		if (snapshot_in_flight(st.issues[k].state) && st.issues[k].since > 0)
			note_start(w, st.issues[k].key, st.issues[k].since);
	snapshot_free(&st);
}

static void
refresh(struct watch *w)
{
	struct snapshot st;
	cJSON *e;

	if (w->tty && w->drawn > 0)
		printf("\033[%dA\r\033[J", w->drawn);	/* back over the live block */
	w->drawn = 0;
	while ((e = event_tail_next(w->events)) != NULL) {
		print_event_line(w, e);
		cJSON_Delete(e);
	}
	if (w->tty && snapshot_read(w->cfg, &st) == 0) {
		w->width = terminal_width();
		w->drawn = draw_live(w, &st);
		snapshot_free(&st);
	}
	fflush(stdout);
}

/* Wait for the next refresh, or a key; true when the user asked to quit. */
static bool
wait_for_key(struct watch *w)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (!w->raw) {
		poll(NULL, 0, REFRESH_MS);
		return false;
	}
	if (poll(&pfd, 1, REFRESH_MS) > 0 && read(STDIN_FILENO, &c, 1) == 1)
		return c == 'q' || c == 'Q';
	return false;
}

int
cmd_watch(const char *config_path, int argc, char **argv)
{
	struct watch w = { 0 };
	struct config *cfg;
	struct sigaction sa = { .sa_handler = on_interrupt };

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: wavectl watch\n");
		return CTL_BAD_INPUT;
	}
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	w.cfg = cfg;
	w.tty = isatty(STDOUT_FILENO);
	w.width = w.tty ? terminal_width() : 100;
	w.started = keymap_new(64);
	w.events = event_tail_open(cfg->state_dir, true);
	note_starts_in_flight(&w);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	input_raw(&w);
	while (!interrupted && !w.stopped) {
		refresh(&w);
		if (wait_for_key(&w))
			break;
	}
	refresh(&w);
	if (w.stopped)
		printf("%12s\n", "Stopped");
	input_restore(&w);
	event_tail_close(w.events);
	keymap_free(w.started);
	free(w.start_ms);
	config_free(cfg);
	return CTL_OK;
}
