package awsutil

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// With no credentials anywhere, the SDK's error names only IMDS; the hint
// names the variables to set.
func TestNoCredentialsGetsAHint(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	cfg, err := Load(t.Context(), Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dynamodb.NewFromConfig(cfg).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("t")})
	if err == nil {
		t.Fatal("DescribeTable without credentials succeeded")
	}
	got := AddCredentialsHint(err)
	if !errors.Is(got, ErrNoCredentials) || !strings.Contains(got.Error(), "AWS_PROFILE") || !strings.Contains(got.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no hint for the SDK's error %q:\n%v", err, got)
	}
	if AddCredentialsHint(got) != got {
		t.Error("a hinted error got a second hint")
	}
	other := errors.New("ResourceNotFoundException: table t")
	if AddCredentialsHint(other) != other {
		t.Error("an error that is not about credentials got the hint")
	}
}
