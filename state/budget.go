package state

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// The item's byte budget. DynamoDB refuses a write that makes an item
// larger than 400 KB (409,600 bytes), counting every attribute's name and
// value, and a refused Save is a tick that records nothing, its
// write-ahead included. Save therefore fits the whole item, every
// attribute counted, into ItemBudget.
const (
	// ItemLimit is DynamoDB's item size limit.
	ItemLimit = 400 * 1024
	// ItemBudget is what Save lets the item reach: the limit less a
	// margin for the lock's attributes, the key and the numbers, which
	// are counted at their largest in itemOverhead.
	ItemBudget = 390_000
	// ExtraBudget is the part of ItemBudget kept for the extra attributes
	// (StageJSON: ec2fleet's unavailable pools, a few hundred bytes per
	// pool, at most MaxExtraBytes per attribute): they are counted at this
	// size, whatever is staged, so that one more pool never tips a Save
	// over the limit.
	ExtraBudget = 24_000
	// MaxUnplaceable is how many unplaceable pods' keys Save keeps; the
	// others are summarised in one entry (UnplaceableSummary).
	MaxUnplaceable = 100
	// MaxUnplaceableKeyBytes bounds one key: a namespace (63 bytes), '/'
	// and a pod name (253 bytes) fit; anything longer is cut.
	MaxUnplaceableKeyBytes = 320
)

// itemOverhead is the size of the attributes Save does not write or
// writes as small scalars, at their largest: the key (a cluster id of
// up to 255 bytes), the lock owner (up to 255), the expiry, the token,
// node count, version, flags and timestamps.
const itemOverhead = 2_000

// UnplaceableSummary formats the entry that stands for the unplaceable
// pods beyond MaxUnplaceable: autoscaler.UnplaceableSummary, which the
// planner counts as that many pods alerted already.
func UnplaceableSummary(more int) string { return autoscaler.UnplaceableSummary(more) }

// ErrItemTooLarge is returned by Save when the parts of the state that are
// never cut (the operation in progress, the interruptions, the calendar,
// the recent launches) do not fit in ItemBudget by themselves.
var ErrItemTooLarge = errors.New("state: the cluster's item would exceed its byte budget")

// capUnplaceable returns keys with at most MaxUnplaceable entries of at
// most MaxUnplaceableKeyBytes each, the last of them a summary of the
// rest.
func capUnplaceable(keys []string) []string {
	out := make([]string, 0, min(len(keys), MaxUnplaceable))
	for i, k := range keys {
		if i == MaxUnplaceable-1 && len(keys) > MaxUnplaceable {
			return append(out, UnplaceableSummary(len(keys)-i))
		}
		if len(k) > MaxUnplaceableKeyBytes {
			k = k[:MaxUnplaceableKeyBytes]
		}
		out = append(out, k)
	}
	return out
}

// encodeWithinBudget encodes the history and the long history of st for
// Save so that the whole item fits in ItemBudget: it caps st.Unplaceable
// first (and st.Alerted to autoscaler.MaxAlertMarks), counts every other attribute Save writes, and when the item
// would exceed the budget drops the oldest records first (the long
// history's, which are older than every record of the history, then the
// history's own).
func (d *Dynamo) encodeWithinBudget(st *autoscaler.ClusterState) (hist, long string, err error) {
	st.Unplaceable = capUnplaceable(st.Unplaceable)
	if len(st.Alerted) > autoscaler.MaxAlertMarks {
		st.Alerted = st.Alerted[:autoscaler.MaxAlertMarks]
	}
	hist, err = encodeHistory(st.History, d.cfg.HistoryLimit, d.cfg.MaxHistoryBytes)
	if err != nil {
		return "", "", fmt.Errorf("history: %w", err)
	}
	long, err = encodeHistory(st.LongHistory, 0, d.cfg.MaxLongHistoryBytes)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", attrLong, err)
	}
	fixed := itemOverhead + ExtraBudget
	if st.Operation != nil {
		b, err := json.Marshal(st.Operation)
		if err != nil {
			return "", "", fmt.Errorf("operation: %w", err)
		}
		fixed += len(attrOperation) + len(b)
	}
	for _, f := range jsonFields(st) {
		if !f.present() {
			continue
		}
		b, err := json.Marshal(f.dst)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", f.attr, err)
		}
		fixed += len(f.attr) + len(b)
	}
	room := ItemBudget - fixed - len(attrHistory) - len(attrLong)
	if room < len("[]")*2 {
		return "", "", fmt.Errorf("%w: %d bytes without the history, budget %d", ErrItemTooLarge, fixed, ItemBudget)
	}
	if len(hist)+len(long) <= room {
		return hist, long, nil
	}
	// The long history gives way first, then the history.
	if keep := room - len(hist); keep >= len("[]") {
		long, err = encodeHistory(st.LongHistory, 0, keep)
		return hist, long, err
	}
	long = "[]"
	hist, err = encodeHistory(st.History, d.cfg.HistoryLimit, room-len(long))
	return hist, long, err
}
