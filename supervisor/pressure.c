/*
 * The hands that pull the cap lever by themselves (DESIGN.md section 16):
 * the usage monitor's readings mapped by its steps, the memory floor (asked
 * at every admission, then looked at each second while it holds), the disk.
 * The tempfail streaks are the scheduler's own (it sees the exits of 75).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/cap.h"
#include "supervisor/supervisor.h"

#define MEMORY_CHECK_MS 1000
#define DISK_CHECK_MS 1000

static void
record(struct supervisor *sv, const char *name, cJSON *fields)
{
	journal_event(sv->journal, JOURNAL_DAEMON, name, fields);
}

/* A reading of the usage command: the usage hand moves to its step. */
static void
usage_read(const struct usage_reading *r, void *arg)
{
	struct supervisor *sv = arg;
	cJSON *f = cJSON_CreateObject();
	int limit;

	if (!r->ok) {
		/* Never pause on a broken monitor, never lift a pause on one. */
		log_warnx("usage: %s; the cap stays as it is", r->why);
		cJSON_AddStringToObject(f, "reason", r->why);
		record(sv, "usage_failed", f);
		return;
	}
	cJSON_AddNumberToObject(f, "percent", r->percent);
	if (r->resets_at > 0)
		cJSON_AddNumberToObject(f, "resets_at", (double)r->resets_at);
	else
		cJSON_AddNullToObject(f, "resets_at");
	record(sv, "usage", f);
	limit = usage_limit(&sv->cfg->usage, r->percent);
	admission_hand(sv->admission, CAP_USAGE, limit, "usage", "the usage monitor");
	/* Paused until a known reset: ask again then, not before. */
	if (limit == 0 && r->resets_at * 1000 > now_ms())
		usage_hold_until(sv->usage, mono_ms() + (r->resets_at * 1000 - now_ms()));
}

struct usage *
pressure_usage_new(struct supervisor *sv)
{
	return usage_new(usage_read, sv);
}

/* MemAvailable in bytes, or -1. */
static long long
mem_available(void)
{
	char *text = read_file("/proc/meminfo", NULL), *line;
	long long kib = -1;

	if (text && (line = strstr(text, "MemAvailable:")) != NULL)
		kib = strtoll(line + 13, NULL, 10);
	free(text);
	return kib < 0 ? -1 : kib * 1024;
}

/* May an issue of a repo whose phases recently peaked at peak_kb start now? */
bool
pressure_memory_room(long peak_kb, void *arg)
{
	struct supervisor *sv = arg;
	long long floor = sv->cfg->usage.min_free_mem, avail;

	if (floor == 0 || (avail = mem_available()) < 0)
		return true;
	return avail >= floor + (long long)peak_kb * 1024;
}

/* Held for memory: look again each second, for the next admission's repo. */
void
pressure_check_memory(struct supervisor *sv, int64_t now)
{
	if (sv->cfg->usage.min_free_mem == 0) {
		admission_memory_low(sv->admission, false);	/* a reload took the floor away */
		return;
	}
	if (now < sv->next_memory_check || !admission_memory_is_low(sv->admission))
		return;
	sv->next_memory_check = now + MEMORY_CHECK_MS;
	admission_memory_low(sv->admission, !pressure_memory_room(sched_next_peak_kb(sv->sched), sv));
}

/* A nearly full state_dir holds admissions until there is room again. */
void
pressure_check_disk(struct supervisor *sv, int64_t now)
{
	long long avail = 0;
	bool low;

	if (now < sv->next_disk_check ||
	    (!sched_waiting_for_slots(sv->sched) && !admission_disk_is_full(sv->admission)))
		return;
	sv->next_disk_check = now + DISK_CHECK_MS;
	low = disk_low(sv->cfg->state_dir, &avail);
	if (low != admission_disk_is_full(sv->admission)) {
		char *detail = xasprintf("%lld KiB free on %s", avail / 1024, sv->cfg->state_dir);

		admission_disk_full(sv->admission, low, detail);
		free(detail);
	}
}

int64_t
pressure_next_deadline(const struct supervisor *sv)
{
	/* Without a usage command the monitor never runs: no deadline of its own
	 * (its clock stays at 0, which would make every poll return at once). */
	int64_t next = sv->cfg->usage.command ? usage_next_deadline(sv->usage) : INT64_MAX;

	if (sv->cfg->usage.min_free_mem > 0 && admission_memory_is_low(sv->admission) &&
	    sv->next_memory_check < next)
		next = sv->next_memory_check;
	if ((sched_waiting_for_slots(sv->sched) || admission_disk_is_full(sv->admission)) &&
	    sv->next_disk_check < next)
		next = sv->next_disk_check;
	return next;
}
