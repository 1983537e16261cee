//go:build linux || freebsd

package reactor

import "golang.org/x/sys/unix"

// sysTCPKeepIdle is the option for the idle time before keepalive probes.
const sysTCPKeepIdle = unix.TCP_KEEPIDLE
