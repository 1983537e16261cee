package nethttpbridge_test

import (
	"fmt"
	"io"
	nethttp "net/http"

	"github.com/rs/zerolog"

	mhttp "github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/protocol/http/nethttpbridge"
	"github.com/mustaine/mustaine/reactor"
)

// A standard library handler (here a ServeMux with a path value) served
// on the worker pool beside a native route.
func ExampleHandler() {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false),
		reactor.WithLogger(zerolog.Nop()))
	if err != nil {
		panic(err)
	}
	std := nethttp.NewServeMux()
	std.HandleFunc("GET /std/{name}", func(w nethttp.ResponseWriter, req *nethttp.Request) {
		fmt.Fprintf(w, "net/http says hello to %s", req.PathValue("name"))
	})
	rt := mhttp.NewRouter()
	rt.HandleFunc("GET /{$}", func(w *mhttp.ResponseWriter, req *mhttp.Request) {
		w.WriteString("native, on the loop")
	})
	rt.Handle("/std/", nethttpbridge.Handler(std, r.CallInThread))
	srv, _ := mhttp.NewServer(rt)
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- r.Run() }()

	c := &nethttp.Client{Transport: &nethttp.Transport{}}
	for _, path := range []string{"/", "/std/gopher"} {
		resp, err := c.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %s\n", path, b)
	}
	c.CloseIdleConnections()
	r.Stop()
	<-done
	// Output:
	// /: native, on the loop
	// /std/gopher: net/http says hello to gopher
}
