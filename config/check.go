package config

import "fmt"

// CheckClusterID returns an error naming CLUSTER_ID when id is not a valid
// cluster id, by the same rule the programs apply at start (1 to 63
// letters, digits, '-', '_' or '.', starting and ending with a letter or
// digit: it is a Kubernetes label value and part of EC2 tags). The
// operator command uses it so that a mistyped id is refused before any
// call.
func CheckClusterID(id string) error {
	if !labelValue.MatchString(id) {
		return fmt.Errorf("CLUSTER_ID %q: want 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", id)
	}
	return nil
}

// CheckTableName returns an error naming DYNAMODB_TABLE when name is not a
// valid DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.').
func CheckTableName(name string) error {
	if !tableName.MatchString(name) {
		return fmt.Errorf("DYNAMODB_TABLE %q: want 3 to 255 letters, digits, '_', '-' or '.'", name)
	}
	return nil
}
