# Ether build. `make` builds the release flavour into build/release/;
# `make asan` builds everything with AddressSanitizer + UBSan into build/asan/;
# `make test` builds both and runs every registered check (tests/checks.txt).
#
# Layout conventions, so that adding a file needs no Makefile edit:
#   <module>/*.c            -> build/<flavour>/lib/lib<module>.a
#                              (files ending in _main.c are programs, not library code)
#   tests/unit/test_<m>*.c  -> build/<flavour>/tests/unit/test_<m>*, a cmocka program
#                              linked with module <m> and what it depends on
#   tests/integration/<m>_*.c -> build/<flavour>/tests/integration/<m>_*, same linking
#   tests/bench/<m>_*.c     -> build/<flavour>/bench/<m>-*
#   tests/sim/*.c           -> build/<flavour>/raftsim

FLAVOUR ?= release
B := build/$(FLAVOUR)

# --- dependencies: install Debian packages when a header or tool is missing ---------------
DEP_FILES := /usr/include/uv.h /usr/include/lz4.h /usr/include/cmocka.h \
             /usr/include/protobuf-c/protobuf-c.h /usr/include/openssl/ssl.h \
             /usr/bin/protoc-c /usr/bin/clang-format /usr/bin/openssl
ifneq ($(filter-out $(wildcard $(DEP_FILES)),$(DEP_FILES)),)
$(info make: missing $(filter-out $(wildcard $(DEP_FILES)),$(DEP_FILES)); running scripts/install-deps)
DEPS_STATUS := $(shell scripts/install-deps >&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error scripts/install-deps failed; install the packages it names and retry)
endif
endif

# --- flags -------------------------------------------------------------------------------
CC ?= cc
WARNINGS := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wundef -Wpointer-arith -Wcast-qual -Werror
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g -I. -isystem $(B)/gen $(WARNINGS) -MMD -MP
# The modules whose arithmetic must be explicit about narrowing.
STRICT_MODULES := common raft storage
STRICT_FLAGS := -Wconversion

ifeq ($(FLAVOUR),release)
OPT_FLAGS := -O2
LINK_FLAGS :=
else ifeq ($(FLAVOUR),asan)
OPT_FLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LINK_FLAGS := -fsanitize=address,undefined
else ifeq ($(FLAVOUR),debug)
OPT_FLAGS := -O0
LINK_FLAGS :=
else
$(error unknown FLAVOUR '$(FLAVOUR)': use release, asan or debug)
endif

CFLAGS ?=
LDFLAGS ?=
EXTERNAL_LIBS := -lcmocka -luv -llz4 -lprotobuf-c -lssl -lcrypto -lpthread -lm

# --- modules and what each links with (dependencies last) -------------------------------
MODULES := common storage raft proto broker client
LIBS_common := common
LIBS_storage := storage common
LIBS_raft := raft common
LIBS_proto := proto common
LIBS_broker := broker proto raft storage common
LIBS_client := client proto common
LIBS_sim := raft common

module_sources = $(filter-out %_main.c,$(wildcard $(1)/*.c))
# proto/*.proto -> build/<flavour>/gen/proto/*.pb-c.{c,h}, compiled into libproto.a
PROTO_FILES := $(wildcard proto/*.proto)
PROTO_GEN_C := $(patsubst %.proto,$(B)/gen/%.pb-c.c,$(PROTO_FILES))
PROTO_GEN_H := $(PROTO_GEN_C:.c=.h)
generated_objects = $(if $(filter proto,$(1)),$(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(PROTO_GEN_C)))
module_objects = $(patsubst %.c,$(B)/obj/%.o,$(call module_sources,$(1))) $(call generated_objects,$(1))
lib_path = $(B)/lib/lib$(1).a
# "test_storage_crash" -> "storage"; "storage_crash" -> "storage"; "storage-bench" -> "storage"
module_of = $(firstword $(subst -, ,$(subst _, ,$(patsubst test_%,%,$(1)))))
libs_for = $(foreach m,$(LIBS_$(call module_of,$(1))),$(call lib_path,$(m)))

ALL_LIBS := $(foreach m,$(MODULES),$(if $(call module_sources,$(m)),$(call lib_path,$(m))))

UNIT_SOURCES := $(wildcard tests/unit/test_*.c)
UNIT_PROGRAMS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SOURCES))
INTEGRATION_SOURCES := $(wildcard tests/integration/*.c)
INTEGRATION_PROGRAMS := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(INTEGRATION_SOURCES))
BENCH_SOURCES := $(wildcard tests/bench/*.c)
# Bench programs are named with dashes (storage_bench.c -> storage-bench), as their rule below makes them.
BENCH_PROGRAMS := $(foreach s,$(BENCH_SOURCES),$(B)/bench/$(subst _,-,$(notdir $(basename $(s)))))
SIM_SOURCES := $(wildcard tests/sim/*.c)
SIM_PROGRAM := $(if $(and $(SIM_SOURCES),$(call module_sources,raft)),$(B)/raftsim)
SERVER_PROGRAMS := $(if $(wildcard broker/etherd_main.c),$(B)/etherd)
CLI_PROGRAMS := $(if $(wildcard client/ether_main.c),$(B)/ether)

# The simulator must be shown to bite: raft/*.c is built again with each injected bug
# (-DRAFT_BUG_...) into build/<flavour>/bug-<name>/libraft.a and linked as raftsim-<name>;
# tests/sim/check-bites asserts that a seed sweep of each of these finds a violation.
SIM_BUGS := commit-previous-term vote-for-shorter-log
SIM_BUG_MACRO_commit-previous-term := RAFT_BUG_COMMIT_PREVIOUS_TERM
SIM_BUG_MACRO_vote-for-shorter-log := RAFT_BUG_VOTE_FOR_SHORTER_LOG
SIM_BUG_PROGRAMS := $(if $(SIM_PROGRAM),$(foreach b,$(SIM_BUGS),$(B)/raftsim-$(b)))

PROGRAMS := $(UNIT_PROGRAMS) $(INTEGRATION_PROGRAMS) $(BENCH_PROGRAMS) $(SIM_PROGRAM) \
            $(SIM_BUG_PROGRAMS) $(SERVER_PROGRAMS) $(CLI_PROGRAMS)

.PHONY: all asan debug test check unit check-% programs-% format format-check run bench bench-storage bench-raft sim-long \
        clean help
.DEFAULT_GOAL := all

all: $(ALL_LIBS) $(PROGRAMS)

asan:
	@$(MAKE) --no-print-directory FLAVOUR=asan all

debug:
	@$(MAKE) --no-print-directory FLAVOUR=debug all

# --- compile and link (V=1 shows the full commands) ----------------------------------------
V ?= 0
ifeq ($(V),0)
Q := @
SAY = @printf '  %-6s %s\n'
else
Q :=
SAY = @true
endif

$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: %.proto
	@mkdir -p $(B)/gen
	$(SAY) PROTOC $<
	$(Q)protoc-c --proto_path=. --c_out=$(B)/gen $<

.SECONDARY: $(PROTO_GEN_C) $(PROTO_GEN_H)

# Generated code gets the warnings protoc-c's output is clean of, not the project's full set.
$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) -std=c11 -g -I$(B)/gen -Wall -Werror $(OPT_FLAGS) $(CFLAGS) -c $< -o $@

# Every object depends on the generated headers: any file may include proto/proto.h, and
# -MMD leaves them out of the .d files (they are on an -isystem path).
$(B)/obj/%.o: %.c $(PROTO_GEN_H)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(CFLAGS_COMMON) $(OPT_FLAGS) \
	    $(if $(filter $(STRICT_MODULES),$(firstword $(subst /, ,$<))),$(STRICT_FLAGS)) \
	    $(CFLAGS) -c $< -o $@

define module_lib_rule
$(call lib_path,$(1)): $(call module_objects,$(1))
	@mkdir -p $$(dir $$@)
	$$(SAY) AR $$@
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_lib_rule,$(m))))

# $(1) source stem, $(2) program, $(3) name that selects the libraries, $(4) extra objects
define program_rule
$(2): $(B)/obj/$(1).o $(4) $(call libs_for,$(3))
	@mkdir -p $$(dir $$@)
	$$(SAY) LINK $$@
	$$(Q)$$(CC) $$(OPT_FLAGS) $$(LINK_FLAGS) $$(LDFLAGS) -o $$@ $$< $(4) $(call libs_for,$(3)) $$(EXTERNAL_LIBS)
endef
# Integration programs share tests/integration/harness/*.c (real etherd processes on loopback).
INTEGRATION_HARNESS_OBJECTS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard tests/integration/harness/*.c))
$(foreach s,$(UNIT_SOURCES),$(eval $(call program_rule,$(basename $(s)),$(B)/$(basename $(s)),$(notdir $(basename $(s))))))
# (only into programs whose module links proto/, which the harness speaks)
harness_for = $(if $(filter proto,$(LIBS_$(call module_of,$(1)))),$(INTEGRATION_HARNESS_OBJECTS))
$(foreach s,$(INTEGRATION_SOURCES),$(eval $(call program_rule,$(basename $(s)),$(B)/$(basename $(s)),$(notdir $(basename $(s))),$(call harness_for,$(notdir $(basename $(s)))))))
$(foreach s,$(BENCH_SOURCES),$(eval $(call program_rule,$(basename $(s)),$(B)/bench/$(subst _,-,$(notdir $(basename $(s)))),$(notdir $(basename $(s))))))

# tests/integration/chaos/*.c -> build/<flavour>/tests/integration/chaos/ether-chaos: the
# workload, nemesis and checker of the chaos test in containers (libether only; run by
# tests/integration/chaos/run.sh, `make chaos`).
CHAOS_SOURCES := $(wildcard tests/integration/chaos/*.c)
CHAOS_PROGRAM := $(if $(CHAOS_SOURCES),$(B)/tests/integration/chaos/ether-chaos)
all: $(CHAOS_PROGRAM)
$(CHAOS_PROGRAM): $(patsubst %.c,$(B)/obj/%.o,$(CHAOS_SOURCES)) $(call libs_for,client)
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) $(OPT_FLAGS) $(LINK_FLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(call libs_for,client) $(EXTERNAL_LIBS)

$(B)/raftsim: $(patsubst %.c,$(B)/obj/%.o,$(SIM_SOURCES)) $(call libs_for,sim)
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) $(OPT_FLAGS) $(LINK_FLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(call libs_for,sim) $(EXTERNAL_LIBS)

define sim_bug_rule
$(B)/bug-$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(SAY) CC "$$< [-D$(SIM_BUG_MACRO_$(1))]"
	$$(Q)$$(CC) $$(CFLAGS_COMMON) $$(OPT_FLAGS) $$(STRICT_FLAGS) -D$(SIM_BUG_MACRO_$(1)) \
	    $$(CFLAGS) -c $$< -o $$@

$(B)/bug-$(1)/libraft.a: $(patsubst %.c,$(B)/bug-$(1)/obj/%.o,$(call module_sources,raft))
	@mkdir -p $$(dir $$@)
	$$(SAY) AR $$@
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(B)/raftsim-$(1): $(patsubst %.c,$(B)/obj/%.o,$(SIM_SOURCES)) $(B)/bug-$(1)/libraft.a \
                   $(call lib_path,common)
	$$(SAY) LINK $$@
	$$(Q)$$(CC) $$(OPT_FLAGS) $$(LINK_FLAGS) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) \
	    $(B)/bug-$(1)/libraft.a $(call lib_path,common) $$(EXTERNAL_LIBS)
endef
$(foreach b,$(SIM_BUGS),$(eval $(call sim_bug_rule,$(b))))

$(B)/etherd: $(B)/obj/broker/etherd_main.o $(call libs_for,broker)
	$(SAY) LINK $@
	$(Q)$(CC) $(OPT_FLAGS) $(LINK_FLAGS) $(LDFLAGS) -o $@ $< $(call libs_for,broker) $(EXTERNAL_LIBS)

$(B)/ether: $(B)/obj/client/ether_main.o $(call libs_for,client)
	$(SAY) LINK $@
	$(Q)$(CC) $(OPT_FLAGS) $(LINK_FLAGS) $(LDFLAGS) -o $@ $< $(call libs_for,client) $(EXTERNAL_LIBS)

# --- libether: the client library for other programs ---------------------------------------
# libether.so and libether.a hold client/ (without the CLI's cli_*.c), proto/ and common/,
# compiled again as position-independent code into build/<flavour>/pic/ so that no other
# object changes. The shared library exports only the API of client/ether.h
# (client/libether.map); tests/integration/client_install.sh checks that.
LIBETHER_SOURCES := $(filter-out client/cli_%.c,$(call module_sources,client)) \
                    $(call module_sources,proto) $(call module_sources,common)
LIBETHER_OBJECTS := $(patsubst %.c,$(B)/pic/%.o,$(LIBETHER_SOURCES)) \
                    $(patsubst $(B)/gen/%.c,$(B)/pic/gen/%.o,$(PROTO_GEN_C))
LIBETHER_SONAME := libether.so.0
LIBETHER_LIBS := -luv -llz4 -lprotobuf-c -lssl -lcrypto -lpthread
LIBETHER_TARGETS := $(if $(call module_sources,client),$(B)/lib/libether.so $(B)/lib/libether.a)

all: $(LIBETHER_TARGETS)

$(B)/pic/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(SAY) CC "$< [pic]"
	$(Q)$(CC) -std=c11 -g -fPIC -I$(B)/gen -Wall -Werror $(OPT_FLAGS) $(CFLAGS) -c $< -o $@

$(B)/pic/%.o: %.c | $(PROTO_GEN_H)
	@mkdir -p $(dir $@)
	$(SAY) CC "$< [pic]"
	$(Q)$(CC) $(CFLAGS_COMMON) -fPIC $(OPT_FLAGS) \
	    $(if $(filter $(STRICT_MODULES),$(firstword $(subst /, ,$<))),$(STRICT_FLAGS)) \
	    $(CFLAGS) -c $< -o $@

$(B)/lib/libether.so: $(LIBETHER_OBJECTS) client/libether.map
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) -shared -Wl,-soname,$(LIBETHER_SONAME) -Wl,--version-script=client/libether.map \
	    -Wl,--no-undefined $(OPT_FLAGS) $(LINK_FLAGS) $(LDFLAGS) -o $@ $(LIBETHER_OBJECTS) \
	    $(LIBETHER_LIBS)

$(B)/lib/libether.a: $(LIBETHER_OBJECTS)
	@mkdir -p $(dir $@)
	$(SAY) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/ether.pc: Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	    'Name: ether' 'Description: client library of the Ether replicated log broker' \
	    'Version: $(shell sed -n 's/^#define ETHER_VERSION_STRING "\(.*\)"/\1/p' client/ether.h)' \
	    'Libs: -L$${libdir} -lether' 'Libs.private: $(LIBETHER_LIBS)' \
	    'Cflags: -I$${includedir}' >$@

# `make install PREFIX=/opt/ether` (default /usr/local; DESTDIR for staging): etherd (when
# broker/etherd_main.c exists), ether, libether.so, libether.a, ether.h and ether.pc.
PREFIX ?= /usr/local
DESTDIR ?=
.PHONY: install $(B)/ether.pc
install: $(SERVER_PROGRAMS) $(CLI_PROGRAMS) $(LIBETHER_TARGETS) $(B)/ether.pc
	@mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	$(if $(SERVER_PROGRAMS),install -m 755 $(SERVER_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/)
	install -m 755 $(CLI_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(B)/lib/libether.so $(DESTDIR)$(PREFIX)/lib/$(LIBETHER_SONAME)
	ln -sf $(LIBETHER_SONAME) $(DESTDIR)$(PREFIX)/lib/libether.so
	install -m 644 $(B)/lib/libether.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 client/ether.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/ether.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

-include $(shell find build/$(FLAVOUR)/obj build/$(FLAVOUR)/bug-* -name '*.d' 2>/dev/null)
-include $(shell find build/$(FLAVOUR)/pic -name '*.d' 2>/dev/null)

# --- tests -------------------------------------------------------------------------------
# Every check in tests/checks.txt runs against both flavours where it says so;
# tests/run-checks prints one line per check and the totals line "N passed, N failed".
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test check:
	@$(MAKE) --no-print-directory -j$(JOBS) FLAVOUR=release all
	@$(MAKE) --no-print-directory -j$(JOBS) FLAVOUR=asan all
	@tests/run-checks

unit: all
	@tests/run-checks --only-unit --flavour $(FLAVOUR)

# `make check-storage`: build and run only one module's unit tests and checks (both flavours),
# so work on one module is not blocked by another module that does not compile yet.
programs_of = $(foreach p,$(UNIT_PROGRAMS) $(INTEGRATION_PROGRAMS) $(BENCH_PROGRAMS),\
                $(if $(filter $(1),$(call module_of,$(notdir $(p)))),$(p)))
programs-%:
	@true $(call programs_of,$*)
$(foreach m,$(MODULES) sim,$(eval programs-$(m): $(call programs_of,$(m))))
programs-sim: $(SIM_PROGRAM) $(SIM_BUG_PROGRAMS)

check-%:
	@$(MAKE) --no-print-directory FLAVOUR=release programs-$*
	@$(MAKE) --no-print-directory FLAVOUR=asan programs-$*
	@tests/run-checks --module $*

format:
	@find common storage raft proto broker client tests -name '*.[ch]' \
	    -not -path '*/gen/*' | xargs -r clang-format -i

format-check:
	@find common storage raft proto broker client tests -name '*.[ch]' \
	    -not -path '*/gen/*' | xargs -r clang-format --dry-run -Werror

# --- long runs and benchmarks (not part of `make test`) ----------------------------------
bench: bench-storage bench-raft

bench-raft: all
	@if [ -x $(B)/raftsim ]; then $(B)/raftsim --bench; \
	 else echo "make: raftsim is not built yet"; exit 2; fi

bench-storage: all
	@if [ -x $(B)/bench/storage-bench ]; then $(B)/bench/storage-bench; \
	 else echo "make: storage-bench is not built (tests/bench/storage_bench.c missing)"; exit 2; fi

# `make crash-storage`: 200 SIGKILLs of a syncing writer, each followed by reopen and a full check.
.PHONY: crash-storage
crash-storage:
	@$(MAKE) --no-print-directory FLAVOUR=release programs-storage
	@build/release/tests/integration/storage_crash --iterations 200

sim-long: all
	@if [ -x $(B)/raftsim ]; then $(B)/raftsim --seeds 1-100000; \
	 else echo "make: raftsim is not built yet (tests/sim/ is empty)"; exit 2; fi

# --- running a local cluster -------------------------------------------------------------
run: all
	@if [ -x $(B)/etherd ]; then scripts/run-local-cluster $(B); \
	 else echo "make run: etherd, the broker, is not built yet (broker/ has no etherd_main.c)."; \
	      echo "make run: the storage engine and Raft core are built and tested by 'make test'."; \
	      exit 2; fi

# `make run-tls`: the same cluster with TLS and client certificates required (certificates
# from scripts/make-test-certs in data/certs/; the ether flags to use are printed).
.PHONY: run-tls
run-tls: all
	@scripts/run-local-cluster $(B) --tls

# `make run-secure`: the TLS cluster with authorization: clients log in with a certificate or
# SCRAM-SHA-256 (ether user), ACLs decide what they may do (ether acl); alice is super user.
.PHONY: run-secure
run-secure: all
	@scripts/run-local-cluster $(B) --tls -- --tls-client-auth requested --authorization true \
		--super-users alice

# `make bench-tls`: produce throughput over TLS and in clear, one three-broker cluster after
# the other on this machine (tests/integration/client_tls.py --bench; prints, asserts nothing).
# ROUNDS=3 alternates three of each and prints the medians (for a noisy machine).
.PHONY: bench-tls
bench-tls: all
	@python3 tests/integration/client_tls.py $(B) --bench --rounds=$(or $(ROUNDS),1)

clean:
	rm -rf build

help:
	@echo "make            build everything (release flavour, build/release/)"
	@echo "make run        start a local three-broker cluster"
	@echo "make test       build release and asan flavours and run every check"
	@echo "make asan       build with AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make format     apply clang-format to all C sources"
	@echo "make bench      run the benchmarks (prints figures, asserts nothing)"
	@echo "make sim-long   sweep 100,000 Raft simulator seeds"
	@echo "make chaos      chaos test of a three-broker cluster in containers (CHAOS_DURATION=1800)"
	@echo "make install    install etherd, ether, libether and ether.h (PREFIX=/usr/local)"

# --- containers (docker/; of these, `make test` runs only the short chaos check) -------
# `make docker-up` builds etherd/ether, the base image (offline, docker/make-base-image,
# only when BASE_IMAGE is missing) and ether:latest, then starts ether-1..3 and waits
# until they are healthy. `make docker-down` stops them with SIGTERM and removes the
# containers; the data volumes are kept unless VOLUMES=1.
DOCKER_BASE_IMAGE ?= debian:bookworm-slim
DOCKER_IMAGE ?= ether:latest
DOCKER_COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; \
                          else echo docker-compose; fi)
COMPOSE = $(DOCKER_COMPOSE) -f docker/compose.yml --project-directory docker

.PHONY: docker-base-image docker-build docker-up docker-down
docker-base-image:
	@if docker image inspect $(DOCKER_BASE_IMAGE) >/dev/null 2>&1; then \
	     echo "make: base image $(DOCKER_BASE_IMAGE) is present"; \
	 else docker/make-base-image; fi

docker-build: docker-base-image
	@$(MAKE) --no-print-directory FLAVOUR=release all
	DOCKER_BUILDKIT=0 docker build -q --build-arg BASE_IMAGE=$(DOCKER_BASE_IMAGE) \
	    -f docker/Dockerfile -t $(DOCKER_IMAGE) .
	@docker images $(DOCKER_IMAGE) --format 'make: {{.Repository}}:{{.Tag}} is {{.Size}}'

docker-up: docker-build
	BASE_IMAGE=$(DOCKER_BASE_IMAGE) $(COMPOSE) up -d --no-build ether-1 ether-2 ether-3
	@echo "make: waiting for ether-1..3 to be healthy"; \
	 for i in $$(seq 1 90); do \
	     states=$$(docker inspect -f '{{.State.Health.Status}}' ether-1 ether-2 ether-3 2>/dev/null | sort -u); \
	     [ "$$states" = healthy ] && break; sleep 1; \
	 done; \
	 docker inspect -f '{{.Name}} {{.State.Health.Status}}' ether-1 ether-2 ether-3; \
	 [ "$$states" = healthy ] || { echo "make: the brokers are not healthy; see $(COMPOSE) logs"; exit 1; }
	@$(COMPOSE) run --rm ether cluster health
	@echo "make: the CLI: cd docker && $(DOCKER_COMPOSE) run --rm ether COMMAND ..."

docker-down:
	$(COMPOSE) stop -t 30
	@docker inspect -f '{{.Name}} exited with status {{.State.ExitCode}}' ether-1 ether-2 ether-3 2>/dev/null || true
	$(COMPOSE) down --remove-orphans $(if $(filter 1,$(VOLUMES)),--volumes)

# `make docker-up-tls` / `make docker-down-tls`: the same cluster (containers, volumes) with
# TLS on the client port and between brokers, and client certificates required:
# docker/compose-tls.yml on top of compose.yml. docker/make-tls-certs makes the certificates
# in build/docker-certs/ (ETHER_CERTS), mounted read-only. docker-up's and docker-down's
# recipes, run with both compose files.
COMPOSE_TLS_OVERRIDES = DOCKER_COMPOSE="$(DOCKER_COMPOSE) -f compose.yml -f compose-tls.yml" \
    COMPOSE="$(DOCKER_COMPOSE) -f docker/compose.yml -f docker/compose-tls.yml --project-directory docker"

.PHONY: docker-tls-certs docker-up-tls docker-down-tls
docker-tls-certs:
	@docker/make-tls-certs

docker-up-tls: docker-tls-certs
	@$(MAKE) --no-print-directory docker-up $(COMPOSE_TLS_OVERRIDES)

docker-down-tls:
	@$(MAKE) --no-print-directory docker-down $(COMPOSE_TLS_OVERRIDES)

# `make chaos`: the chaos test in containers (tests/integration/chaos/run.sh): builds the
# image, starts a three-broker cluster of its own (project etherchaos on 172.28.91.0/24, so
# it does not touch `make docker-up`'s), runs idempotent producers and consumers through
# CHAOS_DURATION seconds of seeded faults (kill, pause, network cut, controller and
# partition leader kills), checks the history, and removes the cluster and its volumes.
# CHAOS_SEED repeats a run's faults (default: random, printed). `make chaos-short` is the
# ~2-minute version that `make test` runs (tests/checks.txt).
CHAOS_DURATION ?= 1800
CHAOS_SEED ?=
.PHONY: chaos chaos-short
chaos:
	@tests/integration/chaos/run.sh --duration $(CHAOS_DURATION) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

chaos-short:
	@tests/integration/chaos/run.sh --short $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))
