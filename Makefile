# pyperf build. All outputs under build/. `make V=1` shows commands.
BUILD    := build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN     := -Wall -Wextra -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -I$(BUILD) -Ibpf -Iuser -Iflamegraph -Ilayouts
LDLIBS   := -lbpf -lelf -lz -lcurl -lpthread
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Everything but main() goes into a library the unit tests link against.
USER_SRCS := $(wildcard user/*/*.c)
LIB_SRCS  := $(filter-out user/cmd/main.c,$(USER_SRCS)) $(wildcard flamegraph/*.c) $(wildcard layouts/*.c)
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
ASAN_OBJS := $(patsubst %.c,$(BUILD)/asan/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
HDRS      := $(wildcard bpf/*.h user/*/*.h flamegraph/*.h layouts/*.h)
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

.DELETE_ON_ERROR:
# Keep the BPF object and the skeleton (make would delete them as
# intermediates, and every object depends on the skeleton). Not a bare
# .SECONDARY: that also let an archive whose object list grew stay stale.
.SECONDARY: $(SKELS) $(patsubst %.skel.h,%.bpf.o,$(SKELS))
.PHONY: all deps test unit demo clean bench fuzz install

all: $(BUILD)/pyperf

deps:
	$(Q)tests/helpers/install-deps.sh

$(BUILD)/vmlinux.h:
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c bpf/pyperf.h bpf/pyperf_frame.h $(BUILD)/vmlinux.h
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -I$(BUILD) -Ibpf -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

$(BUILD)/obj/%.o: %.c $(SKELS) $(HDRS)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c $(SKELS) $(HDRS)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) -c $< -o $@

$(BUILD)/libpyperf.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libpyperf-asan.a: $(ASAN_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/pyperf: $(BUILD)/obj/user/cmd/main.o $(BUILD)/libpyperf.a
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The same program with ASan+UBSan, used by the end-to-end tests.
$(BUILD)/pyperf-asan: $(BUILD)/asan/user/cmd/main.o $(BUILD)/libpyperf-asan.a
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LDLIBS) -o $@

# Unit tests always run under ASan+UBSan.
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libpyperf-asan.a
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) -Itests/unit $< $(BUILD)/libpyperf-asan.a $(LDLIBS) -o $@

# A test helper for the e2e tests: objects of a live target read by pyobj.c.
$(BUILD)/tests/pyobj_read: tests/helpers/pyobj_read.c $(BUILD)/libpyperf-asan.a
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) $< $(BUILD)/libpyperf-asan.a $(LDLIBS) -o $@

unit: $(UNIT_BINS) $(BUILD)/tests/pyobj_read

test: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/pyperf-asan unit fuzz-build
	$(Q)python3 tests/run.py

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/helpers/demo.sh

PREFIX  ?= /usr/local
DESTDIR ?=

install: all
	install -D -m 0755 $(BUILD)/pyperf $(DESTDIR)$(PREFIX)/bin/pyperf
	install -D -m 0644 user/pyperf.1 $(DESTDIR)$(PREFIX)/share/man/man1/pyperf.1
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@PREFIX@|$(PREFIX)|g' user/pyperf.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/pyperf.service

clean:
	rm -rf $(BUILD)

# Benchmarks (bench/run.py --help); e.g. make bench BENCH_ARGS=--quick
bench: all
	$(Q)python3 bench/run.py $(BENCH_ARGS)

# Fuzzing and soak test (tests/fuzz/, tests/soak/; issue #7). The libFuzzer
# targets are built with clang, ASan and UBSan straight from the sources they
# test (not the gcc-built library); make test builds them (fuzz-build, a no-op
# with a note when clang cannot link libFuzzer) and tests/e2e/test_fuzz.py
# runs each briefly. make fuzz runs each FUZZ_TIME seconds on the corpus kept
# in build/fuzz/corpus/. make soak records a thread-churning program for
# SOAK_SECONDS (not run by make test).
FUZZ_TIME     ?= 60
SOAK_SECONDS  ?= 600
FUZZ_CFLAGS   := -g -O1 -std=c11 -D_GNU_SOURCE $(WARN) -Ibpf -Iuser -Iflamegraph -Ilayouts \
		 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LIB_SRCS := user/python/pyline.c user/python/pystr.c user/target/elfsym.c user/util/utf8.c user/util/u64map.c user/util/errbuf.c \
		 $(filter-out flamegraph/cli.c,$(wildcard flamegraph/*.c)) $(wildcard layouts/*.c) \
		 user/target/coredump.c user/target/elfid.c user/target/pylocate.c user/target/pyproc.c user/target/memsrc.c user/target/mem.c \
		 user/native/cfi.c user/native/dwexpr.c user/native/dwread.c user/native/unwtab.c \
		 user/output/protobuf_read.c user/output/pprof_read.c user/output/profile_read.c \
		 user/output/frametab.c user/output/profile.c user/output/pprof.c user/output/protobuf.c \
		 user/output/archive.c user/util/strtab.c
FUZZ_BINS     := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SEEDS    := $(addprefix $(BUILD)/fuzz/seed_elf,_exe _pie _so _stripped)
FUZZ_PROBE    := printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' | \
		 $(CLANG) -x c -fsanitize=fuzzer - -o $(BUILD)/fuzz/.probe 2>/dev/null
.PHONY: fuzz-build fuzz-bins soak

$(BUILD)/fuzz/obj/%.o: %.c $(HDRS)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/libfuzzed.a: $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(BUILD)/fuzz/libfuzzed.a
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(BUILD)/fuzz/libfuzzed.a -lelf -lz -o $@

$(BUILD)/fuzz/seed_elf_exe: tests/fuzz/seed_elf.c
	$(Q)$(CC) -O1 -no-pie $< -o $@
$(BUILD)/fuzz/seed_elf_pie: tests/fuzz/seed_elf.c
	$(Q)$(CC) -O1 -fPIE -pie -rdynamic $< -o $@
$(BUILD)/fuzz/seed_elf_so: tests/fuzz/seed_elf.c
	$(Q)$(CC) -O1 -fPIC -shared $< -o $@
$(BUILD)/fuzz/seed_elf_stripped: tests/fuzz/seed_elf.c
	$(Q)$(CC) -O1 -s $< -o $@

fuzz-build:
	$(Q)mkdir -p $(BUILD)/fuzz && rm -f $(BUILD)/fuzz/.probe.failed
	$(Q)if $(FUZZ_PROBE); then $(MAKE) --no-print-directory fuzz-bins; \
	else touch $(BUILD)/fuzz/.probe.failed; \
	echo "fuzz-build: $(CLANG) cannot link -fsanitize=fuzzer (install libclang-rt-14-dev); fuzz targets not built"; fi

fuzz-bins: $(FUZZ_BINS) $(FUZZ_SEEDS)
	@:

fuzz: fuzz-build
	$(Q)python3 tests/fuzz/run.py --time $(FUZZ_TIME)

soak: all
	$(Q)SOAK_SECONDS=$(SOAK_SECONDS) python3 tests/soak/soak.py
