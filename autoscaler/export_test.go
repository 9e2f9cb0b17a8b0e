package autoscaler

// What the package's external tests read of its unexported names.
var Guardrails = guardrailNames

// InterruptionExpiry is interruptionExpiry, for the external tests.
const InterruptionExpiry = interruptionExpiry

// Stable is stable, for the external tests.
var Stable = stable
