# Gateway build. Our code: C11, -Wall -Wextra -Werror. llhttp comes from
# Debian's node-llhttp as C sources and is compiled with its own flags.

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
PKGS     := libuv openssl jansson inih hiredis
LLHTTP_SRC_DIR := /usr/share/llhttp
LLHTTP_INC_DIR := /usr/share/include/llhttp

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_GW  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
              $(OPT) -g $(SAN) -I gateway/lib -I gateway/loop -isystem $(LLHTTP_INC_DIR) $(PKG_CFLAGS)
# llhttp has an SSE4.2 scan for header values (a bearer token is most of a
# request head). Used when the CPU that builds the gateway has SSE4.2, as
# every x86-64 server CPU since 2009 does; `make LLHTTP_SIMD=` builds without.
LLHTTP_SIMD ?= $(shell grep -qw sse4_2 /proc/cpuinfo 2>/dev/null && echo -msse4.2)
CFLAGS_LL  := -O2 -g -w $(LLHTTP_SIMD) $(SAN) -I $(LLHTTP_INC_DIR)
LDLIBS_GW  := $(PKG_LIBS) -lpthread -lm

# gateway/lib: socket-free modules; gateway/loop: the event loop side
# (gateway/README.md is the map). main.c sits above both.
SRCS      := $(wildcard gateway/lib/*.c gateway/loop/*.c)
OBJS      := $(SRCS:gateway/%.c=$(BUILD)/obj/%.o)
LL_OBJS   := $(patsubst $(LLHTTP_SRC_DIR)/%.c,$(BUILD)/llhttp/%.o,$(wildcard $(LLHTTP_SRC_DIR)/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-unit test-asan asan run clean bench install

FUZZ_SECONDS ?= 5
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
CONFDIR := $(DESTDIR)$(PREFIX)/etc/gateway
UNITDIR := $(DESTDIR)$(PREFIX)/lib/systemd/system
all: $(BUILD)/gateway $(UNIT_BINS)

$(BUILD)/obj/%.o: gateway/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_GW) -MMD -MP -c -o $@ $<

$(BUILD)/llhttp/%.o: $(LLHTTP_SRC_DIR)/%.c | $(BUILD)/llhttp
	$(CC) $(CFLAGS_LL) -c -o $@ $<

$(BUILD)/libgw.a: $(OBJS) $(LL_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/gateway: $(BUILD)/obj/main.o $(BUILD)/libgw.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS_GW)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libgw.a | $(BUILD)/tests
	$(CC) $(CFLAGS_GW) -I tests/unit -o $@ $< $(BUILD)/libgw.a $(LDLIBS_GW)

$(BUILD)/llhttp $(BUILD)/tests:
	mkdir -p $@

-include $(OBJS:.o=.d) $(BUILD)/obj/main.d

# Installs the Debian packages that are missing; a quick no-op otherwise.
deps:
	@sh tests/deps.sh

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# The whole suite on the optimized build and on the ASan+UBSan build; the last
# line is the combined "N passed, M failed".
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory asan
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/run.sh build build-asan

test-asan: deps asan
	@sh tests/run.sh build-asan

run: deps all
	@sh conf/run-demo.sh

bench: deps all
	@bash bench/run.sh

# The binary, a starting configuration (never overwriting an existing one),
# the policies and the systemd units.
install: $(BUILD)/gateway
	install -d $(BINDIR) $(CONFDIR)/policies $(UNITDIR)
	install -m 0755 $(BUILD)/gateway $(BINDIR)/gateway
	test -e $(CONFDIR)/gateway.ini || install -m 0644 conf/gateway.example.ini $(CONFDIR)/gateway.ini
	install -m 0644 policies/profile-api.ini $(CONFDIR)/policies/
	for u in systemd/gateway.service systemd/gateway.socket; do \
	  test -f $$u && install -m 0644 $$u $(UNITDIR)/ || true; done

clean:
	rm -rf build build-asan build-fuzz
