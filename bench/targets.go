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
	// TLS marks an HTTP server that serves HTTPS when started with
	// -tls-cert and -tls-key, and so takes the TLS loads.
	TLS bool
	// Backend is the reactor backend one of Mustaine's targets runs on,
	// passed as -backend (set by -backends; "" for the other servers). A
	// target whose binary has no -backend flag runs on its default,
	// epoll, and its other backends are reported missing.
	Backend string
}

// defaultBackend is what a Mustaine server runs on without -backend.
const defaultBackend = "epoll"

// label names t in the tables, charts and progress lines: the flag name,
// with the backend when it is not the default one.
func (t target) label() string {
	if t.Backend == "" || t.Backend == defaultBackend {
		return t.Name
	}
	return t.Name + " " + t.Backend
}

// binary is the file name the target is built to.
func (t target) binary() string {
	if t.Kind == kindHTTP {
		return t.Name + "-http"
	}
	return t.Name + "-echo"
}

// baseline is the target the plaintext loads' ratios are computed
// against; tlsBaseline that of the TLS loads (gnet has no TLS).
const (
	baseline    = "gnet"
	tlsBaseline = "nethttp"
)

// allTargets lists every server, in the order of the tables.
var allTargets = []target{
	{Name: "mustaine", Kind: kindHTTP, Pkg: "./examples/http", Ours: true, TLS: true},
	{Name: "gnet", Kind: kindHTTP, Pkg: "./bench/peers/gnethttp"},
	{Name: "fasthttp", Kind: kindHTTP, Pkg: "./bench/peers/fasthttp"},
	{Name: "nethttp", Kind: kindHTTP, Pkg: "./bench/peers/nethttp", TLS: true},
	// canned is gnet's responder on Mustaine's reactor: Ours, so it runs
	// on every -backends backend like the examples.
	{Name: "canned", Kind: kindHTTP, Pkg: "./bench/peers/cannedhttp", Ours: true},
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
	Handshake bool // the Go TLS load generator: one new connection per request
	// TLS runs the load over TLS against the targets that serve it, with
	// the certificate the harness generates; ratios are to tlsBaseline.
	TLS bool
}

// base is the target l's ratios are computed against.
func (l load) base() string {
	if l.TLS {
		return tlsBaseline
	}
	return baseline
}

// appliesTo reports whether l runs against t.
func (l load) appliesTo(t target) bool {
	return l.Kind == t.Kind && (!l.TLS || t.TLS)
}

// allLoads lists every load, in the order of the tables. Connection counts
// and depths that have flags are filled in from them.
func allLoads(o *options) []load {
	touched := ""
	if o.IdleTouch {
		touched = ", each after one exchange"
	}
	return []load{
		{Name: "plaintext", Title: "HTTP plaintext, wrk -c " + itoa(o.WrkConns), Kind: kindHTTP, WrkDepth: 1},
		{Name: "pipelined", Title: "HTTP pipelined " + itoa(o.Depth) + ", wrk -c " + itoa(o.WrkConns), Kind: kindHTTP, WrkDepth: o.Depth},
		{Name: "echo64", Title: "echo 64 conns × 64 B", Kind: kindEcho, EchoConns: 64, EchoSize: 64},
		{Name: "echo4k", Title: "echo 1 conn × 4 KiB", Kind: kindEcho, EchoConns: 1, EchoSize: 4096},
		{Name: "idle-http", Title: itoa(o.IdleConns) + " idle HTTP conns" + touched, Kind: kindHTTP, Idle: true},
		{Name: "idle-echo", Title: itoa(o.IdleConns) + " idle echo conns" + touched, Kind: kindEcho, Idle: true},
		{Name: "https", Title: "HTTPS keep-alive, wrk -c " + itoa(o.WrkConns), Kind: kindHTTP, WrkDepth: 1, TLS: true},
		{Name: "https-handshake", Title: "HTTPS new conn per request (" + o.KeyShare + "), " + itoa(o.WrkConns) + " conns",
			Kind: kindHTTP, Handshake: true, TLS: true},
		{Name: "idle-https", Title: itoa(o.IdleConns) + " idle HTTPS conns (" + o.KeyShare + ")" + touched, Kind: kindHTTP, Idle: true, TLS: true},
	}
}
