package awsutil

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoCredentials marks an error that AddCredentialsHint recognised as
// the SDK's default chain finding no credentials.
var ErrNoCredentials = errors.New("no AWS credentials")

// credentialsHint says what to set when the default chain finds nothing.
const credentialsHint = "no AWS credentials were found: set AWS_PROFILE (a profile of ~/.aws/config, after `aws sso login` for SSO), " +
	"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), " +
	"or run where an IAM role is attached (EC2 instance profile, EKS pod identity, Lambda); " +
	"the SDK tried the instance metadata service (IMDS) last, which answers only on EC2"

// AddCredentialsHint returns err with a sentence naming what to set when
// err is the SDK's failure to find credentials (its last resort, the
// instance metadata service, fails off EC2 with errors that name only
// IMDS); any other err, nil included, is returned as it is. The result
// matches ErrNoCredentials and still wraps err.
func AddCredentialsHint(err error) error {
	if err == nil || errors.Is(err, ErrNoCredentials) {
		return err
	}
	msg := err.Error()
	for _, sign := range []string{"failed to refresh cached credentials", "failed to retrieve credentials", "no EC2 IMDS role found", "get credentials"} {
		if strings.Contains(msg, sign) {
			return fmt.Errorf("%w: %s (%w)", ErrNoCredentials, credentialsHint, err)
		}
	}
	return err
}
