// Package awsutil holds what the AWS-backed packages of node-fleet share and
// users never import: loading an aws.Config that can point at an emulator
// (moto) with static credentials, and reading the error code out of an SDK
// error.
package awsutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

// Options adjusts the configuration loaded by Load.
type Options struct {
	// Region overrides the region from the environment; required when
	// Endpoint is set (an emulator does not read ~/.aws).
	Region string
	// Endpoint, when set, sends every service's requests to this base
	// URL (e.g. moto's "http://127.0.0.1:5000").
	Endpoint string
	// StaticCredentials, when set, replaces the default credential chain
	// with fixed keys (tests against an emulator).
	StaticCredentials *aws.Credentials
}

// Load returns an aws.Config from the default chain (environment, shared
// files, IMDS, Lambda's role), adjusted by opts.
func Load(ctx context.Context, opts Options) (aws.Config, error) {
	if opts.Endpoint != "" && opts.Region == "" {
		return aws.Config{}, errors.New("awsutil: Options.Region is required when Options.Endpoint is set")
	}
	var fns []func(*config.LoadOptions) error
	if opts.Region != "" {
		fns = append(fns, config.WithRegion(opts.Region))
	}
	if opts.Endpoint != "" {
		fns = append(fns, config.WithBaseEndpoint(opts.Endpoint))
	}
	if c := opts.StaticCredentials; c != nil {
		fns = append(fns, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, fns...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("awsutil: load AWS config: %w", err)
	}
	return cfg, nil
}

// ForEmulator returns a config for an emulator at endpoint (moto) in
// region, with fixed test credentials.
func ForEmulator(ctx context.Context, endpoint, region string) (aws.Config, error) {
	return Load(ctx, Options{
		Region:            region,
		Endpoint:          endpoint,
		StaticCredentials: &aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"},
	})
}

// ErrorCode returns the AWS error code carried by err ("Throttling",
// "ConditionalCheckFailedException"...), or "" when err carries none.
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
