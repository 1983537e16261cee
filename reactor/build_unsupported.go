//go:build !linux && !darwin && !freebsd

package reactor

// Mustaine runs on Linux (epoll), macOS and FreeBSD (kqueue). This
// declaration makes the build fail with a readable message elsewhere.
var _ = mustaine_reactor_supports_only_linux_darwin_and_freebsd
