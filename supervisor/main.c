/*
 * waved: the supervisor's entry point.  Parse the command line, read the
 * configuration, take the pidfile, daemonise unless asked not to, and hand
 * over to the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/libutil.h>
#include <bsd/unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/paths.h"
#include "supervisor/cgroup_tree.h"
#include "supervisor/loop.h"
#include "supervisor/github/client.h"
#include "supervisor/preflight.h"
#include "common/source_command.h"
#include "common/source_file.h"
#include "supervisor/github/issues.h"
#include "common/job.h"
#include "supervisor/recover.h"
#include "supervisor/reload.h"
#include "worker/worker.h"

#define PIDFILE_NAME "waved.pid"

extern char **environ;

struct options {
	const char *config_path;
	bool foreground;
	bool check;
	bool once;
	bool exit_on_error;
	bool source_issues;	/* --source-issues, for wavectl plan */
	int cap;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: waved [-f] [-n] [--once [--exit-on-error]] [-c FILE] [--cap N]\n"
	    "  -f        stay in the foreground, log to stderr (default: daemonise, syslog)\n"
	    "  -n        check the configuration and preflights, then exit\n"
	    "  --once    foreground; work until every issue is done, dead or blocked, then exit\n"
	    "            (exit 0: all done; 1: some failed, dead or blocked; 2: bad config;\n"
	    "            130: interrupted: the first SIGINT drains, a second stops now)\n"
	    "  --exit-on-error  with --once: the first dead issue drains, and the exit is 1\n"
	    "  -c FILE   config file (default: $WAVED_CONFIG, else %s)\n"
	    "  --cap N   start with this cap instead of the configured one\n"
	    "signals: USR1 cap down, USR2 cap up, HUP reload, TERM stop (INT: --once drains)\n",
	    CONFIG_DEFAULT_PATH);
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "exit-on-error", no_argument, NULL, 'E' },
		{ "cap", required_argument, NULL, 'C' },
		{ "source-issues", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	long cap;
	int ch;

	while ((ch = getopt_long(argc, argv, "fnc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->foreground = true;
			break;
		case 'n':
			o->check = true;
			break;
		case 'o':
			o->once = o->foreground = true;
			break;
		case 'E':
			o->exit_on_error = true;
			break;
		case 'S':
			o->source_issues = true;
			break;
		case 'C':
			if (!parse_positive_long(optarg, &cap) || cap > 10000) {
				fprintf(stderr, "waved: --cap: expected a number from 1 to 10000, got \"%s\"\n",
				    optarg);
				return -1;
			}
			o->cap = (int)cap;
			break;
		case 'c':
			o->config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	if (o->exit_on_error && !o->once) {
		fprintf(stderr, "waved: --exit-on-error goes with --once\n");
		return -1;
	}
	if (o->source_issues && (o->foreground || o->check || o->once || o->cap)) {
		fprintf(stderr, "waved: --source-issues goes with -c alone\n");
		return -1;
	}
	return 0;
}

/*
 * Can the real run keep its state there?  The folder exists or can be made,
 * and we can write in it (a read-only mount, a folder of another user, a
 * file in its place all fail here, not at the first start).
 */
static int
check_state_dir(const struct config *cfg, struct strbuf *errors)
{
	struct stat st;

	if (stat(cfg->state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			strbuf_addf(errors, "state_dir %s: not a folder\n", cfg->state_dir);
			return -1;
		}
		if (access(cfg->state_dir, W_OK | X_OK) == -1) {
			strbuf_addf(errors, "state_dir %s: %s\n", cfg->state_dir, strerror(errno));
			return -1;
		}
		return 0;
	}
	/* Not there yet: its nearest existing parent must let us make it. */
	char *parent = path_existing_ancestor(cfg->state_dir);
	int rc = 0;

	if (stat(parent, &st) == 0 && (!S_ISDIR(st.st_mode) || access(parent, W_OK | X_OK) == -1)) {
		strbuf_addf(errors, "state_dir %s: cannot be made in %s: %s\n", cfg->state_dir,
		    parent, S_ISDIR(st.st_mode) ? strerror(errno) : "not a folder");
		rc = -1;
	}
	free(parent);
	return rc;
}

/* -n: the cap waved would start with, and why; and what admission asks of memory. */
static void
print_start_cap(const struct config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->cap > 0)
		printf("cap %d: cap = %d in %s\n", cfg->cap, cfg->cap, cfg->file);
	else
		printf("cap %d: the number of repos (cap = 0 or unset in %s)\n",
		    config_effective_cap(cfg), cfg->file);
	if (ncpu > 0 && config_effective_cap(cfg) > 2 * ncpu && cfg->runner.type == RUNNER_LOCAL)
		printf("note: %d agents at once on %ld CPUs; set cap, or a [pool] cap, if they "
		    "build or test locally\n", config_effective_cap(cfg), ncpu);
	if (cfg->usage.min_free_mem > 0)
		printf("memory: each admission needs MemAvailable of min_free_mem (%lld MiB) plus "
		    "its repo's recent peak\n", cfg->usage.min_free_mem >> 20);
	else
		printf("memory: not checked (min_free_mem = 0)\n");
	if (cfg->cgroup) {
		struct strbuf line = { 0 };

		cgroup_tree_describe(&line);
		printf("%s\n", line.s);
		strbuf_free(&line);
	} else
		printf("containment: subreaper (cgroup = no in %s)\n", cfg->file);
}

/* -n with type = command: run it once; how many issues it gives, or -1. */
static int
check_command(const struct config *cfg, size_t *loaded, struct strbuf *errors)
{
	struct issue_list issues = { 0 };
	int rc = source_command_load(cfg, &issues, errors);

	*loaded = issues.n;
	issue_list_clear(&issues);
	return rc;
}

/* -n: the configuration, the state folder, the repositories and their branches. */
static int
check_only(const struct config *cfg)
{
	struct strbuf errors = { 0 };
	size_t loaded = 0;

	int rc = preflight_repos(cfg, false, &errors);

	if (check_state_dir(cfg, &errors) == -1)
		rc = -1;
	if (preflight_runner(cfg, &errors) == -1)
		rc = -1;
	if (config_wants_github(cfg)) {
		char *err = NULL;
		struct github *gh = github_open(cfg, &err);

		if (gh == NULL) {
			strbuf_addf(&errors, "%s\n", err);
			free(err);
			rc = -1;
		} else if (source_github_preflight(cfg, gh, &errors) == -1)
			rc = -1;
		github_free(gh);
	}
	if (cfg->source.type == SOURCE_COMMAND && check_command(cfg, &loaded, &errors) == -1)
		rc = -1;
	if (rc == -1) {
		fprintf(stderr, "%s", errors.s);
		strbuf_free(&errors);
		return EXIT_BAD_CONFIG;
	}
	/* What a bad entry or the command's stderr said is worth seeing, not failing on. */
	if (errors.len)
		fprintf(stderr, "%s", errors.s);
	strbuf_free(&errors);
	printf("%s: configuration ok: %zu repo%s, cap %d\n", cfg->file, cfg->nrepos,
	    cfg->nrepos == 1 ? "" : "s", config_effective_cap(cfg));
	if (cfg->source.type == SOURCE_COMMAND)
		printf("%s: %zu issue%s would load\n", SOURCE_COMMAND_NAME, loaded,
		    loaded == 1 ? "" : "s");
	print_start_cap(cfg);
	return 0;
}

/*
 * --source-issues, for wavectl plan (waved(8): internal): the configured
 * source read once, in place, its issues on stdout in the exact form
 * (common/source_file.h).  wavectl asks this of waved rather than read
 * GitHub itself: the daemon's binary is the one that holds the token and
 * talks to GitHub (DESIGN.md section 1), and wavectl links none of it.
 * Exit 0, or 2 with why on stderr (a bad source, as for wavectl plan).
 */
static int
print_source_issues(const struct config *cfg)
{
	struct issue_list issues = { 0 };
	struct strbuf problems = { 0 };
	char *text;
	int rc;

	if (cfg->source.type == SOURCE_GITHUB) {
		/* It holds the token from here on: no core dump, no ptrace by others of our uid. */
		prctl(PR_SET_DUMPABLE, 0);
		rc = source_github_read_once(cfg, &issues, &problems);
	} else if (cfg->source.type == SOURCE_COMMAND)
		rc = source_command_load(cfg, &issues, &problems);
	else
		rc = source_file_load(cfg->source.path, cfg, &issues, &problems);
	/* What failed, or the entries skipped: worth seeing either way. */
	log_warnx_lines("", problems.s);
	strbuf_free(&problems);
	if (rc == 0) {
		text = source_file_format_exact(&issues);
		if (fputs(text, stdout) == EOF || fflush(stdout) == EOF) {
			log_warn("--source-issues: stdout");
			rc = -1;
		}
		free(text);
	}
	issue_list_clear(&issues);
	return rc == 0 ? 0 : EXIT_BAD_CONFIG;
}

/* The classic double fork: no controlling terminal can ever come back. */
static void
daemonise(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	umask(027);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* One supervisor per state folder: the pidfile is locked for our lifetime. */
static struct pidfh *
take_pidfile(const struct config *cfg)
{
	char *path = xasprintf("%s/%s", cfg->state_dir, PIDFILE_NAME);
	struct pidfh *pfh;
	pid_t other = 0;

	if (mkdir_p(cfg->state_dir, 0750) == -1) {
		log_warn("state_dir %s", cfg->state_dir);
		free(path);
		return NULL;
	}
	pfh = pidfile_open(path, 0644, &other);
	if (pfh == NULL) {
		if (errno == EEXIST)
			log_warnx("already running as pid %d on state_dir %s (pidfile %s)",
			    (int)other, cfg->state_dir, path);
		else
			log_warn("pidfile %s", path);
	}
	free(path);
	return pfh;
}

static void __attribute__((noreturn))
run_role(enum job_role role)
{
	switch (role) {
	case JOB_WORKER:
		worker_main_exec();
	case JOB_RECOVER:
		recover_main_exec();
	case JOB_PREFLIGHT:
		reload_preflight_main_exec();
	}
	_exit(1);
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct loop_options lo;
	struct config *cfg;
	struct pidfh *pfh;
	char *errors = NULL;

	/*
	 * A role, internal: the supervisor forked and exec'd us with the job on
	 * a descriptor (common/job.h), which must not be closed first.
	 */
	if (argc == 2 && job_role_of_flag(argv[1]) != -1) {
		setproctitle_init(argc, argv, environ);
		closefrom(JOB_FD + 1);
		run_role((enum job_role)job_role_of_flag(argv[1]));
	}
	/* Whatever descriptors we were started with are not ours (a held lock, a pipe). */
	closefrom(STDERR_FILENO + 1);
	setproctitle_init(argc, argv, environ);
	log_init("waved", true, 0);
	if (parse_args(argc, argv, &o) == -1)
		return EXIT_BAD_CONFIG;
	o.config_path = config_default_path(o.config_path);
	/* The daemon works from /: keep the path SIGHUP will read again. */
	char *absolute = realpath(o.config_path, NULL);
	if (absolute)
		o.config_path = absolute;
	if ((cfg = config_load(o.config_path, &errors)) == NULL) {
		fputs(errors, stderr);
		free(errors);
		free(absolute);
		return EXIT_BAD_CONFIG;
	}
	if (o.check || o.source_issues) {
		int rc = o.check ? check_only(cfg) : print_source_issues(cfg);
		config_free(cfg);
		free(absolute);
		return rc;
	}
	if ((pfh = take_pidfile(cfg)) == NULL) {
		config_free(cfg);
		free(absolute);
		return EXIT_SOME_FAILED;
	}
	if (!o.foreground) {
		daemonise();
		log_init("waved", false, 0);
	}
	pidfile_write(pfh);
	lo = (struct loop_options){ .config_path = o.config_path, .once = o.once,
	    .exit_on_error = o.exit_on_error, .cap = o.cap };
	int rc = loop_run(cfg, &lo);
	pidfile_remove(pfh);
	free(absolute);
	return rc;
}
