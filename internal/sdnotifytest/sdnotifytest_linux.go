// Package sdnotifytest is a fake service manager for tests: the Unix
// datagram socket systemd names in NOTIFY_SOCKET, receiving with
// SO_PASSCRED so that each notification comes with its sender's pid, which
// is how systemd tells the main process's notifications from the others
// (sd_notify(3)). Linux only.
package sdnotifytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Notification is one datagram the manager received.
type Notification struct {
	// State is the datagram: "NAME=value" lines such as "READY=1".
	State string
	// PID is the sender's pid, from its SCM_CREDENTIALS.
	PID int
}

// Manager is a service manager's notification socket.
type Manager struct {
	conn *net.UnixConn
	addr string
}

// New listens on addr: a socket path, or "@name" for an abstract socket.
func New(addr string) (*Manager, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		conn.Close()
		return nil, errors.Join(err, serr)
	}
	return &Manager{conn: conn, addr: addr}, nil
}

// Listen is New for a test, on a fresh socket path (or a fresh abstract
// name when abstract is set), closed when the test ends, with
// NOTIFY_SOCKET pointing at it for the test (t.Setenv: not in parallel
// tests).
func Listen(t *testing.T, abstract bool) *Manager {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "notify")
	if abstract {
		addr = fmt.Sprintf("@mustaine-sdnotifytest-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	m, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	t.Setenv("NOTIFY_SOCKET", addr)
	return m
}

// Addr is the socket's address, the value for NOTIFY_SOCKET.
func (m *Manager) Addr() string { return m.addr }

// Close closes the socket.
func (m *Manager) Close() error { return m.conn.Close() }

// Next waits up to timeout for the next notification.
func (m *Manager) Next(timeout time.Duration) (Notification, error) {
	if err := m.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return Notification{}, err
	}
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := m.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return Notification{}, err
	}
	return parse(buf[:n], oob[:oobn])
}

// Pending returns the notifications already queued, without waiting. (A
// read deadline in the past fails before looking at the queue, hence
// MSG_DONTWAIT.)
func (m *Manager) Pending() ([]Notification, error) {
	raw, err := m.conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []Notification
	for {
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(unix.SizeofUcred))
		var n, oobn int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			return true
		}); err != nil {
			return out, err
		}
		if rerr == unix.EAGAIN {
			return out, nil
		}
		if rerr != nil {
			return out, rerr
		}
		nt, err := parse(buf[:n], oob[:oobn])
		if err != nil {
			return out, err
		}
		out = append(out, nt)
	}
}

// parse pairs a datagram with its sender's pid.
func parse(data, oob []byte) (Notification, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return Notification{}, err
	}
	if len(msgs) != 1 {
		return Notification{}, fmt.Errorf("%d control messages, want the sender's credentials", len(msgs))
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		return Notification{}, err
	}
	return Notification{State: string(data), PID: int(cred.Pid)}, nil
}
