# Bufdir Export Audit Repository. `make run` and `make test` are the two commands a new
# machine needs; both install what they use through the Go module proxy.
SHELL := /bin/bash
FUNCTIONS := list-records get-record create-record update-status attach-file-url delete-record
ARCH ?= arm64
GO ?= go
BUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: run token test test-unit test-infra build synth bench clean fmt vet

run:
	$(GO) run ./cmd/local

# Prints a token for the local API and nothing else (use with make -s).
token:
	@$(GO) run ./cmd/token -org '$(ORG)' -sub '$(SUB)' -scopes '$(SCOPES)'

test: test-unit test-infra

test-unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test-infra:
	cd infra && $(GO) test -count=1 ./...

build: $(addprefix build/,$(addsuffix /bootstrap,$(FUNCTIONS)))

build/%/bootstrap: FORCE
	GOOS=linux GOARCH=$(ARCH) CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $@ ./functions/$*

synth: build
	cd infra && npx --yes aws-cdk@2 synth --quiet >/dev/null

clean:
	rm -rf build cdk.out infra/cdk.out .aws-sam

FORCE:
