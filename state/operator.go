package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// attrUnlock holds the last forced or manual release of the lock (an
// Unlock, JSON); written by Dynamo.Unlock only.
const attrUnlock = "last_unlock"

// ErrNotLocked is returned by Unlock when nobody holds the cluster's lock:
// there is nothing to release.
var ErrNotLocked = errors.New("the lock is not held")

// ErrLockChanged is returned by Unlock when the lease it looked at was
// renewed, released or taken over before its write: nothing was changed,
// and the caller should look again.
var ErrLockChanged = errors.New("the lock changed while unlocking")

// LockStatus is the cluster's lock as stored, for operators.
type LockStatus struct {
	// Owner holds (or last held, if Expires has passed) the lease; empty
	// when the lock is free.
	Owner string
	// Expires is when the lease lapses; zero when the lock is free.
	Expires time.Time
	// Token is the fencing token of the latest lease.
	Token int64
	// Held is true when Owner is set and Expires is less than
	// DynamoConfig.ClockSkew behind the store's clock: Acquire by anyone
	// else would fail.
	Held bool
	// LastUnlock is the last release made with Unlock, if any.
	LastUnlock *Unlock
}

// Unlock records a release of the lock by an operator (Dynamo.Unlock).
type Unlock struct {
	// By is who released it, At when.
	By string
	At time.Time
	// Owner, Token and Expires are the lease that was released.
	Owner   string
	Token   int64
	Expires time.Time
	// Forced is true when the lease was still valid.
	Forced bool
}

// Lock reads the cluster's lock (a consistent read). A cluster never saved
// has a free lock and no error.
func (d *Dynamo) Lock(ctx context.Context) (LockStatus, error) {
	out, err := d.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.cfg.Table), Key: d.key(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return LockStatus{}, fmt.Errorf("state: read lock of cluster %s: %w", d.cfg.ClusterID, err)
	}
	return d.lockStatus(out.Item)
}

func (d *Dynamo) lockStatus(item map[string]types.AttributeValue) (LockStatus, error) {
	var ls LockStatus
	if item == nil {
		return ls, nil
	}
	ls.Token = getNum(item, attrToken)
	if ls.Owner = getStr(item, attrOwner); ls.Owner != "" {
		ls.Expires = time.Unix(getNum(item, attrExpiry), 0).UTC()
		// Acquire's takeover condition is expiry <= now - ClockSkew.
		ls.Held = ls.Expires.Unix() > d.cfg.Clock.Now().Add(-d.cfg.ClockSkew).Unix()
	}
	if s := getStr(item, attrUnlock); s != "" {
		var u Unlock
		if err := json.Unmarshal([]byte(s), &u); err != nil {
			return ls, fmt.Errorf("state: read lock of cluster %s: %s: %w", d.cfg.ClusterID, attrUnlock, err)
		}
		ls.LastUnlock = &u
	}
	return ls, nil
}

// Unlock releases the cluster's lock on an operator's behalf (by names
// them) and records who did it in the item (LockStatus.LastUnlock).
//
// It refuses, with an error wrapping autoscaler.ErrLockHeld that names the
// holder and the expiry, while the holder's lease is still valid, unless
// force is set. A lock nobody holds yields ErrNotLocked. An expired lease
// is released without force (the next Acquire would take it over anyway).
//
// The release also advances the fencing token, so that a holder that is
// still running (a forced release of a live lease) has its next Save
// refused with autoscaler.ErrLeaseLost instead of overwriting what comes
// after, and its Release changes nothing. The write is conditional on the
// lease read: when it changed in between, nothing is written and the error
// wraps ErrLockChanged.
func (d *Dynamo) Unlock(ctx context.Context, by string, force bool) (Unlock, error) {
	if by == "" {
		return Unlock{}, errors.New("state: unlock: by (who releases the lock) is required")
	}
	ls, err := d.Lock(ctx)
	if err != nil {
		return Unlock{}, err
	}
	if ls.Owner == "" {
		return Unlock{}, fmt.Errorf("state: unlock cluster %s: %w", d.cfg.ClusterID, ErrNotLocked)
	}
	if ls.Held && !force {
		return Unlock{}, fmt.Errorf("state: unlock cluster %s: the lease of %q is %s: %w",
			d.cfg.ClusterID, ls.Owner, d.leaseState(ls.Expires), autoscaler.ErrLockHeld)
	}
	u := Unlock{By: by, At: d.cfg.Clock.Now().UTC(), Owner: ls.Owner, Token: ls.Token, Expires: ls.Expires, Forced: ls.Held}
	b, err := json.Marshal(u)
	if err != nil {
		return Unlock{}, err
	}
	_, err = d.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(d.cfg.Table),
		Key:                 d.key(),
		UpdateExpression:    aws.String("REMOVE #owner, #expiry SET #unlock = :unlock ADD #token :one"),
		ConditionExpression: aws.String("#owner = :owner AND #token = :token"),
		ExpressionAttributeNames: map[string]string{
			"#owner": attrOwner, "#expiry": attrExpiry, "#token": attrToken, "#unlock": attrUnlock,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": str(ls.Owner), ":token": num(ls.Token), ":unlock": str(string(b)), ":one": num(1),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return Unlock{}, fmt.Errorf("state: unlock cluster %s: lease %q token %d: %w", d.cfg.ClusterID, ls.Owner, ls.Token, ErrLockChanged)
	}
	if err != nil {
		return Unlock{}, fmt.Errorf("state: unlock cluster %s: %w", d.cfg.ClusterID, err)
	}
	d.cfg.Logger.WarnContext(ctx, "lock released by an operator", "cluster", d.cfg.ClusterID, "by", by,
		"owner", ls.Owner, "token", ls.Token, "forced", u.Forced)
	return u, nil
}

// Update changes the stored state the way a tick does: it takes the lock
// as owner for ttl, loads the state, calls change, saves the result under
// the lease (fenced) and releases the lock, on every path. When another
// owner holds the lock it returns an error wrapping autoscaler.ErrLockHeld
// and calls nothing; the caller may retry. An error from change is
// returned as is and nothing is saved.
//
// Writing the state without the lock would be lost: a tick in progress
// saves the whole state it loaded and would overwrite the change.
func (d *Dynamo) Update(ctx context.Context, owner string, ttl time.Duration, change func(*autoscaler.ClusterState) error) (err error) {
	lease, err := d.Acquire(ctx, owner, ttl)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := d.Release(ctx, lease); rerr != nil && err == nil {
			err = rerr
		}
	}()
	st, err := d.Load(ctx)
	if err != nil {
		return err
	}
	if err := change(&st); err != nil {
		return err
	}
	return d.Save(ctx, lease, st)
}
