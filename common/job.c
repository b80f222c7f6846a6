#include "common/job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>
#include <cJSON.h>

#include "common/log.h"

#define JOB_VERSION 2	/* the supervisor and its children are the same binary: a check, not a protocol */

static const char *const role_flags[] = {
	[JOB_WORKER] = JOB_WORKER_FLAG,
	[JOB_RECOVER] = JOB_RECOVER_FLAG,
	[JOB_PREFLIGHT] = JOB_PREFLIGHT_FLAG,
};

int
job_role_of_flag(const char *flag)
{
	for (size_t k = 0; k < ARRAY_LEN(role_flags); k++)
		if (strcmp(flag, role_flags[k]) == 0)
			return (int)k;
	return -1;
}

const char *
job_role_flag(enum job_role role)
{
	return role_flags[role];
}

static void
add_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

/* All of text to fd; 0 or -1. */
static int
write_all(int fd, const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

int
job_write(const struct worker_job *j)
{
	cJSON *o = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(o, "config");
	char *text;
	int fd;

	cJSON_AddNumberToObject(o, "v", JOB_VERSION);
	cJSON_AddNumberToObject(o, "role", j->role);
	add_str(c, "text", j->cfg->text);
	add_str(c, "file", j->cfg->file);
	add_str(c, "dir", j->cfg->dir);
	/* A reload keeps the state folder of the start, whatever the file says. */
	add_str(c, "state_dir", j->cfg->state_dir);
	cJSON_AddBoolToObject(o, "log_stderr", log_to_stderr_now());
	cJSON_AddNumberToObject(o, "log_verbosity", log_verbosity_now());
	add_str(o, "repo", j->repo ? j->repo->name : NULL);
	add_str(o, "issue", j->issue);
	cJSON_AddNumberToObject(o, "number", (double)j->number);
	add_str(o, "title", j->title ? j->title : "");
	add_str(o, "body", j->body ? j->body : "");
	cJSON_AddNumberToObject(o, "attempt", j->attempt);
	add_str(o, "trace", j->trace);
	cJSON_AddNumberToObject(o, "supervisor", (double)j->supervisor);
	cJSON_AddNumberToObject(o, "resume", j->resume);
	add_str(o, "base", j->base);
	add_str(o, "pool", j->pool ? j->pool->name : NULL);
	add_str(o, "pr_head", j->pr_head);
	add_str(o, "pr_base", j->pr_base);
	cJSON_AddBoolToObject(o, "pr_conflict", j->pr_conflict);
	add_str(o, "final", j->final);
	if (j->has_marker) {
		cJSON *m = cJSON_AddObjectToObject(o, "marker");

		add_str(m, "phase", j->marker.phase);
		cJSON_AddNumberToObject(m, "result", j->marker.result);
		add_str(m, "head", j->marker.head);
	}
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		fatalx("out of memory");
	fd = memfd_create("waved-job", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1) {
		log_warn("%s: job", j->issue);
		free(text);
		return -1;
	}
	if (write_all(fd, text, strlen(text)) == -1 || lseek(fd, 0, SEEK_SET) == -1 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		log_warn("%s: job", j->issue);
		close(fd);
		fd = -1;
	}
	free(text);
	return fd;
}

/* A string field, copied; NULL when absent and optional. */
static int
get_str(const cJSON *o, const char *key, bool optional, char **out, char *err, size_t errsize)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (cJSON_IsString(v)) {
		*out = xstrdup(v->valuestring);
		return 0;
	}
	if (optional && (v == NULL || cJSON_IsNull(v)))
		return 0;
	snprintf(err, errsize, "%s: expected a string", key);
	return -1;
}

static int
get_num(const cJSON *o, const char *key, double *out, char *err, size_t errsize)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v)) {
		snprintf(err, errsize, "%s: expected a number", key);
		return -1;
	}
	*out = v->valuedouble;
	return 0;
}

/* Copy an optional string field into a fixed buffer ("" when absent). */
static int
get_buf(const cJSON *o, const char *key, char *buf, size_t size, char *err, size_t errsize)
{
	char *s;

	if (get_str(o, key, true, &s, err, errsize) == -1)
		return -1;
	if (strlcpy(buf, s ? s : "", size) >= size) {
		snprintf(err, errsize, "%s: too long", key);
		free(s);
		return -1;
	}
	free(s);
	return 0;
}

static int
read_config(const cJSON *o, struct worker_job *j, char *err, size_t errsize)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "config");
	char *text = NULL, *file = NULL, *dir = NULL, *state_dir = NULL, *errors = NULL;
	struct config *cfg;

	if (get_str(c, "text", false, &text, err, errsize) == -1)
		return -1;
	if (get_str(c, "file", false, &file, err, errsize) == -1 ||
	    get_str(c, "dir", false, &dir, err, errsize) == -1 ||
	    get_str(c, "state_dir", false, &state_dir, err, errsize) == -1) {
		free(text);
		free(file);
		free(dir);
		return -1;
	}
	cfg = config_parse_text(text, file, dir, &errors);
	if (cfg == NULL) {
		snprintf(err, errsize, "config: %s", errors ? errors : "invalid");
		free(errors);
	} else {
		free(cfg->state_dir);
		cfg->state_dir = state_dir;
		state_dir = NULL;
	}
	free(text);
	free(file);
	free(dir);
	free(state_dir);
	j->cfg = cfg;
	return cfg ? 0 : -1;
}

/* A recovery's marker, when the job has one. */
static int
read_marker(const cJSON *o, struct worker_job *j, char *err, size_t errsize)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "marker");
	double result;

	if (m == NULL)
		return 0;
	if (get_buf(m, "phase", j->marker.phase, sizeof(j->marker.phase), err, errsize) == -1 ||
	    get_num(m, "result", &result, err, errsize) == -1 ||
	    get_buf(m, "head", j->marker.head, sizeof(j->marker.head), err, errsize) == -1)
		return -1;
	j->marker.result = (int)result;
	j->has_marker = true;
	return 0;
}

static int
read_job(const cJSON *o, enum job_role role, struct worker_job *j, char *err, size_t errsize)
{
	const cJSON *log_stderr = cJSON_GetObjectItemCaseSensitive(o, "log_stderr");
	const cJSON *conflict = cJSON_GetObjectItemCaseSensitive(o, "pr_conflict");
	char *repo = NULL, *pool = NULL, *title = NULL, *body = NULL;
	double v, got_role, verbosity, number, attempt, supervisor, resume;
	long k;

	if (get_num(o, "v", &v, err, errsize) == -1)
		return -1;
	if (v != JOB_VERSION) {
		snprintf(err, errsize, "version %g, expected %d", v, JOB_VERSION);
		return -1;
	}
	if (get_num(o, "role", &got_role, err, errsize) == -1)
		return -1;
	if (got_role != role) {
		snprintf(err, errsize, "a job of role %g, exec'd as %s", got_role,
		    job_role_flag(role));
		return -1;
	}
	j->role = role;
	if (get_num(o, "log_verbosity", &verbosity, err, errsize) == -1)
		return -1;
	/* From here, the log goes where the supervisor's goes. */
	log_init("waved", cJSON_IsTrue(log_stderr), (int)verbosity);
	if (read_config(o, j, err, errsize) == -1 ||
	    get_str(o, "repo", role == JOB_PREFLIGHT, &repo, err, errsize) == -1 ||
	    get_num(o, "number", &number, err, errsize) == -1 ||
	    get_num(o, "attempt", &attempt, err, errsize) == -1 ||
	    get_num(o, "supervisor", &supervisor, err, errsize) == -1 ||
	    get_num(o, "resume", &resume, err, errsize) == -1 ||
	    get_str(o, "title", false, &title, err, errsize) == -1 ||
	    get_str(o, "body", false, &body, err, errsize) == -1 ||
	    get_str(o, "pool", true, &pool, err, errsize) == -1 ||
	    get_buf(o, "issue", j->issue, sizeof(j->issue), err, errsize) == -1 ||
	    get_buf(o, "trace", j->trace, sizeof(j->trace), err, errsize) == -1 ||
	    get_buf(o, "base", j->base, sizeof(j->base), err, errsize) == -1 ||
	    get_buf(o, "pr_head", j->pr_head, sizeof(j->pr_head), err, errsize) == -1 ||
	    get_buf(o, "pr_base", j->pr_base, sizeof(j->pr_base), err, errsize) == -1 ||
	    get_buf(o, "final", j->final, sizeof(j->final), err, errsize) == -1 ||
	    read_marker(o, j, err, errsize) == -1)
		goto fail;
	if (repo && (j->repo = config_repo(j->cfg, repo)) == NULL) {
		snprintf(err, errsize, "repo %s: not in the configuration", repo);
		goto fail;
	}
	if (resume < RESUME_NONE || resume > RESUME_MERGE) {
		snprintf(err, errsize, "resume: %g: out of range", resume);
		goto fail;
	}
	j->pool = NULL;
	if (pool && (k = config_pool(j->cfg, pool)) >= 0)
		j->pool = &j->cfg->pools[k];
	j->number = (long)number;
	j->attempt = (int)attempt;
	j->supervisor = (pid_t)supervisor;
	j->resume = (enum resume_point)resume;
	j->pr_conflict = cJSON_IsTrue(conflict);
	j->title = title;	/* kept for the life of the worker */
	j->body = body;
	j->pipe_fd = JOB_PIPE_FD;
	j->gate_fd = JOB_GATE_FD;
	j->log_fd = JOB_LOG_FD;
	free(repo);
	free(pool);
	return 0;
fail:
	free(repo);
	free(pool);
	free(title);
	free(body);
	return -1;
}

int
job_read(int fd, enum job_role role, struct worker_job *j, char *err, size_t errsize)
{
	struct strbuf b = { 0 };
	char chunk[65536];
	cJSON *o;
	ssize_t n;
	int rc;

	memset(j, 0, sizeof(*j));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errsize, "read: %s", strerror(errno));
			strbuf_free(&b);
			return -1;
		}
		strbuf_addn(&b, chunk, (size_t)n);
	}
	o = cJSON_Parse(b.s ? b.s : "");
	strbuf_free(&b);
	if (!cJSON_IsObject(o)) {
		snprintf(err, errsize, "not a JSON object");
		cJSON_Delete(o);
		return -1;
	}
	rc = read_job(o, role, j, err, errsize);
	cJSON_Delete(o);
	return rc;
}
