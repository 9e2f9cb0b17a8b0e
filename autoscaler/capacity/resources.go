package capacity

import (
	"fmt"
	"math"
	"strconv"
)

// Resources is an amount of what the scheduler counts on a node: CPU in
// millicores, memory and ephemeral storage in bytes, and pod slots.
type Resources struct {
	// MilliCPU is CPU in thousandths of a core.
	MilliCPU int64
	// Memory is in bytes.
	Memory int64
	// Pods is a number of pod slots.
	Pods int64
	// EphemeralStorage is local ephemeral storage (emptyDir, logs,
	// writable layers) in bytes.
	EphemeralStorage int64
}

// Add returns r plus o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, Memory: r.Memory + o.Memory, Pods: r.Pods + o.Pods,
		EphemeralStorage: r.EphemeralStorage + o.EphemeralStorage}
}

// Sub returns r minus o; a result can be negative (an overcommitted node).
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, Memory: r.Memory - o.Memory, Pods: r.Pods - o.Pods,
		EphemeralStorage: r.EphemeralStorage - o.EphemeralStorage}
}

// Fits reports whether r fits into free: no dimension of r exceeds free's.
// As for kube-scheduler's NodeResourcesFit, ephemeral storage is checked
// only when r asks for some.
func (r Resources) Fits(free Resources) bool {
	return r.MilliCPU <= free.MilliCPU && r.Memory <= free.Memory && r.Pods <= free.Pods &&
		(r.EphemeralStorage <= 0 || r.EphemeralStorage <= free.EphemeralStorage)
}

// IsZero reports whether every dimension is zero (for Node.Allocatable:
// not read).
func (r Resources) IsZero() bool { return r == Resources{} }

// String prints r as people read it: "1.93 CPU, 3.6 GiB, 110 pods", with
// ", 20 GiB ephemeral storage" when there is some.
func (r Resources) String() string {
	s := fmt.Sprintf("%s CPU, %s, %d pods", FormatCPU(r.MilliCPU), FormatMemory(r.Memory), r.Pods)
	if r.EphemeralStorage != 0 {
		s += ", " + FormatMemory(r.EphemeralStorage) + " ephemeral storage"
	}
	return s
}

// FormatCPU prints millicores as cores with at most three decimals:
// 1930 is "1.93", 6000 is "6", 250 is "0.25".
func FormatCPU(milli int64) string {
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

// FormatMemory prints bytes in GiB with at most two decimals ("3.6 GiB"),
// or in MiB below 1 GiB ("512 MiB").
func FormatMemory(b int64) string {
	const mi, gi = 1 << 20, 1 << 30
	if b < gi && b > -gi {
		return strconv.FormatFloat(math.Round(float64(b)/mi), 'f', -1, 64) + " MiB"
	}
	return strconv.FormatFloat(math.Round(float64(b)/gi*100)/100, 'f', -1, 64) + " GiB"
}

// K3sReservation is what the kubelet of a K3s node keeps from pods on an
// instance of vcpu vCPUs and memoryMiB MiB, the way the EKS AMI reserves
// it (CPU: 6% of the first core, 1% of the second, 0.5% of the third and
// fourth, 0.25% of the rest; memory: 100 MiB plus 5%), which is close to
// the allocatable K3s nodes report: 1.93 CPU of a t3.medium's 2.
func K3sReservation(vcpu int, memoryMiB int64) Resources {
	var milli int64
	for core := 1; core <= vcpu; core++ {
		switch {
		case core == 1:
			milli += 60
		case core == 2:
			milli += 10
		case core <= 4:
			milli += 5
		default:
			milli += 2 // 0.25% of 1000m, rounded down
		}
	}
	mem := (100 + memoryMiB*5/100) << 20
	return Resources{MilliCPU: milli, Memory: mem}
}
