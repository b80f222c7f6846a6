# waved: build, test, demo, bench, install.  GNU make; every library through pkg-config.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
ETCDIR  ?= /etc/waved
UNITDIR ?= /lib/systemd/system
DESTDIR ?=

BUILD   ?= build
CC      ?= gcc
PKGS     = libcurl sqlite3 libcjson libbsd inih
SANITIZE ?=

# make V=1 shows every command.
Q = $(if $(filter 1,$(V)),,@)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is not linked: supervisor/github/curl_dl.c loads it when waved first talks to GitHub.
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)
CRIT_CFLAGS := $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS   := $(shell pkg-config --libs criterion 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I. $(PKG_CFLAGS) $(SANITIZE)
LDFLAGS += -Wl,--as-needed $(SANITIZE)
LDLIBS  += $(PKG_LIBS) -lm

# One library per side, so that the link says who may call what: common/
# is what more than one of supervisor, worker and wavectl link; the
# supervisor (its GitHub client in supervisor/github/), the worker and
# wavectl each have their own.  Only waved's main.c joins the supervisor and
# the worker (waved --worker).  wavectl links none of the supervisor: what
# it needs of GitHub (plan) it asks of waved (waved --source-issues).
# scripts/check-layers fails the build when a library needs a symbol of a
# side it may not call.  A library keeps members by their base name: no two
# files of one library may share one.
COMMON_SRC = $(wildcard common/*.c)
SUPERVISOR_SRC = $(filter-out supervisor/main.c,$(wildcard supervisor/*.c)) \
    $(wildcard supervisor/github/*.c)
WORKER_SRC = $(wildcard worker/*.c)
CTL_SRC    = $(filter-out ctl/wavectl.c,$(wildcard ctl/*.c))
TEST_SRC   = $(wildcard tests/test_*.c) $(wildcard tests/lib/*.c)

TEST_OBJ   = $(TEST_SRC:%.c=$(BUILD)/%.o)
LIBCOMMON  = $(BUILD)/libwaved-common.a
LIBSUPERVISOR = $(BUILD)/libwaved-supervisor.a
LIBWORKER  = $(BUILD)/libwaved-worker.a
LAYERS     = $(BUILD)/.layers-checked
LIBCTL     = $(BUILD)/libwaved-ctl.a
WAVED    = $(BUILD)/waved
WAVECTL  = $(BUILD)/wavectl
TESTS    = $(BUILD)/waved-tests
BENCH    = $(BUILD)/bench-plan
BENCHRUN = $(BUILD)/bench-run
BENCHGIT = $(BUILD)/bench-git

.PHONY: all deps test test-future check asan demo bench fuzz fuzz-binaries install clean
.DEFAULT_GOAL := all

all: $(WAVED) $(WAVECTL) $(LAYERS)

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: CFLAGS += $(CRIT_CFLAGS)

$(LIBCOMMON): $(COMMON_SRC:%.c=$(BUILD)/%.o)
$(LIBSUPERVISOR): $(SUPERVISOR_SRC:%.c=$(BUILD)/%.o)
$(LIBWORKER): $(WORKER_SRC:%.c=$(BUILD)/%.o)
$(LIBCTL): $(CTL_SRC:%.c=$(BUILD)/%.o)
$(LIBCOMMON) $(LIBSUPERVISOR) $(LIBWORKER) $(LIBCTL):
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

LINK = $(if $(Q),@echo "  LD      $@";) $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(WAVED): $(BUILD)/supervisor/main.o $(LIBSUPERVISOR) $(LIBWORKER) $(LIBCOMMON)
	$(Q)$(LINK)

$(WAVECTL): $(BUILD)/ctl/wavectl.o $(LIBCTL) $(LIBCOMMON)
	$(Q)$(LINK)

$(LAYERS): scripts/check-layers $(LIBCOMMON) $(LIBSUPERVISOR) $(LIBWORKER) $(LIBCTL)
	$(Q)scripts/check-layers $(BUILD) && touch $@

$(TESTS): $(TEST_OBJ) $(LIBSUPERVISOR) $(LIBWORKER) $(LIBCTL) $(LIBCOMMON)
	$(Q)$(LINK) $(CRIT_LIBS)

$(BENCH): $(BUILD)/scripts/bench_plan.o $(LIBCOMMON)
	$(Q)$(LINK)

# The counting git of make bench (a git on PATH that logs each run).
$(BENCHGIT): $(BUILD)/scripts/bench_git.o
	$(Q)$(LINK)

$(BENCHRUN): $(BUILD)/scripts/bench_run.o $(BUILD)/scripts/bench_lib.o $(BUILD)/scripts/bench_memory.o \
    $(BUILD)/scripts/bench_makespan.o $(LIBCOMMON)
	$(Q)$(LINK)

# The whole suite: Criterion unit tests and end-to-end tests that drive the
# real binaries (found through WAVED_BUILD).
check: $(WAVED) $(WAVECTL) $(TESTS)
	scripts/run-tests $(abspath $(BUILD)) $(TESTFLAGS)

test: deps
	@$(MAKE) --no-print-directory check

# The suites that read times (GitHub's rate limits and resets, the store,
# the event log) two years ahead: no fixture or assertion may hold a date
# that can pass.  make test-future FUTURE=+3650d looks further.
FUTURE ?= +730d
FUTURE_SUITES = @(github|github_names|github_pulls|store|events|e2e_github)/*

test-future: deps
	@$(MAKE) --no-print-directory $(WAVED) $(WAVECTL) $(TESTS)
	WAVED_SLURM=no faketime -f '$(FUTURE)' scripts/run-tests $(abspath $(BUILD)) \
	    --filter '$(FUTURE_SUITES)'

asan: deps
	@$(MAKE) --no-print-directory check BUILD=build/asan \
	    SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo $(abspath $(BUILD))

# make fuzz: libFuzzer harnesses (tests/fuzz/) built with clang, ASan and
# UBSan in build/fuzz, each run FUZZ_S seconds from its seed corpus.
FUZZ_S  ?= 60
FUZZERS  = proto config issues github control
FUZZBIN  = $(FUZZERS:%=$(BUILD)/fuzz-%)

fuzz:
	@scripts/install-deps fuzz
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang \
	    SANITIZE="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    fuzz-binaries
	@scripts/run-fuzz build/fuzz $(FUZZ_S) $(FUZZERS)

# The objects are named too: made only as a step to a harness, make would
# delete them after each build.
fuzz-binaries: $(FUZZBIN) $(FUZZERS:%=$(BUILD)/tests/fuzz/fuzz_%.o) $(BUILD)/tests/fuzz/fuzz_lib.o

$(BUILD)/fuzz-%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/fuzz_lib.o $(LIBSUPERVISOR) $(LIBWORKER) $(LIBCOMMON)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory $(BENCH) $(BENCHRUN) $(BENCHGIT) $(WAVED) $(WAVECTL)
	@scripts/bench $(abspath $(BUILD))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(ETCDIR)
	install -m 755 $(WAVED) $(WAVECTL) $(DESTDIR)$(BINDIR)/
	install -m 644 man/waved.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(wildcard man/*.8) $(DESTDIR)$(MANDIR)/man8/
	install -m 644 etc/waved.conf.example $(DESTDIR)$(ETCDIR)/waved.conf.example
	install -d $(DESTDIR)$(ETCDIR)/usage $(DESTDIR)$(ETCDIR)/tracker
	install -m 755 $(wildcard etc/usage/*) $(DESTDIR)$(ETCDIR)/usage/
	install -m 755 $(wildcard etc/tracker/*) $(DESTDIR)$(ETCDIR)/tracker/
	install -d $(DESTDIR)/etc/init.d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(BINDIR)|g' etc/init.d/waved > $(DESTDIR)/etc/init.d/waved
	chmod 755 $(DESTDIR)/etc/init.d/waved
	sed 's|@SBINDIR@|$(BINDIR)|g' etc/waved.service > $(DESTDIR)$(UNITDIR)/waved.service

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
