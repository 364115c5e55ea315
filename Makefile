# sinkhole — the two commands: `make run` and `make test`.
# Both install what is missing (Debian packages via apt-get), then build.

SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= Deploy/sinkhole.dev.yaml
# Debian packages the build, the tests and `make run` need.
# nftables, iproute2 and netcat-openbsd: the catch-all test loads Deploy/nftables.conf in network
# namespaces it creates and dials through it with nc (`make run`'s hints use nc too); openssl:
# the TLS tests' s_client; libpcap-dev: the capture engine and `sinkhole replay` (CPcap);
# postgresql: the PostgreSQL store's tests start a throwaway cluster of their own (initdb into a
# temporary directory, a unix socket only, stopped when the test process exits; as the
# `postgres` user when run as root) — the package's own cluster service is not used.
# dpkg-dev (dpkg-shlibdeps) and lintian: `make deb` and its tests; systemd: systemd-analyze,
# which the deploy tests run on the units (verify, security).
PACKAGES := pkg-config libsqlite3-dev sqlite3 dnsutils knot-dnsutils curl openssl nftables iproute2 netcat-openbsd libpcap-dev postgresql dpkg-dev lintian systemd
APT_GET := $(if $(filter 0,$(shell id -u)),apt-get,sudo apt-get)

.PHONY: run test build deps browser-deps status-screenshot bench clean help deb

help:
	@echo "make run    build (release) and start the sinkhole on loopback ports with $(CONFIG)"
	@echo "make test   build and run the whole test suite (unit, integration, ring stress under TSan, 45 s of fuzzing)"
	@echo "make status-screenshot  render the status page of a fixed snapshot in headless Chromium: .build/test-artefacts/status-page-fixture.png"
	@echo "make deb    the Debian package, checked by lintian: .build/deb/sinkhole_VERSION-1_ARCH.deb (Deploy/README.md)"
	@echo "make test-systemd  boot systemd in a container and run the hardened sinkhole.service there (root)"
	@echo "make fuzz   fuzz the DNS parser and responder and the TLS hello reader for FUZZ_SECONDS (default 600); findings go to Fuzz/crashes/"
	@echo "make fuzz-packet  fuzz the packet decoder for FUZZ_SECONDS; findings go to Fuzz/crashes-packet/"
	@echo "make bench  run the benchmarks and print the table recorded in Benchmarks/RESULTS.md"
	@echo "make bench-dns / bench-http [QUICK=1]  the DNS server against NSD and Knot / HTTP against nginx"
	@echo "make bench-capture [QUICK=1]  live capture and replay against tcpdump (root: network namespaces)"
	@echo "make bench-stats / bench-sqlite-floor  sinkhole stats on 10M check-ins / SQLite's cost per stored DNS row"

# Installs only what is missing, so a machine that has everything never touches apt.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing missing packages:$$missing"; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq $$missing; \
	fi

# Headless Chromium for the status page's browser test (StatusPageBrowserTests) and
# `make status-screenshot`, kept out of `deps` so `make run` and `make deb` do not pull it in.
# Without recommends: 25 packages, 124 MB to fetch, about 17 s to install on the 2-core machine
# the suite is timed on (with them, 92 packages: fonts, desktop integration the test never uses).
browser-deps:
	@dpkg-query -W -f='$${Status}' chromium 2>/dev/null | grep -q "install ok installed" || { \
	  echo "Installing missing package: chromium (no recommends)"; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends chromium; \
	}

# The release build Deploy/install.sh and `make deb` install (its build_flags line: the Swift
# runtime linked in), so `make run`, an install and the package share one build in .build/release.
RELEASE_FLAGS := $(shell sed -n 's/^build_flags=(\(.*\))$$/\1/p' Deploy/install.sh)
# The same, for every product of a package (the benchmarks' own build uses them too).
BENCH_FLAGS := $(filter-out --product sinkhole,$(RELEASE_FLAGS))

build: deps
	$(SWIFT) build $(RELEASE_FLAGS)

run: build
	@mkdir -p var
	@bin=$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/sinkhole; \
	port=$$(grep -oE '"127\.0\.0\.1:[0-9]+"' $(CONFIG) | head -1 | grep -oE '[0-9]+"$$' | tr -d '"'); \
	metrics=$$(grep -E '^metrics:' $(CONFIG) | grep -oE '[0-9.]+:[0-9]+' | head -1); metrics=$${metrics:-127.0.0.1:9798}; \
	echo; \
	echo "sinkhole is starting with $(CONFIG): DNS on 127.0.0.1:$$port and [::1]:$$port (UDP and TCP),"; \
	echo "HTTP on 127.0.0.1:8080, TLS on 127.0.0.1:8443 (a self-signed certificate per seized name),"; \
	echo "the catch-all on 127.0.0.1:9000 (TCP and UDP), metrics and the status page on $$metrics,"; \
	echo "check-ins stored in var/checkins.db. From another terminal, try:"; \
	echo; \
	echo "  dig @127.0.0.1 -p $$port something.cc.botnet.example      # answers 198.51.100.10"; \
	echo "  dig @127.0.0.1 -p $$port something.cc.botnet.example AAAA # answers 2001:db8::10"; \
	echo "  dig @127.0.0.1 -p $$port www.example.com                  # not seized: REFUSED"; \
	echo "  curl -A bot/1.0 http://cc.botnet.example:8080/gate.php --resolve cc.botnet.example:8080:127.0.0.1"; \
	echo "  curl -k -A bot/1.0 https://cc.botnet.example:8443/gate.php --resolve cc.botnet.example:8443:127.0.0.1"; \
	echo "  printf 'SSH-2.0-bot\\r\\n' | nc -N 127.0.0.1 9000              # catch-all TCP: logged, closed"; \
	echo "  printf 'hello' | nc -u -w1 127.0.0.1 9000                  # catch-all UDP: logged, never answered"; \
	echo "  sqlite3 -header -column var/checkins.db \\"; \
	echo "    \"SELECT event_id, family, src_ip, src_port, service, name, tls_sni, tls_cipher, dst_port, listener_port, first_bytes FROM checkins ORDER BY first_seen DESC LIMIT 5\""; \
	echo "  sqlite3 -header -column var/checkins.db \\"; \
	echo "    \"SELECT datetime(hour,'unixepoch') AS hour, src_ip, qname, qtype, count, family FROM dns_queries ORDER BY last_seen DESC LIMIT 20\""; \
	echo "  curl -H 'Authorization: Bearer dev-token' \"http://127.0.0.1:8444/v1/checkins?date=\$$(date -u +%F)&format=jsonl\"  # the feed API"; \
	echo "  $$bin export --config $(CONFIG) --all --date \$$(date -u +%F)   # per-ISP files under var/feeds/"; \
	echo "  curl $$metrics/metrics                          # Prometheus metrics"; \
	echo "  curl $$metrics/readyz                           # ready? (JSON: what is wrong when not; /healthz: alive)"; \
	echo "  open http://$$metrics/status in a browser       # check-ins per minute, infected addresses, top names, losses"; \
	echo; \
	echo "Rows reach the store within a second (writer.flush_interval_ms). Stop with Ctrl-C: it drains and flushes."; \
	echo; \
	exec $$bin run --config $(CONFIG)

# The whole suite: every test target in a debug build, then the EventRing stress test in a
# release build under ThreadSanitizer (debug builds hide ordering bugs from TSan). Suites run
# one after another: the ring stress test and the UDP flood test would otherwise fight over
# the two cores and the flood would be measuring the machine, not the sinkhole.
test: deps browser-deps
	$(SWIFT) build --build-tests
	@# The Debian package, which DebPackageTests takes apart, runs lintian on and installs in a
	@# scratch root, needs a release build with the Swift runtime linked in (install.sh's flags).
	@# The Benchmarks package, which depends on this one, builds that binary with the same flags
	@# as its own, so the modules both need (NIO, PostgresNIO, the store, DNS) compile once for
	@# the two instead of twice: several minutes of CI's budget.
	$(SWIFT) build --package-path Benchmarks $(RELEASE_FLAGS)
	Deploy/deb/build.sh --no-lintian --binary "$$($(SWIFT) build --package-path Benchmarks $(RELEASE_FLAGS) --show-bin-path)/sinkhole"
	$(SWIFT) test --skip-build --no-parallel
	@# The hardened units under a real systemd: Debian 12 booted in systemd-nspawn (root file
	@# system cached in .build/nspawn, about a minute when cold), the release binary installed
	@# and every feature driven through sinkhole.service (Tests/Systemd/boot-test.sh).
	Tests/Systemd/boot-test.sh "$$($(SWIFT) build --package-path Benchmarks $(RELEASE_FLAGS) --show-bin-path)/sinkhole"
	@# The benchmarks build and run at 1% scale, so a change that breaks them fails here and
	@# not on the next `make bench`; no timing is checked, but an allocation on the DNS UDP
	@# path per query fails the run (counted, not timed).
	$(SWIFT) build --package-path Benchmarks $(BENCH_FLAGS)
	$$($(SWIFT) build --package-path Benchmarks $(BENCH_FLAGS) --show-bin-path)/sinkhole-bench --scale 0.01 > /dev/null
	$(SWIFT) build --package-path Tests/TSan --build-tests -c release --sanitize=thread
	$(SWIFT) test --package-path Tests/TSan --skip-build -c release --sanitize=thread
	@# 45 s of fuzzing the DNS parser, responder and TCP framing and the TLS hello reader; any finding fails the run.
	$(MAKE) --no-print-directory fuzz-smoke

# /status rendered from StatusPageTests' fixed snapshot and photographed by headless Chromium,
# through the browser test itself (one way to drive Chromium); the running sinkhole's page is
# photographed by the same suite during `make test`, into .build/test-artefacts/status-page.png.
status-screenshot: deps browser-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter 'StatusPageBrowserTests/fixturePage'
	@echo "the status page: .build/test-artefacts/status-page-fixture.png"

# The Debian package (Deploy/deb/build.sh): what Deploy/install.sh installs, under /usr, with
# maintainer scripts; its path is the last line printed.
deb: deps
	Deploy/deb/build.sh

# The release binary `make build`, install.sh and the package share, booted with the units of
# systemd/ in a container; root (systemd-nspawn), installs debootstrap and systemd-container
# when missing. BOOT_TEST_KEEP=1 keeps the container up to look into.
.PHONY: test-systemd
test-systemd: build
	Tests/Systemd/boot-test.sh $$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/sinkhole

bench: deps
	$(SWIFT) run -c release --package-path Benchmarks sinkhole-bench

clean:
	rm -rf .build Tests/TSan/.build Benchmarks/.build Fuzz/.build

# The libFuzzer target over the DNS parser, responder and TCP framing and the TLS hello reader:
# Fuzz/, a package of its own (release build, coverage and AddressSanitizer on SinkholeCore,
# SinkholeDNS and the hello reader's files only).
# A run mutates a scratch copy of the seed corpus Fuzz/corpus/dns, so the repository's corpus
# stays what `make fuzz-seeds` writes; an input that crashes or breaks an invariant is written
# to Fuzz/crashes/, where FuzzCrashReplayTests replays it (commit it with the fix).
# `make fuzz` runs FUZZ_SECONDS; `fuzz-smoke` runs 45 s, prints only a summary, and fails on
# any finding, printing libFuzzer's report (the input is in it, in hex and base64).
FUZZ_SECONDS ?= 600
FUZZ_BIN = SWIFT_BACKTRACE=enable=no $$($(SWIFT) build -c release --package-path Fuzz --show-bin-path)/sinkhole-dns-fuzzer
FUZZ_SCRATCH = scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; cp -r Fuzz/corpus/dns "$$scratch/corpus"
FUZZ_FLAGS = -timeout=10 -artifact_prefix=Fuzz/crashes/ "$$scratch/corpus"

# The packet decoder has a fuzzer of its own in the same package (`sinkhole-packet-fuzzer`):
# `make fuzz-packet` runs FUZZ_SECONDS over a scratch copy of Fuzz/corpus/packet, findings in
# Fuzz/crashes-packet/ (replayed by PacketFuzzReplayTests); `fuzz-smoke` gives it 15 s.
PACKET_FUZZ_BIN = SWIFT_BACKTRACE=enable=no $$($(SWIFT) build -c release --package-path Fuzz --show-bin-path)/sinkhole-packet-fuzzer
PACKET_FUZZ_SCRATCH = scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; cp -r Fuzz/corpus/packet "$$scratch/corpus"
PACKET_FUZZ_FLAGS = -timeout=10 -artifact_prefix=Fuzz/crashes-packet/ "$$scratch/corpus"

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-seeds fuzz-packet fuzz-packet-seeds

fuzz-build:
	$(SWIFT) build -c release --package-path Fuzz

fuzz: fuzz-build
	@$(FUZZ_SCRATCH); $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_FLAGS)

fuzz-smoke: fuzz-build
	@$(FUZZ_SCRATCH); \
	if $(FUZZ_BIN) -max_total_time=45 $(FUZZ_FLAGS) > "$$scratch/log" 2>&1; then \
	  grep -E '^(#[0-9]+[[:space:]]+DONE|Done )' "$$scratch/log"; \
	else \
	  cat "$$scratch/log"; echo "fuzz-smoke: a finding, kept in Fuzz/crashes/"; exit 1; \
	fi
	@$(PACKET_FUZZ_SCRATCH); \
	if $(PACKET_FUZZ_BIN) -max_total_time=15 $(PACKET_FUZZ_FLAGS) > "$$scratch/log" 2>&1; then \
	  grep -E '^(#[0-9]+[[:space:]]+DONE|Done )' "$$scratch/log"; \
	else \
	  cat "$$scratch/log"; echo "fuzz-smoke: a packet decoder finding, kept in Fuzz/crashes-packet/"; exit 1; \
	fi

fuzz-packet: fuzz-build
	@$(PACKET_FUZZ_SCRATCH); $(PACKET_FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(PACKET_FUZZ_FLAGS)

fuzz-packet-seeds: fuzz-build
	rm -f Fuzz/corpus/packet/*
	$(PACKET_FUZZ_BIN) --write-seeds Fuzz/corpus/packet

fuzz-seeds: fuzz-build
	rm -f Fuzz/corpus/dns/*
	$(FUZZ_BIN) --write-seeds Fuzz/corpus/dns

# The sinkhole's DNS speed against NSD and Knot DNS on the same seized names
# (Benchmarks/dns/run.sh; installs nsd, knot, dnsperf and valgrind when missing). QUICK=1 for
# a smoke run; DURATION, ROUNDS and the other knobs in the script's header pass through.
.PHONY: bench-dns
bench-dns: deps
	Benchmarks/dns/run.sh $(if $(QUICK),--quick)

# The sinkhole's HTTP speed against nginx, answering the same requests (Benchmarks/http/run.sh;
# installs wrk, nginx and valgrind when missing, runs its own nginx as the current user on a
# loopback port). QUICK=1 for a smoke run; DURATION, ROUNDS and the other knobs in the script's
# header pass through.
.PHONY: bench-http
bench-http: deps
	Benchmarks/http/run.sh $(if $(QUICK),--quick)

# The capture engine against tcpdump: live on a veth pair in network namespaces of its own
# (RPS steering the receive path to the capture's core), tcpreplay at top speed and fixed rates,
# and reading a file (`sinkhole replay` vs `tcpdump -r`) (Benchmarks/capture/run.sh; root;
# installs tcpreplay and tcpdump when missing). QUICK=1 for a smoke run; PACKETS, RATES, ROUNDS
# and the other knobs in the script's header pass through.
.PHONY: bench-capture
bench-capture: deps
	Benchmarks/capture/run.sh $(if $(QUICK),--quick)

# `sinkhole stats` on a store of 10 million check-ins, against the same figures asked straight
# of `checkins` (Benchmarks/stats/run.sh; several minutes to fill the store). CHECKINS, BOTS,
# DNS_ROWS and ROUNDS pass through. And what SQLite alone charges per stored DNS row
# (Benchmarks/dns/sqlite-floor.sh).
.PHONY: bench-stats bench-sqlite-floor
bench-stats: deps
	Benchmarks/stats/run.sh
bench-sqlite-floor: deps
	Benchmarks/dns/sqlite-floor.sh
