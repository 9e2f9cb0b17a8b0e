// Package mock holds gomock mocks (go.uber.org/mock) of every interface in
// autoscaler/interfaces.go: those the autoscaler consumes (MetricSource,
// Policy, Locker, StateStore, FleetProvider, NodeManager, Notifier,
// Publisher) and the optional ones its parts may implement (Warner).
//
// Use them where the exact calls and their order are the point of a test
// (say, that a fenced Save happens before Terminate, with gomock.InOrder);
// for behaviour over many ticks the in-memory implementations of
// autoscaler/fake are easier to drive.
//
// The mocks are generated, never edited: mockgen reads
// autoscaler/interfaces.go (source mode, so the autoscaler package need not
// compile) and writes mock.go, with typed call wrappers (-typed): Return,
// Do and DoAndReturn take the method's own argument and result types.
// After changing an interface run
//
//	go generate ./autoscaler/mock/
//
// mockgen is the module's own tool (the tool directive in go.mod, version
// pinned by go.sum), so this works offline once the modules are downloaded.
// The test command (scripts/check-mocks.sh) regenerates into a temporary
// directory and fails when the committed mocks differ.
package mock

//go:generate go tool mockgen -typed -write_package_comment=false -write_command_comment=false -self_package=github.com/node-fleet/node-fleet/autoscaler/mock -source=../interfaces.go -destination=mock.go -package=mock
