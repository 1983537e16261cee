package sdnotifytest_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/mustaine/mustaine/internal/sdnotifytest"
)

// A service's READY=1, as sd_notify(3) sends it, arrives with the
// sender's pid.
func ExampleManager_Next() {
	dir, _ := os.MkdirTemp("", "sdnotifytest")
	defer os.RemoveAll(dir)
	m, err := sdnotifytest.New(filepath.Join(dir, "notify"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	c, err := net.Dial("unixgram", m.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write([]byte("READY=1"))
	c.Close()
	n, err := m.Next(10 * time.Second)
	fmt.Println(n.State, n.PID == os.Getpid(), err)
	// Output: READY=1 true <nil>
}
