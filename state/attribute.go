package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// extraName is what an extra attribute may be called: lower-case words
// joined by '_', prefixed x_ so that it can never be one of the state's or
// the lock's own attributes.
var extraName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// LoadJSON reads the extra attribute name of the cluster's item (stored by
// SaveJSON) into v. It reports false, leaving v alone, when the attribute
// was never written. Parts that must remember something across processes
// (ec2fleet's unavailable pools) keep it here, beside the state.
func (d *Dynamo) LoadJSON(ctx context.Context, name string, v any) (bool, error) {
	if !extraName.MatchString(name) {
		return false, fmt.Errorf("state: attribute name %q: want lower-case letters, digits and '_'", name)
	}
	attr := "x_" + name
	out, err := d.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.cfg.Table), Key: d.key(), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#a"), ExpressionAttributeNames: map[string]string{"#a": attr},
	})
	if err != nil {
		return false, fmt.Errorf("state: load %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
	}
	s := getStr(out.Item, attr)
	if s == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return false, fmt.Errorf("state: load %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
	}
	return true, nil
}

// SaveJSON writes v as JSON to the extra attribute name of the cluster's
// item, and nothing else. The write is fenced like Save: it is refused
// with ErrLeaseLost unless the lease this store last acquired is still the
// item's, and refused when this store never acquired one.
func (d *Dynamo) SaveJSON(ctx context.Context, name string, v any) error {
	if !extraName.MatchString(name) {
		return fmt.Errorf("state: attribute name %q: want lower-case letters, digits and '_'", name)
	}
	attr := "x_" + name
	d.mu.Lock()
	token := d.token
	d.mu.Unlock()
	if token == 0 {
		return fmt.Errorf("state: save %s of cluster %s without a lease: %w", attr, d.cfg.ClusterID, autoscaler.ErrLeaseLost)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: save %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
	}
	_, err = d.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(d.cfg.Table), Key: d.key(),
		UpdateExpression:          aws.String("SET #a = :v"),
		ConditionExpression:       aws.String("#token = :token"),
		ExpressionAttributeNames:  map[string]string{"#a": attr, "#token": attrToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": str(string(b)), ":token": num(token)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("state: save %s of cluster %s under token %d refused: %w", attr, d.cfg.ClusterID, token, autoscaler.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("state: save %s of cluster %s: %w", attr, d.cfg.ClusterID, err)
	}
	return nil
}
