package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/node-fleet/node-fleet/autoscaler"
	"k8s.io/utils/clock"
)

// Client is the part of the DynamoDB API that Dynamo uses, with the SDK's
// exact signatures: *dynamodb.Client satisfies it.
type Client interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ Client = (*dynamodb.Client)(nil)

// KeyAttribute is the table's partition key, a string holding the cluster
// id.
const KeyAttribute = "cluster_id"

// Attribute names of the cluster's item (see the package documentation).
const (
	attrOwner      = "lock_owner"
	attrExpiry     = "lock_expiry"
	attrToken      = "fencing_token"
	attrNodeCount  = "node_count"
	attrInProgress = "scaling_in_progress"
	attrOperation  = "operation"
	attrLastUp     = "last_scale_up"
	attrLastDown   = "last_scale_down"
	attrHistory    = "history"
	attrInterrupts = "interruptions"
	attrPaused     = "paused"
	attrCalendar   = "calendar"
	attrLong       = "history_long"
	attrUnplace    = "unplaceable"
	attrAlerted    = "alerted"
	attrLaunched   = "launched"
	attrOutage     = "outage_since"
	attrVersion    = "state_version"
	attrUpdated    = "updated_at"
)

// DynamoConfig configures a Dynamo. NewDynamo checks it; zero fields take
// the documented defaults.
type DynamoConfig struct {
	// Client talks to DynamoDB (a *dynamodb.Client). Required.
	Client Client
	// Table is the table's name (see CreateTable). Required.
	Table string
	// ClusterID is the item's key. Required.
	ClusterID string
	// Clock reads the time for lease expiry; default the real clock.
	Clock clock.PassiveClock
	// Logger receives the store's log; default discards.
	Logger *slog.Logger
	// HistoryLimit, when set, cuts the stored history to this many
	// records. Default 0: the store keeps what the autoscaler keeps
	// (autoscaler.Config.HistoryLimit is the one retention setting).
	HistoryLimit int
	// MaxHistoryBytes and MaxLongHistoryBytes bound the encoded history
	// and downsampled history, so that the item stays under DynamoDB's
	// 400 KB item limit; the oldest records are dropped first. Defaults
	// 160,000 and 220,000 (a day of 2-minute records with a custom metric
	// takes about 100 KB, 8 days of 10-minute means about 200 KB);
	// together at most 380,000.
	MaxHistoryBytes, MaxLongHistoryBytes int
	// ClockSkew is how far this process's clock may be ahead of the lease
	// holder's: Acquire takes over another owner's lease, and Lock
	// reports it free, only once its expiry is ClockSkew in the past by
	// this clock. Default DefaultClockSkew.
	ClockSkew time.Duration
}

// DefaultClockSkew is DynamoConfig.ClockSkew's default, 30 seconds.
// Replicas on EC2 (chrony and the Amazon Time Sync Service) agree within
// a millisecond; the clock that drifts is an operator's laptop running
// the operator command: a standalone Windows machine synchronises once a
// week by default (W32Time's SpecialPollInterval, 604,800 s), and a PC
// clock crystal within its usual ±50 ppm drifts 30 s in a week. A clock
// further ahead than the margin can still take over a live lease, which
// the fencing token then keeps from writing over the holder's state. The
// cost is that a crashed holder's lease is taken over ClockSkew late.
const DefaultClockSkew = 30 * time.Second

// Dynamo is an autoscaler.Locker and autoscaler.StateStore on one DynamoDB
// item. It is safe for concurrent use, also from several processes.
type Dynamo struct {
	cfg DynamoConfig

	mu     sync.Mutex
	staged map[string]string // extra attribute -> JSON, for the next Save (StageJSON)
}

var (
	_ autoscaler.Locker     = (*Dynamo)(nil)
	_ autoscaler.StateStore = (*Dynamo)(nil)
)

// NewDynamo checks cfg and returns a Dynamo. Every problem with cfg is
// reported, each naming its field. It makes no AWS call.
func NewDynamo(cfg DynamoConfig) (*Dynamo, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Client == nil {
		bad("Client is required")
	}
	if cfg.Table == "" {
		bad("Table is required")
	}
	if cfg.ClusterID == "" {
		bad("ClusterID is required")
	}
	if cfg.HistoryLimit < 0 {
		bad("HistoryLimit must be 0 or more, got %d", cfg.HistoryLimit)
	}
	if cfg.ClockSkew < 0 {
		bad("ClockSkew must not be negative, got %s", cfg.ClockSkew)
	}
	if cfg.MaxHistoryBytes < 0 || cfg.MaxLongHistoryBytes < 0 {
		bad("MaxHistoryBytes and MaxLongHistoryBytes must not be negative, got %d and %d", cfg.MaxHistoryBytes, cfg.MaxLongHistoryBytes)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("state: DynamoConfig: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MaxHistoryBytes == 0 {
		cfg.MaxHistoryBytes = 160_000
	}
	if cfg.MaxLongHistoryBytes == 0 {
		cfg.MaxLongHistoryBytes = 220_000
	}
	if cfg.MaxHistoryBytes+cfg.MaxLongHistoryBytes > 380_000 {
		return nil, fmt.Errorf("state: DynamoConfig: MaxHistoryBytes (%d) plus MaxLongHistoryBytes (%d) must be at most 380000: an item holds 400 KB", cfg.MaxHistoryBytes, cfg.MaxLongHistoryBytes)
	}
	return &Dynamo{cfg: cfg}, nil
}

func (d *Dynamo) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: d.cfg.ClusterID}}
}

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func getNum(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(v.Value, 64); err == nil {
			return int64(f)
		}
	}
	return 0
}

// attrKinds is the DynamoDB type of each attribute the state reads: S, N
// or BOOL.
var attrKinds = map[string]string{
	attrOwner: "S", attrExpiry: "N", attrToken: "N", attrNodeCount: "N", attrInProgress: "BOOL",
	attrOperation: "S", attrLastUp: "S", attrLastDown: "S", attrHistory: "S", attrInterrupts: "S",
	attrPaused: "S", attrCalendar: "S", attrLong: "S", attrUnplace: "S", attrLaunched: "S",
	attrOutage: "S", attrVersion: "N", attrUpdated: "S",
}

// checkTypes reports the attributes of item whose DynamoDB type is not the
// one the state stores them as (written by another tool, an old format):
// reading them as absent would lose them.
func checkTypes(item map[string]types.AttributeValue) error {
	var bad []string
	for name, v := range item {
		want, ok := attrKinds[name]
		if !ok {
			continue
		}
		var got string
		switch v.(type) {
		case *types.AttributeValueMemberS:
			got = "S"
		case *types.AttributeValueMemberN:
			got = "N"
		case *types.AttributeValueMemberBOOL:
			got = "BOOL"
		case *types.AttributeValueMemberNULL:
			continue
		default:
			got = fmt.Sprintf("%T", v)
		}
		if got != want {
			bad = append(bad, fmt.Sprintf("%s is stored as %s, want %s", name, got, want))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("attributes of the wrong type (not overwritten; fix or remove them): %s", strings.Join(bad, "; "))
}

func getStr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// Acquire takes the cluster's lock for owner for ttl with one conditional
// write. It returns an error wrapping autoscaler.ErrLockHeld, naming the
// holder, when another owner holds an unexpired lease, or one that
// expired less than ClockSkew ago by this clock. A lease expired longer
// ago is taken over (Lease.TookOver, Lease.PreviousOwner). Every success returns
// a larger token than any before. A success also drops what StageJSON
// staged before it and no Save wrote (that Save failed): it belonged to an
// earlier lease's tick, and another replica may have written the
// attribute since.
func (d *Dynamo) Acquire(ctx context.Context, owner string, ttl time.Duration) (autoscaler.Lease, error) {
	if owner == "" {
		return autoscaler.Lease{}, errors.New("state: acquire: owner is required")
	}
	if ttl <= 0 {
		return autoscaler.Lease{}, fmt.Errorf("state: acquire: ttl must be positive, got %s", ttl)
	}
	now := d.cfg.Clock.Now()
	expires := now.Add(ttl)
	// Another owner's lease is stale once it expired ClockSkew ago.
	staleSec := now.Add(-d.cfg.ClockSkew).Unix()
	expSec := int64(math.Ceil(float64(expires.UnixNano()) / 1e9))
	out, err := d.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(d.cfg.Table),
		Key:                 d.key(),
		UpdateExpression:    aws.String("SET #owner = :owner, #expiry = :expiry ADD #token :one"),
		ConditionExpression: aws.String("attribute_not_exists(#owner) OR #owner = :owner OR #expiry <= :stale"),
		ExpressionAttributeNames: map[string]string{
			"#owner": attrOwner, "#expiry": attrExpiry, "#token": attrToken,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": str(owner), ":expiry": num(expSec), ":one": num(1), ":stale": num(staleSec),
		},
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			holder, until := getStr(ccf.Item, attrOwner), getNum(ccf.Item, attrExpiry)
			if holder == "" {
				return autoscaler.Lease{}, fmt.Errorf("state: lock of cluster %s: %w", d.cfg.ClusterID, autoscaler.ErrLockHeld)
			}
			return autoscaler.Lease{}, fmt.Errorf("state: lock of cluster %s held by %q, its lease %s: %w",
				d.cfg.ClusterID, holder, d.leaseState(time.Unix(until, 0)), autoscaler.ErrLockHeld)
		}
		return autoscaler.Lease{}, fmt.Errorf("state: acquire lock of cluster %s: %w", d.cfg.ClusterID, err)
	}
	d.mu.Lock()
	if len(d.staged) > 0 {
		d.cfg.Logger.WarnContext(ctx, "dropping attributes staged under an earlier lease and never saved", "cluster", d.cfg.ClusterID,
			"attributes", slices.Sorted(maps.Keys(d.staged)))
	}
	d.staged = nil
	d.mu.Unlock()
	old := out.Attributes
	lease := autoscaler.Lease{Owner: owner, Token: getNum(old, attrToken) + 1, Expires: expires}
	if prev := getStr(old, attrOwner); prev != "" && prev != owner {
		// The condition let us in over another owner: its lease had expired.
		lease.TookOver, lease.PreviousOwner = true, prev
		d.cfg.Logger.WarnContext(ctx, "took over a stale lock", "cluster", d.cfg.ClusterID, "previous", prev,
			"expired", time.Unix(getNum(old, attrExpiry), 0).UTC(), "token", lease.Token)
	}
	return lease, nil
}

// leaseState says of a held lease that expires (or expired) at until
// whether it is valid, or expired less than ClockSkew ago by this
// clock: "valid until T", or "expired at T, 10s ago, within the 30s
// clock-skew margin ...".
func (d *Dynamo) leaseState(until time.Time) string {
	until = until.UTC()
	now := d.cfg.Clock.Now()
	if until.After(now) {
		return "valid until " + until.Format(time.RFC3339)
	}
	return fmt.Sprintf("expired at %s, %s ago, within the %s clock-skew margin (DynamoConfig.ClockSkew: the holder's clock may be behind); it is free once the margin has passed",
		until.Format(time.RFC3339), now.Sub(until).Round(time.Second), d.cfg.ClockSkew)
}

// Release gives lease up if it is still the item's lease. A lease that was
// taken over or already released is left alone and Release returns nil.
func (d *Dynamo) Release(ctx context.Context, lease autoscaler.Lease) error {
	_, err := d.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(d.cfg.Table),
		Key:                       d.key(),
		UpdateExpression:          aws.String("REMOVE #owner, #expiry"),
		ConditionExpression:       aws.String("#owner = :owner AND #token = :token"),
		ExpressionAttributeNames:  map[string]string{"#owner": attrOwner, "#expiry": attrExpiry, "#token": attrToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": str(lease.Owner), ":token": num(lease.Token)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		d.cfg.Logger.InfoContext(ctx, "lease no longer held, nothing to release", "cluster", d.cfg.ClusterID, "owner", lease.Owner, "token", lease.Token)
		return nil
	}
	if err != nil {
		return fmt.Errorf("state: release lock of cluster %s: %w", d.cfg.ClusterID, err)
	}
	return nil
}

// Load returns the cluster's state, read consistently. A cluster never
// saved yields a zero ClusterState (with ClusterID set) and no error.
func (d *Dynamo) Load(ctx context.Context) (autoscaler.ClusterState, error) {
	st := autoscaler.ClusterState{ClusterID: d.cfg.ClusterID}
	out, err := d.cfg.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(d.cfg.Table), Key: d.key(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return st, fmt.Errorf("state: load cluster %s: %w", d.cfg.ClusterID, err)
	}
	item := out.Item
	if item == nil {
		return st, nil
	}
	if err := checkTypes(item); err != nil {
		// Never read as absent: the next Save would overwrite it.
		return st, fmt.Errorf("state: load cluster %s: %w", d.cfg.ClusterID, err)
	}
	st.NodeCount = int(getNum(item, attrNodeCount))
	if v, ok := item[attrInProgress].(*types.AttributeValueMemberBOOL); ok {
		st.ScalingInProgress = v.Value
	}
	st.Version = getNum(item, attrVersion)
	for _, f := range []struct {
		attr string
		dst  *time.Time
	}{{attrLastUp, &st.LastScaleUp}, {attrLastDown, &st.LastScaleDown}} {
		if s := getStr(item, f.attr); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return st, fmt.Errorf("state: load cluster %s: %s: %w", d.cfg.ClusterID, f.attr, err)
			}
			*f.dst = t
		}
	}
	if s := getStr(item, attrOperation); s != "" {
		var op autoscaler.Operation
		if err := json.Unmarshal([]byte(s), &op); err != nil {
			return st, fmt.Errorf("state: load cluster %s: operation: %w", d.cfg.ClusterID, err)
		}
		st.Operation = &op
	}
	for _, f := range jsonFields(&st) {
		if s := getStr(item, f.attr); s != "" {
			if err := json.Unmarshal([]byte(s), f.dst); err != nil {
				return st, fmt.Errorf("state: load cluster %s: %s: %w", d.cfg.ClusterID, f.attr, err)
			}
		}
	}
	if s := getStr(item, attrLong); s != "" {
		h, err := decodeHistory(s)
		if err != nil {
			return st, fmt.Errorf("state: load cluster %s: %s: %w", d.cfg.ClusterID, attrLong, err)
		}
		st.LongHistory = h
	}
	if s := getStr(item, attrHistory); s != "" {
		h, err := decodeHistory(s)
		if err != nil {
			return st, fmt.Errorf("state: load cluster %s: history: %w", d.cfg.ClusterID, err)
		}
		st.History = h
	}
	return st, nil
}

// Save writes st if lease's token is still the item's fencing token;
// otherwise it writes nothing and returns an error wrapping
// autoscaler.ErrLeaseLost. The history is cut to HistoryLimit records and
// MaxHistoryBytes, oldest first, and the whole item fits in ItemBudget
// (see encodeWithinBudget: the unplaceable pods are capped, the oldest
// history gives way; ExtraBudget is kept for the extra attributes). The
// lock attributes are never touched. The extra attributes staged by
// StageJSON are written in the same conditional write, and so under the
// same lease; a Save refused for a lost lease drops them (they belonged
// to that lease's tick), another failure keeps them for the next Save.
func (d *Dynamo) Save(ctx context.Context, lease autoscaler.Lease, st autoscaler.ClusterState) error {
	u, err := d.stateUpdate(lease, &st)
	if err != nil {
		return fmt.Errorf("state: save cluster %s: %w", d.cfg.ClusterID, err)
	}
	d.mu.Lock()
	staged := maps.Clone(d.staged)
	d.mu.Unlock()
	for i, attr := range slices.Sorted(maps.Keys(staged)) {
		name := fmt.Sprintf("#x%d", i)
		u.names[name] = attr
		u.put(name, fmt.Sprintf(":x%d", i), str(staged[attr]))
	}
	_, err = d.cfg.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(d.cfg.Table),
		Key:                                 d.key(),
		UpdateExpression:                    aws.String(u.expression()),
		ConditionExpression:                 aws.String("#token = :token"),
		ExpressionAttributeNames:            u.names,
		ExpressionAttributeValues:           u.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if err == nil || errors.As(err, &ccf) {
		d.unstage(staged)
	}
	if errors.As(err, &ccf) {
		return fmt.Errorf("state: save cluster %s under token %d refused, the current token is %d: %w",
			d.cfg.ClusterID, lease.Token, getNum(ccf.Item, attrToken), autoscaler.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("state: save cluster %s: %w", d.cfg.ClusterID, err)
	}
	return nil
}

// update is a DynamoDB update expression being built: the attributes it
// sets and those it removes, by their placeholders.
type update struct {
	names       map[string]string
	values      map[string]types.AttributeValue
	set, remove []string
}

// put sets the attribute placeholder name to v, under the value
// placeholder val.
func (u *update) put(name, val string, v types.AttributeValue) {
	u.values[val] = v
	u.set = append(u.set, name+" = "+val)
}

// expression returns the update expression: SET, then REMOVE if any.
func (u *update) expression() string {
	expr := "SET " + strings.Join(u.set, ", ")
	if len(u.remove) > 0 {
		expr += " REMOVE " + strings.Join(u.remove, ", ")
	}
	return expr
}

// stateUpdate returns the update that writes st under lease: the history
// within its budget, the operation, the JSON fields and the scaling
// times, each removed when st has none.
func (d *Dynamo) stateUpdate(lease autoscaler.Lease, st *autoscaler.ClusterState) (*update, error) {
	hist, long, err := d.encodeWithinBudget(st)
	if err != nil {
		return nil, err
	}
	u := &update{
		names: map[string]string{
			"#token": attrToken, "#n": attrNodeCount, "#sip": attrInProgress, "#hist": attrHistory,
			"#ver": attrVersion, "#upd": attrUpdated, "#op": attrOperation, "#up": attrLastUp, "#down": attrLastDown,
			"#long": attrLong,
		},
		values: map[string]types.AttributeValue{
			":token": num(lease.Token),
			":n":     num(int64(st.NodeCount)),
			":sip":   &types.AttributeValueMemberBOOL{Value: st.ScalingInProgress || st.Operation != nil},
			":hist":  str(hist),
			":upd":   str(d.cfg.Clock.Now().UTC().Format(time.RFC3339Nano)),
		},
		set: []string{"#n = :n", "#sip = :sip", "#hist = :hist", "#ver = :token", "#upd = :upd"},
	}
	if st.Operation != nil {
		b, err := json.Marshal(st.Operation)
		if err != nil {
			return nil, fmt.Errorf("operation: %w", err)
		}
		u.put("#op", ":op", str(string(b)))
	} else {
		u.remove = append(u.remove, "#op")
	}
	if long != "[]" {
		u.put("#long", ":long", str(long))
	} else {
		u.remove = append(u.remove, "#long")
	}
	if err := u.putJSONFields(st); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"#up", st.LastScaleUp}, {"#down", st.LastScaleDown}} {
		if f.t.IsZero() {
			u.remove = append(u.remove, f.name)
			continue
		}
		u.put(f.name, ":"+strings.TrimPrefix(f.name, "#"), str(f.t.UTC().Format(time.RFC3339Nano)))
	}
	return u, nil
}

// putJSONFields sets st's JSON fields (jsonFields), each removed when
// absent.
func (u *update) putJSONFields(st *autoscaler.ClusterState) error {
	for i, f := range jsonFields(st) {
		name, val := fmt.Sprintf("#j%d", i), fmt.Sprintf(":j%d", i)
		u.names[name] = f.attr
		if !f.present() {
			u.remove = append(u.remove, name)
			continue
		}
		b, err := json.Marshal(f.dst)
		if err != nil {
			return fmt.Errorf("%s: %w", f.attr, err)
		}
		u.put(name, val, str(string(b)))
	}
	return nil
}

// jsonField is a ClusterState field stored as a JSON string attribute.
type jsonField struct {
	attr    string
	dst     any // a pointer to the field
	present func() bool
}

// jsonFields are the state's fields stored as JSON, each in its attribute;
// an absent field removes its attribute.
func jsonFields(st *autoscaler.ClusterState) []jsonField {
	return []jsonField{
		{attrInterrupts, &st.Interruptions, func() bool { return len(st.Interruptions) > 0 }},
		{attrUnplace, &st.Unplaceable, func() bool { return len(st.Unplaceable) > 0 }},
		{attrAlerted, &st.Alerted, func() bool { return len(st.Alerted) > 0 }},
		{attrCalendar, &st.Calendar, func() bool { return len(st.Calendar) > 0 }},
		{attrPaused, &st.Paused, func() bool { return st.Paused != nil }},
		{attrLaunched, &st.Launched, func() bool { return len(st.Launched) > 0 }},
		{attrOutage, &st.OutageSince, func() bool { return !st.OutageSince.IsZero() }},
	}
}
