# SPDX-License-Identifier: GPL-2.0-only
# aegis build: BPF objects (clang, CO-RE) -> bpftool skeletons -> one `aegis` binary.
# V=1 prints full commands.

OUT        ?= build
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
DESTDIR    ?=
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV    := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LIBS_PC   := libbpf yaml-0.1 jansson libmicrohttpd libcurl libcap libelf zlib
PC_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
PC_LIBS   := $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	   -Wstrict-prototypes -Wmissing-prototypes -Wno-format-truncation -D_GNU_SOURCE \
	   -DAEGIS_VERSION='"$(VERSION)"' -DAEGIS_GIT_REV='"$(GIT_REV)"' \
	   -Iinclude -I$(OUT) -Isrc $(PC_CFLAGS) -MMD -MP
LDLIBS  += $(PC_LIBS) -lpcap -lm

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Iinclude -Ibpf -MMD -MP

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))

SRCS      := $(wildcard src/*.c)
OBJS      := $(patsubst src/%.c,$(OUT)/src/%.o,$(SRCS)) $(OUT)/src/embed.o
LIB_OBJS  := $(filter-out $(OUT)/src/main.o,$(OBJS))

TEST_SRCS := $(wildcard tests/unit/*.c)
TEST_OBJS := $(patsubst tests/unit/%.c,$(OUT)/tests/%.o,$(TEST_SRCS))

.PHONY: docs all deps test-deps run test unit e2e bench install uninstall clean vmlinux check-format
.DEFAULT_GOAL := all
# Keep the intermediate objects so a rebuild does not redo every step.
.SECONDARY:

FIXTURE_SRCS := $(wildcard tests/fixtures/*.bpf.c)
FIXTURE_OBJS := $(patsubst tests/fixtures/%.bpf.c,$(OUT)/fixtures/%.bpf.o,$(FIXTURE_SRCS))

all: $(OUT)/aegis $(BPF_OBJS) $(OUT)/test_unit $(FIXTURE_OBJS)

# ---- the two Quick start commands ---------------------------------------
deps:
	$(Q)sh scripts/install-deps.sh

test-deps:
	$(Q)sh scripts/install-deps.sh --test

# `make run`: install what is missing, build, run the agent on its embedded default config.
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(OUT)/aegis agent $(AGENT_ARGS)

# `make test`: install what is missing, build, run every test; last line is "N passed, N failed".
test: test-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/run.sh $(TESTS)

unit: all
	$(Q)sh tests/run.sh unit

e2e: all
	$(Q)sh tests/run.sh e2e

bench: all
	$(Q)sh bench/run.sh

# ---- BPF ------------------------------------------------------------------
# Regenerate the committed vmlinux.h from this kernel's BTF (rarely needed: CO-RE relocates).
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > include/vmlinux.h

$(OUT)/bpf/%.tmp.bpf.o: bpf/%.bpf.c | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/bpf/%.bpf.o: $(OUT)/bpf/%.tmp.bpf.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(OUT)/%.skel.h: $(OUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# Test fixtures: BPF objects the tests feed to the agent (never embedded in it).
$(OUT)/fixtures/%.bpf.o: tests/fixtures/%.bpf.c | $(OUT)/fixtures
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# ---- user space -----------------------------------------------------------
$(OUT)/src/%.o: src/%.c $(SKELS) | $(OUT)/src
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The embedded default configuration is linked in as data (BPF objects ride in their skeletons).
$(OUT)/src/embed.o: src/embed.S src/default.yaml | $(OUT)/src
	$(call msg,AS,$@)
	$(Q)$(CC) -c $< -o $@

$(OUT)/aegis: $(OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/tests/%.o: tests/unit/%.c $(SKELS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -c $< -o $@

$(OUT)/test_unit: $(TEST_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/bpf $(OUT)/src $(OUT)/tests $(OUT)/fixtures:
	$(Q)mkdir -p $@

# The CLI reference is generated from the command table in src/cli.c.
docs: $(OUT)/aegis
	$(Q)$(OUT)/aegis help --markdown > docs/cli.md

# ---- install --------------------------------------------------------------
install: all
	install -D -m 0755 $(OUT)/aegis $(DESTDIR)$(PREFIX)/sbin/aegis
	install -D -m 0644 packaging/aegis.service $(DESTDIR)/etc/systemd/system/aegis.service
	install -D -m 0644 src/default.yaml $(DESTDIR)/etc/aegis/aegis.yaml.example
	@# An existing configuration is never overwritten.
	test -e $(DESTDIR)/etc/aegis/aegis.yaml || install -m 0644 src/default.yaml $(DESTDIR)/etc/aegis/aegis.yaml
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/doc/aegis
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/aegis/
	@echo "installed; enable with: systemctl daemon-reload && systemctl enable --now aegis"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/aegis $(DESTDIR)/etc/systemd/system/aegis.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/aegis

clean:
	rm -rf $(OUT)

-include $(wildcard $(OUT)/src/*.d $(OUT)/tests/*.d $(OUT)/bpf/*.d $(OUT)/fixtures/*.d)
