package reactor

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The listen backlog reaches listen(2): Linux reports a listening
// socket's maximum backlog in TCP_INFO's tcpi_sacked.
func TestListenBacklogOption(t *testing.T) {
	eachLoopCount(t, func(t *testing.T, loops int) {
		r := startReactor(t, WithLoops(loops))
		for _, tc := range []struct {
			opts ListenOptions
			want uint32
		}{
			{ListenOptions{Backlog: 17}, 17},
			{ListenOptions{}, 0}, // the default, capped by somaxconn
		} {
			ln, err := r.ListenTCPWith("127.0.0.1:0", echoFactory(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			fds := ln.fds
			if fds == nil {
				fds = []int{ln.fd}
			}
			for _, fd := range fds {
				info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
				if err != nil {
					t.Fatal(err)
				}
				if tc.want != 0 && info.Sacked != tc.want {
					t.Errorf("backlog %d, want %d", info.Sacked, tc.want)
				}
				if tc.want == 0 && info.Sacked <= 17 {
					t.Errorf("default backlog %d", info.Sacked)
				}
			}
			ln.Close()
		}
	})
}
