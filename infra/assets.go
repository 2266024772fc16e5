package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
)

// StackGOARCH is the architecture of every function, as Go names it: the Makefile's STACK_ARCH
// (which `make synth`, `make deploy` and cdk.json's app command build with, whatever ARCH says)
// and template.yaml's Architectures say the same; agreement_test.go holds them to it. Graviton
// (arm64) costs less per GB-second than x86_64 and starts Go binaries as fast.
const StackGOARCH = "arm64"

// stackMachine is StackGOARCH as an ELF header names it.
const stackMachine = elf.EM_AARCH64

// StackArchitecture is StackGOARCH as Lambda names it.
func StackArchitecture() awslambda.Architecture { return awslambda.Architecture_ARM_64() }

// checkAssets refuses to package a bootstrap that is missing or is not a Linux executable of the
// stack's architecture: an x86-64 binary on an arm64 function deploys without complaint and then
// fails every call with Runtime.InvalidEntrypoint. It reads each file's ELF header only.
func checkAssets(root string, functions []string) error {
	fix := fmt.Sprintf("run `make build ARCH=%s` in the repository root (make synth and make deploy build for the stack themselves)", StackGOARCH)
	var errs []error
	for _, fn := range functions {
		path := filepath.Join(root, fn, "bootstrap")
		f, err := elf.Open(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("%s is missing", path))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s is not a Linux executable: %v", path, err))
		default:
			machine := f.Machine
			f.Close()
			if machine != stackMachine {
				errs = append(errs, fmt.Errorf("%s is built for %s, the stack's functions are %s (%s)", path, machine, StackGOARCH, stackMachine))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\n%s", errors.Join(errs...), fix)
	}
	return nil
}
