# Bufdir Export Audit Repository. `make run` and `make test` are the two commands a new
# machine needs; both install what they use through the Go module proxy.
SHELL := /bin/bash
FUNCTIONS := list-records get-record create-record update-status attach-file-url delete-record publish-events archive-changes seal-digest
# The functions' architecture in the CDK stack (infra/assets.go, StackGOARCH) and template.yaml.
# make synth, make deploy and cdk.json's app command build with it, whatever ARCH says.
STACK_ARCH := arm64
ARCH ?= $(STACK_ARCH)
GO ?= go
BUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: run token verify test test-unit test-infra lint build build-stack synth deploy bootstrap bench clean fmt vet

run:
	$(GO) run ./cmd/local

# Prints a token for the local API and nothing else (use with make -s).
token:
	@$(GO) run ./cmd/token -org '$(ORG)' -sub '$(SUB)' -scopes '$(SCOPES)'

# Checks the audit trail and changes nothing: with no VERIFY_FLAGS, the running make run's
# (ENGINE_ADDR, TABLE_NAME, ARCHIVE_DIR, ARCHIVE_KEY_FILE); a stage's with
# VERIFY_FLAGS="-bucket <archive bucket> -kms-key <key ARN> -table <table> -region <region>".
# build/verify exits 0 (no problem), 1 (problems) or 2 (could not check); make itself answers
# 0 or 2 (any failed recipe), so scripts that need the difference run build/verify.
verify:
	@$(GO) build -o build/verify ./cmd/verify
	@build/verify $(VERIFY_FLAGS)

test: test-unit test-infra fuzz

test-unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Runs every fuzz target (func FuzzXxx in any _test.go of this module, as ./dir:FuzzXxx) for
# FUZZTIME; go test fuzzes one target per run. make test keeps it short; fuzz longer with
# make fuzz FUZZTIME=10m. infra/ is a module of its own.
# The default is a count of inputs, not a duration: Go 1.26's fuzz coordinator can fail a
# target with "context deadline exceeded" when a -fuzztime duration ends (golang/go#75804,
# fixed in Go 1.27), and a count has no deadline to race. 10000 inputs take each target a few
# seconds on a quiet 2-core machine.
FUZZTIME ?= 10000x
FUZZ_TARGETS = $(shell grep -r -o --include='*_test.go' --exclude-dir=.git --exclude-dir=infra --exclude-dir=build \
	'^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^\./(.*)/[^/:]*:func |./\1:|' | sort)

.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "$(GO) test -run '^$$' -fuzz '^$${t#*:}$$' -fuzztime $(FUZZTIME) $${t%%:*}"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

# Lints the API document with Spectral (spectral:oas, .spectral.yaml) and Redocly (recommended,
# redocly.yaml), pinned, through npx; an error fails the target, warnings are printed. npx
# fetches each CLI into npm's cache on first use. Redocly CLI needs Node.js 20.19 or later.
SPECTRAL := npx --yes @stoplight/spectral-cli@6.16.3
REDOCLY := npx --yes @redocly/cli@2.77.0
OPENAPI := pkg/api/openapi.yaml
NEED_LINT_NODE = @command -v npx >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' 2>/dev/null || { echo "$@: needs Node.js 20.19 or later with npm's npx on PATH (Redocly CLI's minimum); found $$(node --version 2>/dev/null || echo no node)." >&2; exit 1; }

lint:
	$(NEED_LINT_NODE)
	$(SPECTRAL) lint --ruleset .spectral.yaml --fail-severity error $(OPENAPI)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint --config redocly.yaml $(OPENAPI)

# The CDK for Go runs the CDK's JavaScript in Node (jsii); node is all it needs, no npm packages.
# infra/ is its own module and imports only pkg/config (and the domain, pkg/audit) from this
# one, both standard library only, so its go.mod names none of the service's modules. Should a
# change here raise a module infra/ shares (golang.org/x/sys, yaml), go says "updates to go.mod
# needed": run go mod tidy in infra/. Tests pass a directory of placeholder assets, so they need
# no `make build`.
JSII_QUIET := JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1 \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=18,20
NEED_NODE = @command -v node >/dev/null 2>&1 || { echo "$@: node not found on PATH. The CDK for Go runs its engine (jsii) in Node.js; install Node.js 20 or later (no npm packages are needed)." >&2; exit 1; }

test-infra:
	$(NEED_NODE)
	@test -z "$$(gofmt -l infra)" || { echo "gofmt needed in:" >&2; gofmt -l infra >&2; exit 1; }
	cd infra && $(GO) vet ./...
	cd infra && $(JSII_QUIET) $(GO) test -count=1 ./...

build: $(addprefix build/,$(addsuffix /bootstrap,$(FUNCTIONS)))

build/%/bootstrap: FORCE
	GOOS=linux GOARCH=$(ARCH) CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $@ ./functions/$*

# Builds every function for the stack's architecture. A sub-make with ARCH on its command line:
# that beats an exported ARCH=amd64 and ARCH given to this make, and rebuilds even when this
# make has built build/ for another ARCH already.
build-stack:
	@$(MAKE) --no-print-directory build ARCH=$(STACK_ARCH)

# Writes infra/cdk.out without the CDK CLI: the Go app synthesizes itself. Context as with
# cdk -c: make synth CONTEXT="-c stage=test -c jwtIssuer=https://... -c jwtAudience=...".
synth: build-stack
	$(NEED_NODE)
	rm -rf infra/cdk.out
	cd infra && $(JSII_QUIET) $(GO) run . $(CONTEXT)

# The CDK CLI, pinned (a CLI release reads the cloud assemblies of every library release before
# it). Through npx: nothing to install but Node.js; npx fetches it once into its cache.
CDK_VERSION := 2.1148.1
CDK = npx --yes aws-cdk@$(CDK_VERSION)
NEED_NPX = @command -v npx >/dev/null 2>&1 || { echo "$@: npx not found on PATH. It comes with npm, with Node.js 20 or later." >&2; exit 1; }

# Builds, synthesizes and deploys one stage: make deploy CONTEXT="-c stage=prod -c jwtIssuer=...
# -c jwtAudience=... -c fileUrlAllowedHosts=...". The CLI runs infra/cdk.json's app command,
# which builds for the stack too; CDK_FLAGS go to the CLI (e.g. --require-approval never).
deploy: build-stack
	$(NEED_NODE)
	$(NEED_NPX)
	cd infra && $(JSII_QUIET) $(CDK) deploy $(CONTEXT) $(CDK_FLAGS)

# Once per account and region, before the first deploy: the bucket and roles deployments use.
# Run here, beside no cdk.json, the CLI bootstraps the credentials' account and region without
# running the app; name others in CDK_FLAGS (aws://123456789012/eu-north-1).
bootstrap:
	$(NEED_NODE)
	$(NEED_NPX)
	$(CDK) bootstrap $(CDK_FLAGS)

# sam build (template.yaml, BuildMethod: makefile) runs `make build-<LogicalId>` with
# ARTIFACTS_DIR set. The template's functions are STACK_ARCH whatever ARCH says.
SAM_BUILD = GOOS=linux GOARCH=$(STACK_ARCH) CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(1)
.PHONY: build-ListRecordsFunction build-GetRecordFunction build-CreateRecordFunction \
	build-UpdateStatusFunction build-AttachFileUrlFunction build-DeleteRecordFunction build-PublishEventsFunction \
	build-ArchiveChangesFunction build-SealDigestFunction

build-ListRecordsFunction:
	$(call SAM_BUILD,list-records)
build-GetRecordFunction:
	$(call SAM_BUILD,get-record)
build-CreateRecordFunction:
	$(call SAM_BUILD,create-record)
build-UpdateStatusFunction:
	$(call SAM_BUILD,update-status)
build-AttachFileUrlFunction:
	$(call SAM_BUILD,attach-file-url)
build-DeleteRecordFunction:
	$(call SAM_BUILD,delete-record)
build-PublishEventsFunction:
	$(call SAM_BUILD,publish-events)
build-ArchiveChangesFunction:
	$(call SAM_BUILD,archive-changes)
build-SealDigestFunction:
	$(call SAM_BUILD,seal-digest)

# Measures binary size, cold start, warm latency, DynamoDB calls and allocations against their
# baselines in one run and writes docs/performance.md; it builds what it needs. Flags of
# cmd/bench through BENCH_FLAGS, e.g. make bench BENCH_FLAGS="-n 200 -out=".
bench:
	$(GO) run ./cmd/bench $(BENCH_FLAGS)

clean:
	rm -rf build cdk.out infra/cdk.out .aws-sam

FORCE:
