package reactor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mustaine/mustaine/protocol"
)

// ErrNoActivatedSocket is returned by ListenActivated when systemd passed
// no socket of the name asked for (or none at all).
var ErrNoActivatedSocket = errors.New("mustaine: no socket passed by systemd socket activation")

// ErrBadActivation is returned by ActivationListeners when LISTEN_PID,
// LISTEN_FDS or LISTEN_FDNAMES are set but malformed.
var ErrBadActivation = errors.New("mustaine: malformed socket activation environment")

// listenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// activation holds the sockets systemd passed, read once per process.
var activation struct {
	once  sync.Once
	mu    sync.Mutex
	files []*os.File
	used  []bool
	err   error
}

// ActivationListeners returns the sockets systemd passed to this process
// by socket activation (sd_listen_fds(3)), each as a file named by its
// entry in LISTEN_FDNAMES (systemd's FileDescriptorName=, by default the
// socket unit's name; "unknown" when LISTEN_FDNAMES is unset).
//
// The environment is read once per process, on the first call (or the
// first ListenActivated): LISTEN_PID must be this process's id, else the
// variables were meant for another process (a parent that did not unset
// them) and there are no sockets; LISTEN_FDS sockets follow from
// descriptor 3. The three variables are then unset, so that processes
// this one starts do not take them for theirs, and the descriptors are
// made close-on-exec. Later calls return the same files. Malformed
// variables give an error matching ErrBadActivation (the variables are
// unset all the same).
//
// The files are the process's: serve one with ListenFile (then close it)
// or, simpler, use ListenActivated.
func ActivationListeners() ([]*os.File, error) {
	activation.once.Do(func() {
		fds, names, err := parseActivation(os.Getenv, os.Getpid())
		for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			os.Unsetenv(v)
		}
		activation.err = err
		for i, fd := range fds {
			unix.CloseOnExec(fd)
			activation.files = append(activation.files, os.NewFile(uintptr(fd), names[i]))
		}
		activation.used = make([]bool, len(fds))
	})
	return activation.files, activation.err
}

// parseActivation reads the socket activation variables through getenv
// for the process pid: the descriptors passed and their names.
func parseActivation(getenv func(string) string, pid int) (fds []int, names []string, err error) {
	pidVar := getenv("LISTEN_PID")
	if pidVar == "" {
		return nil, nil, nil
	}
	p, err := strconv.Atoi(pidVar)
	if err != nil || p <= 0 {
		return nil, nil, fmt.Errorf("%w: LISTEN_PID=%q is not a process id", ErrBadActivation, pidVar)
	}
	if p != pid {
		return nil, nil, nil // meant for another process
	}
	nVar := getenv("LISTEN_FDS")
	n, err := strconv.Atoi(nVar)
	if err != nil || n < 0 || n > 1<<16 {
		return nil, nil, fmt.Errorf("%w: LISTEN_FDS=%q is not a count of descriptors", ErrBadActivation, nVar)
	}
	if nv := getenv("LISTEN_FDNAMES"); nv != "" {
		names = strings.Split(nv, ":")
		if len(names) != n {
			return nil, nil, fmt.Errorf("%w: LISTEN_FDNAMES has %d names for LISTEN_FDS=%d", ErrBadActivation, len(names), n)
		}
	} else {
		for range n {
			names = append(names, "unknown")
		}
	}
	for i := range n {
		fds = append(fds, listenFDsStart+i)
	}
	return fds, names, nil
}

// ListenActivated serves the sockets systemd passed under name (see
// ActivationListeners; "" takes every socket passed), one Listener each,
// as ListenFile does (SO_REUSEPORT copies per loop included). Each socket
// is served once: a second ListenActivated for the same name finds none.
// It fails with ErrNoActivatedSocket when no socket of that name was
// passed, and with ErrNotListeningSocket when one is not a listening
// stream socket (systemd's Accept=yes, or a datagram socket), serving
// none of them then.
//
// In a process started by an upgrade (see Upgrade) it serves the sockets
// its predecessor served under the same name instead: systemd passed them
// to that one.
func (r *Reactor) ListenActivated(name string, factory protocol.Factory, opts ...ListenOption) ([]*Listener, error) {
	factory = r.applyListenOptions(factory, opts)
	if lns, err := r.adoptInheritedActivated(name, factory); lns != nil || err != nil {
		return lns, err
	}
	files, err := ActivationListeners()
	if err != nil {
		return nil, err
	}
	activation.mu.Lock()
	defer activation.mu.Unlock()
	var picked []int
	var have []string
	for i, f := range files {
		if activation.used[i] {
			continue
		}
		have = append(have, f.Name())
		if name == "" || f.Name() == name {
			picked = append(picked, i)
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("%w: name %q (passed and not yet served: %q)", ErrNoActivatedSocket, name, have)
	}
	for _, i := range picked {
		if err := checkFile(files[i]); err != nil {
			return nil, fmt.Errorf("socket activation %q: %w", files[i].Name(), err)
		}
	}
	var lns []*Listener
	for _, i := range picked {
		f := files[i]
		fd, err := dupFile(f)
		var ln *Listener
		if err == nil {
			ln, err = r.adopt([]int{fd}, "", factory, nil)
			if err != nil && !errors.As(err, new(errServeFailed)) {
				unix.Close(fd)
			}
		}
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return nil, fmt.Errorf("socket activation %q: %w", f.Name(), err)
		}
		r.mu.Lock()
		ln.key = activatedKey(f.Name(), ln.addr.String())
		r.mu.Unlock()
		lns = append(lns, ln)
	}
	for _, i := range picked {
		activation.used[i] = true
		files[i].Close() // the listener has its own descriptor
	}
	return lns, nil
}

// activatedKey names an activated listener across an upgrade.
func activatedKey(name, addr string) string { return "activated:" + name + "@" + addr }

// adoptInheritedActivated serves what a previous process served under the
// activation name (nil, nil when it served none).
func (r *Reactor) adoptInheritedActivated(name string, factory protocol.Factory) ([]*Listener, error) {
	prefix := "activated:"
	if name != "" {
		prefix += name + "@"
	}
	var lns []*Listener
	for _, key := range inheritedKeys(prefix) {
		ln, _, err := r.adoptInherited(key, factory, nil)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// checkFile is checkListening for a file, without f.Fd()'s switch to
// blocking mode.
func checkFile(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotListeningSocket, err)
	}
	var checkErr error
	if err := sc.Control(func(fd uintptr) { _, _, checkErr = checkListening(int(fd)) }); err != nil {
		return fmt.Errorf("%w: %v", ErrNotListeningSocket, err)
	}
	return checkErr
}

// Activated reports whether this process has sockets from systemd socket
// activation to serve with ListenActivated: passed by systemd itself, or
// handed over by an upgrade from a process that had them. A program picks
// with it between ListenActivated and its configured address.
func Activated() bool {
	files, _ := ActivationListeners()
	return len(files) > 0 || len(inheritedKeys("activated:")) > 0
}
