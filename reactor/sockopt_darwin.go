package reactor

import "golang.org/x/sys/unix"

// sysTCPKeepIdle is the option for the idle time before keepalive probes:
// macOS calls TCP_KEEPIDLE TCP_KEEPALIVE.
const sysTCPKeepIdle = unix.TCP_KEEPALIVE
