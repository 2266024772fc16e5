// Command infra synthesizes the CloudFormation stack of the Bufdir export audit service.
//
// Run by `make synth` (`go run .`, writing infra/cdk.out) or by the CDK CLI through cdk.json,
// which sets CDK_OUTDIR and passes context; both build the functions for the stack first. Context
// given directly: `go run . -c stage=test`. It refuses to package a bootstrap that is missing or
// of another architecture than the stack's (checkAssets).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

func main() {
	context := contextFlags{}
	flag.Var(context, "c", "context `key=value`, repeatable (as with cdk -c)")
	flag.Parse()

	if err := synth(context); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func synth(context contextFlags) error {
	defer jsii.Close()
	outdir := os.Getenv("CDK_OUTDIR") // set by the CDK CLI
	if outdir == "" {
		outdir = "cdk.out"
	}
	ctx := map[string]interface{}{}
	for k, v := range context {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &ctx})
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	if err := checkAssets(cfg.AssetRoot, config.FunctionNames()); err != nil {
		return err
	}
	env := &awscdk.Environment{}
	if a := os.Getenv("CDK_DEFAULT_ACCOUNT"); a != "" {
		env.Account = jsii.String(a)
	}
	if r := os.Getenv("CDK_DEFAULT_REGION"); r != "" {
		env.Region = jsii.String(r)
	}
	if _, err := NewAuditStack(app, cfg, &awscdk.StackProps{Env: env}); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// contextFlags collects repeated -c key=value flags.
type contextFlags map[string]string

func (c contextFlags) String() string { return fmt.Sprint(map[string]string(c)) }

func (c contextFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	c[k] = v
	return nil
}
