package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// built is the outcome of building one target.
type built struct {
	Path    string // the executable, when the build succeeded
	Missing string // why the package is absent, when it is
	Err     error  // the build failure of a package that exists
	// Backend reports that the executable takes -backend (Mustaine's
	// examples, once they choose a reactor backend).
	Backend bool
	// Timeouts reports that the executable takes -read-header-timeout and
	// -idle-timeout (examples/http), which the idle loads lengthen.
	Timeouts bool
}

// flagsOf runs the executable at path once with -h and returns a func
// reporting whether the usage it printed (what a Go program prints for
// -h) lists -name.
func flagsOf(ctx context.Context, path string) (takes func(name string) bool) {
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(hctx, path, "-h").CombinedOutput()
	return func(name string) bool {
		return bytes.Contains(out, []byte("-"+name+" ")) || bytes.Contains(out, []byte("-"+name+"\n")) ||
			bytes.Contains(out, []byte("-"+name+"\t"))
	}
}

// moduleRoot returns the directory of the go.mod the harness belongs to.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module: run the harness from the Mustaine checkout")
	}
	return filepath.Dir(mod), nil
}

// hasGoFiles reports whether dir holds a non-test Go source file, which
// is how the harness tells a package that is not written yet.
func hasGoFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			return true
		}
	}
	return false
}

// goBuild builds package pkg of the module at root into the executable
// out, within five minutes; a failure carries the end of the compiler's
// output.
func goBuild(ctx context.Context, root, pkg, out string) error {
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, tail(stderr.String(), 400))
	}
	return nil
}

// buildTargets builds every target into dir with go build, keyed by
// binary name. A package that does not exist is reported as missing.
func buildTargets(ctx context.Context, root, dir string, targets []target, log io.Writer) map[string]built {
	out := make(map[string]built, len(targets))
	for _, t := range targets {
		if _, done := out[t.binary()]; done {
			continue // the same server on another backend
		}
		if !hasGoFiles(filepath.Join(root, t.Pkg)) {
			out[t.binary()] = built{Missing: "package " + t.Pkg + " does not exist yet"}
			fmt.Fprintf(log, "bench: %s (%s): missing, skipped\n", t.binary(), t.Pkg)
			continue
		}
		path := filepath.Join(dir, t.binary())
		if err := goBuild(ctx, root, t.Pkg, path); err != nil {
			out[t.binary()] = built{Err: err}
			fmt.Fprintf(log, "bench: %s: BUILD FAILED: %v\n", t.binary(), err)
			continue
		}
		b := built{Path: path}
		if t.Ours {
			takes := flagsOf(ctx, path)
			b.Backend = takes("backend")
			b.Timeouts = takes("read-header-timeout") && takes("idle-timeout")
		}
		out[t.binary()] = b
	}
	return out
}
