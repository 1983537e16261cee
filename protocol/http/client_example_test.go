package http_test

import (
	"fmt"

	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

// A Client on a reactor's loop calling a Server on the same reactor. The
// Deferred fires on the loop with the whole response; the callback stops
// the reactor.
func ExampleClient() {
	r, err := reactor.New(reactor.WithLoops(1), reactor.WithSignalHandling(false))
	if err != nil {
		panic(err)
	}
	srv, _ := http.NewServer(http.HandlerFunc(func(w *http.ResponseWriter, req *http.Request) {
		w.SetHeader("Content-Type", "text/plain")
		w.WriteString("Hello from " + req.Path())
	}))
	ln, err := r.ListenTCP("127.0.0.1:0", srv)
	if err != nil {
		panic(err)
	}
	url := "http://" + ln.Addr().String() + "/greeting"

	client, err := http.NewClient(r.Loops()[0], r, http.WithMaxConnsPerHost(8))
	if err != nil {
		panic(err)
	}
	r.CallWhenRunning(func() {
		client.Get(url).AddBoth(func(resp *http.ClientResponse, err error) (*http.ClientResponse, error) {
			if err != nil {
				fmt.Println("error:", err)
			} else {
				fmt.Println(resp.StatusCode(), resp.Header("Content-Type"))
				fmt.Println(string(resp.Body()))
			}
			client.Close()
			r.Stop()
			return resp, nil
		})
	})
	if err := r.Run(); err != nil {
		panic(err)
	}
	// Output:
	// 200 text/plain
	// Hello from /greeting
}
