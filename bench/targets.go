package main

// protocolKind is what a server speaks, which decides the loads it takes.
type protocolKind int

const (
	kindHTTP protocolKind = iota
	kindEcho
)

// target is one server program the harness can build and run.
type target struct {
	Name string       // short name used in flags and tables
	Kind protocolKind // which loads apply
	Pkg  string       // package path relative to the module root
	// Ours marks Mustaine's own examples: they are written alongside the
	// harness, so a missing package is reported and skipped, not failed.
	Ours bool
}

// binary is the file name the target is built to.
func (t target) binary() string {
	if t.Kind == kindHTTP {
		return t.Name + "-http"
	}
	return t.Name + "-echo"
}

// baseline is the target every ratio is computed against.
const baseline = "gnet"

// allTargets lists every server, in the order of the tables.
var allTargets = []target{
	{Name: "mustaine", Kind: kindHTTP, Pkg: "./examples/http", Ours: true},
	{Name: "gnet", Kind: kindHTTP, Pkg: "./bench/peers/gnethttp"},
	{Name: "fasthttp", Kind: kindHTTP, Pkg: "./bench/peers/fasthttp"},
	{Name: "nethttp", Kind: kindHTTP, Pkg: "./bench/peers/nethttp"},
	{Name: "mustaine", Kind: kindEcho, Pkg: "./examples/echo", Ours: true},
	{Name: "gnet", Kind: kindEcho, Pkg: "./bench/peers/gnetecho"},
	{Name: "netecho", Kind: kindEcho, Pkg: "./bench/peers/netecho"},
}

// load is one kind of measurement.
type load struct {
	Name  string       // flag name
	Title string       // table label
	Kind  protocolKind // which servers it applies to
	// Exactly one of the following describes the load.
	WrkDepth  int // > 0: wrk, with this many requests pipelined (1 = none)
	EchoConns int // > 0: Go echo load generator with EchoSize-byte messages
	EchoSize  int
	Idle      bool // idle connections, measuring server RSS growth
}

// allLoads lists every load, in the order of the tables. Connection counts
// and depths that have flags are filled in from them.
func allLoads(o *options) []load {
	return []load{
		{Name: "plaintext", Title: "HTTP plaintext, wrk -c " + itoa(o.WrkConns), Kind: kindHTTP, WrkDepth: 1},
		{Name: "pipelined", Title: "HTTP pipelined " + itoa(o.Depth) + ", wrk -c " + itoa(o.WrkConns), Kind: kindHTTP, WrkDepth: o.Depth},
		{Name: "echo64", Title: "echo 64 conns × 64 B", Kind: kindEcho, EchoConns: 64, EchoSize: 64},
		{Name: "echo4k", Title: "echo 1 conn × 4 KiB", Kind: kindEcho, EchoConns: 1, EchoSize: 4096},
		{Name: "idle-http", Title: itoa(o.IdleConns) + " idle HTTP conns", Kind: kindHTTP, Idle: true},
		{Name: "idle-echo", Title: itoa(o.IdleConns) + " idle echo conns", Kind: kindEcho, Idle: true},
	}
}
