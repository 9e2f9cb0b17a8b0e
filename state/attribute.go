package state

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// extraName is what an extra attribute may be called: lower-case words
// joined by '_', prefixed x_ so that it can never be one of the state's or
// the lock's own attributes.
var extraName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// MaxExtraBytes bounds one extra attribute's JSON (StageJSON): the
// cluster's item holds at most 400 KB, most of it the decision history.
const MaxExtraBytes = 16_000

// LoadJSON reads the extra attribute name of the cluster's item into v: the
// value staged by StageJSON and not saved yet, else the stored one. It
// reports false, leaving v alone, when the attribute was never written.
// Parts that must remember something across processes (ec2fleet's
// unavailable pools) keep it here, beside the state.
func (d *Dynamo) LoadJSON(ctx context.Context, name string, v any) (bool, error) {
	if !extraName.MatchString(name) {
		return false, fmt.Errorf("state: attribute name %q: want lower-case letters, digits and '_'", name)
	}
	attr := "x_" + name
	d.mu.Lock()
	s, staged := d.staged[attr]
	d.mu.Unlock()
	if !staged {
		out, err := d.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(d.cfg.Table), Key: d.key(), ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#a"), ExpressionAttributeNames: map[string]string{"#a": attr},
		})
		if err != nil {
			return false, fmt.Errorf("state: load %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
		}
		s = getStr(out.Item, attr)
	}
	if s == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return false, fmt.Errorf("state: load %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
	}
	return true, nil
}

// StageJSON sets the extra attribute name to v, as JSON, in the next Save:
// the attribute is written by Save's conditional write, fenced by the
// lease Save is given, and by nothing else (there is no write of an extra
// attribute outside a Save under an explicit lease). Until that Save,
// LoadJSON reads the staged value back. A later StageJSON of the same name
// replaces it. A value still staged when this store next acquires a lease
// (its Save failed) is dropped then. It makes no AWS call; it fails only for a bad name or a
// value that cannot be encoded or is over MaxExtraBytes.
func (d *Dynamo) StageJSON(name string, v any) error {
	if !extraName.MatchString(name) {
		return fmt.Errorf("state: attribute name %q: want lower-case letters, digits and '_'", name)
	}
	attr := "x_" + name
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: stage %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
	}
	if len(b) > MaxExtraBytes {
		return fmt.Errorf("state: stage %s of cluster %s: %d bytes, over MaxExtraBytes (%d)", attr, d.cfg.ClusterID, len(b), MaxExtraBytes)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.staged == nil {
		d.staged = map[string]string{}
	}
	d.staged[attr] = string(b)
	return nil
}

// unstage drops the staged values that Save wrote (or that belonged to a
// lost lease), unless they were staged again meanwhile.
func (d *Dynamo) unstage(written map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for attr, v := range written {
		if d.staged[attr] == v {
			delete(d.staged, attr)
		}
	}
}
