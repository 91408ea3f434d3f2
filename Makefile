# Two commands: `make run` starts the platform, `make test` runs every test.
GO ?= go
TEST_TIMEOUT ?= 25m
PKGS := ./...

.PHONY: run test compose-tool build vet fmt-check bench bench-smoke bench-http fuzz mutate postgres tools

run: postgres chromium
	$(GO) run ./cmd/loyaltyd

build:
	$(GO) build -o bin/ ./cmd/...

postgres:
	@./scripts/ensure-postgres.sh

# deploy's test checks docker-compose.yml with `docker-compose config` (no engine needed).
compose-tool:
	@./scripts/ensure-docker-compose.sh

# Debian's Chromium, which the web console's browser tests (infra/console) drive headless.
.PHONY: chromium
chromium:
	@./scripts/ensure-chromium.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: postgres compose-tool fmt-check vet
	@if [ -x /usr/bin/chromium ]; then echo "console browser tests: run with /usr/bin/chromium"; \
	else echo "console browser tests: SKIPPED, /usr/bin/chromium is missing ('make chromium' installs it)"; fi
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# Benchmarks are measured, never asserted: figures go into notes as ratios against a baseline.
# `make bench` produces the README's in-process figures, each beside the baseline of the same
# run (long set-ups run a fixed number of iterations so no figure depends on b.N); it takes about
# 15 minutes on 2 cores. `make bench-smoke` runs every benchmark twice: a check that they run.
BENCHTIME ?= 3s
bench: postgres
	$(GO) test -run '^$$' -bench 'Append' -benchtime $(BENCHTIME) ./infra/eventstore/pgstore
	$(GO) test -run '^$$' -bench 'HotStreamReserve64|PlainRetryReserve64' -benchtime 5000x ./commands/hotstream
	$(GO) test -run '^$$' -bench 'TwoWritersOnALongStream' -benchtime 3000x ./commands/hotstream
	$(GO) test -run '^$$' -bench 'Claim' -benchtime $(BENCHTIME) ./commands/coupon
	$(GO) test -run '^$$' -bench 'Earn|SpendOn100k' -benchtime $(BENCHTIME) ./commands/points
	$(GO) test -run '^$$' -bench 'SpendOn100k' -benchtime $(BENCHTIME) ./domain/points
	$(GO) test -run '^$$' -bench 'Exchange|Fulfillment' -benchtime $(BENCHTIME) ./infra/httpapi/giftapi
	$(GO) test -run '^$$' -bench 'Export' -benchtime 3x ./infra/history
	LOYALTY_BENCH_ISSUANCE_USERS=1000000 $(GO) test -run '^$$' -bench 'IssuanceJob' -benchtime 1x -timeout 30m ./infra/httpapi/couponapi
	$(GO) run ./cmd/loyaltyctl bench rebuild --events 500000

bench-smoke: postgres
	$(GO) test -run '^$$' -bench . -benchtime 2x $(PKGS)

# loyaltyd over real HTTP against the plain-SQL baseline on the same PostgreSQL, same clients.
# make bench-http SCENARIOS='earn claim' CLIENTS=16 DURATION=5s BENCH_FLAGS=--json
SCENARIOS ?= all
CLIENTS ?= 64
DURATION ?= 10s
bench-http: postgres
	$(GO) build -o bin/ ./cmd/loyaltyd ./cmd/loyaltyctl
	./scripts/bench-http.sh $(SCENARIOS) --clients $(CLIENTS) --duration $(DURATION) $(BENCH_FLAGS)

# Short fuzzing runs of the decoders and the quote arithmetic.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzQuote -fuzztime 30s ./domain/coupon
	$(GO) test -run '^$$' -fuzz FuzzAccount -fuzztime 30s ./domain/points
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./domain/es
	$(GO) test -run '^$$' -fuzz FuzzBindJSON -fuzztime 30s ./infra/httpapi
	$(GO) test -run '^$$' -fuzz FuzzStrictScanAgreesWithTokens -fuzztime 30s ./infra/httpapi
	$(GO) test -run '^$$' -fuzz FuzzNormalizeCode -fuzztime 30s ./domain/coupon
	$(GO) test -run '^$$' -fuzz FuzzMetadata -fuzztime 30s ./infra/eventstore/pgstore
	$(GO) test -run '^$$' -fuzz FuzzDecodeReadsAsEncodingJSON -fuzztime 30s ./infra/eventtypes

# Mutation testing of the domain packages (gremlins, installed when missing), one package at a
# time; fails below 95% mutant coverage or 85% efficacy. `make mutate MUTATE_PKGS=./domain/gift`.
mutate:
	@./scripts/mutate/mutate.sh $(MUTATE_PKGS)
