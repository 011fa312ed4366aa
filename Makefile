# signet: firmware code-signing keys kept in a PKCS#11 HSM.
# `make` builds build/signet; `make check` runs every test; `make demo` runs
# the end-to-end story on the embedded SoftHSM2 default.  All three install
# the Debian packages they need first (see `make deps`).

PREFIX     ?= /usr/local
CC         ?= cc
CFLAGS     ?= -O2 -g
SANITIZE   ?=
DEVELOPER  ?=
# Sanitizer builds live apart so that objects of the two kinds never mix.
ifneq ($(SANITIZE),)
BUILD      ?= build/sanitize
else
BUILD      ?= build
endif

DEB_PACKAGES := build-essential pkg-config libssl-dev openssl libp11-kit-dev \
	softhsm2 libyaml-dev libjansson-dev opensc libmbedtls-dev libcmocka-dev \
	jq xxd strace time libcsv-dev libpq-dev postgresql prometheus prometheus-node-exporter chromium python3-icalendar \
	p11-kit p11-kit-modules swtpm libtpm2-pkcs11-1 libtss2-tcti-swtpm0 gdb faketime \
	gnutls-bin libengine-pkcs11-openssl

PKGS       := libcrypto yaml-0.1 jansson p11-kit-1
# libpq: its header only; fleet_source.c loads the library when a fleet first reads PostgreSQL.
PKGS_CFLAGS_ONLY := libpq
# ssh-keygen: makes and checks the approvers' SSH signatures in the two-person rule tests (the peer).
DEB_PACKAGES += openssh-client
# tests/tools/ota_update_check.py: the AWS CLI's service model, the peer for sign --ota-update.
DEB_PACKAGES += python3-botocore
WARN       := -std=c11 -Wall -Wextra -Wpedantic -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wwrite-strings -fstack-protector-strong
ALL_CFLAGS  = $(WARN) $(CFLAGS) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Iinclude \
	-DSGT_POLICY_DIR='"$(PREFIX)/share/signet/policies"' \
	$(shell pkg-config --cflags $(PKGS) $(PKGS_CFLAGS_ONLY) 2>/dev/null)
ALL_LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lmbedx509 -lmbedcrypto -ldl -lpthread
ifneq ($(DEVELOPER),)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer -O1
LDFLAGS    += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
endif

# src/ is in folders by floor (docs/development.md): base, formats, custody,
# ops, cmd.  Objects stay flat, so a file's name is unique across folders.
SRC_DIRS := src/base src/formats src/custody src/ops src/cmd
SRCS     := $(sort $(wildcard $(SRC_DIRS:%=%/*.c)))
LIB_SRCS := $(filter-out src/cmd/%,$(SRCS))
OBJS     := $(addprefix $(BUILD)/obj/,$(notdir $(SRCS:.c=.o)))
LIB_OBJS := $(addprefix $(BUILD)/obj/,$(notdir $(LIB_SRCS:.c=.o)))
vpath %.c $(SRC_DIRS)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
# Fuzz harnesses: tests/fuzz/fuzz_<parser>.c; `make check` replays their corpora
# through a plain driver ($(BUILD)/fuzz-replay/fuzz_<parser>), `make fuzz` runs libFuzzer.
FUZZ_HARNESS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(FUZZ_HARNESS:tests/fuzz/%.c=%)
REPLAY_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)

.PHONY: all deps check check-dates check-campaigns unit cli demo bench install clean

all: deps $(BUILD)/signet

# Installs missing Debian packages (as root), or says what to run.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "signet needs these Debian packages; run:"; \
	    echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/signet: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(ALL_LDLIBS)

$(BUILD)/libsignet.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $(LIB_OBJS)

$(BUILD)/unit/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libsignet.a | $(BUILD)/unit
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsignet.a $(ALL_LDLIBS) -lcmocka

# Test-only PKCS#11 shim for error paths a real token cannot produce.
$(BUILD)/fakes/libp11shim.so: tests/fakes/p11shim.c | $(BUILD)/fakes
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $< -ldl -lpthread

# Independent peer: tries to read a private key's secret value straight from the module.
$(BUILD)/fakes/p11peek: tests/tools/p11peek.c | $(BUILD)/fakes
	$(CC) $(ALL_CFLAGS) -o $@ $< -ldl -lpthread

$(BUILD)/fakes/mbedverify: tests/fakes/mbedverify.c | $(BUILD)/fakes
	$(CC) $(ALL_CFLAGS) -o $@ $< -lmbedtls -lmbedx509 -lmbedcrypto

# Independent peer: an MCUboot image check written from the format on mbedTLS alone.
$(BUILD)/fakes/mcubootverify: tests/fakes/mcubootverify.c | $(BUILD)/fakes
	$(CC) $(ALL_CFLAGS) -o $@ $< -lmbedtls -lmbedx509 -lmbedcrypto

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(BUILD)/libsignet.a | $(BUILD)/fuzz-replay
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libsignet.a $(ALL_LDLIBS)

$(BUILD)/obj $(BUILD)/unit $(BUILD)/fakes $(BUILD)/fuzz-replay:
	mkdir -p $@

unit: deps $(UNIT_BINS)

check: deps $(BUILD)/signet $(UNIT_BINS) $(REPLAY_BINS) $(BUILD)/fakes/libp11shim.so $(BUILD)/fakes/p11peek $(BUILD)/fakes/mbedverify $(BUILD)/fakes/mcubootverify
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh

# The long fault campaigns (SIGKILL and I/O errors at every syscall; tests/run.sh), apart from
# `make check` to keep it short; CI runs both.
check-campaigns: deps $(BUILD)/signet $(BUILD)/fakes/libp11shim.so $(BUILD)/fakes/p11peek $(BUILD)/fakes/mbedverify
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) SIGNET_CAMPAIGNS=only tests/run.sh

# Only the runs on other dates (see tests/run.sh); `make check` includes them.
check-dates: deps $(BUILD)/signet $(BUILD)/fakes/libp11shim.so $(BUILD)/fakes/p11peek $(BUILD)/fakes/mbedverify $(BUILD)/fakes/mcubootverify
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) SIGNET_DATES=only tests/run.sh

demo: deps $(BUILD)/signet
	@BUILD=$(BUILD) tests/demo.sh

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libsignet.a
	@mkdir -p $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsignet.a $(ALL_LDLIBS)

# An LD_PRELOAD library for the bench's "signet without fsync" figure only.
$(BUILD)/bench/nosync.so: tests/bench/nosync.c
	@mkdir -p $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -fPIC -shared -o $@ $<

bench: deps $(BUILD)/signet $(BUILD)/bench/bench_audit $(BUILD)/bench/bench_fleet $(BUILD)/bench/bench_p11loop $(BUILD)/bench/bench_delay $(BUILD)/bench/nosync.so
	@BUILD=$(BUILD) tests/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/signet/policies $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/signet $(DESTDIR)$(PREFIX)/bin/signet
	install -m 0644 policies/*.yaml $(DESTDIR)$(PREFIX)/share/signet/policies/
	install -m 0644 docs/signet.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 contrib/bash-completion/signet $(DESTDIR)$(PREFIX)/share/bash-completion/completions/signet

clean:
	rm -rf $(BUILD)

# libFuzzer: every harness built with clang's libFuzzer plus ASan/UBSan (halting on
# the first report), then run FUZZ_SECONDS each, FUZZ_JOBS at a time.  New inputs go to
# build/fuzz/corpus/<name>, crashes to build/fuzz/crash/, logs to build/fuzz/log/;
# the seeds are tests/fuzz/corpus/<name>.  `make fuzz-build` only builds.
.PHONY: fuzz fuzz-build
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -g -O1 $(FUZZ_SAN) -D_GNU_SOURCE -Iinclude -DSGT_POLICY_DIR='"$(PREFIX)/share/signet/policies"' \
	$(shell pkg-config --cflags $(PKGS) $(PKGS_CFLAGS_ONLY) 2>/dev/null)
FUZZ_OBJS    := $(addprefix build/fuzz/obj/,$(notdir $(LIB_SRCS:.c=.o)))
FUZZ_BINS    := $(FUZZ_NAMES:%=build/fuzz/%)

build/fuzz/obj/%.o: %.c $(wildcard include/*.h)
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libsignet.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $(FUZZ_OBJS)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build/fuzz/libsignet.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libsignet.a $(ALL_LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh $(FUZZ_NAMES)
