package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"testing"
	"time"
)

func TestParseOptionsDefaultsSelectEverythingButTheCannedExperiment(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Loads, loadNames) || !reflect.DeepEqual(o.Targets, []string{"mustaine", "gnet", "fasthttp", "nethttp", "netecho"}) || !reflect.DeepEqual(o.Configs, configNames) {
		t.Fatalf("defaults: loads %v targets %v configs %v", o.Loads, o.Targets, o.Configs)
	}
	if o.Duration != 10*time.Second || o.Rounds != 5 || o.PinnedLoops != 1 || o.UnpinnedLoops != 2 || o.IdleConns != 10000 {
		t.Fatalf("defaults: %+v", o)
	}
	if o, err := parseOptions([]string{"-targets", "canned,gnet"}, io.Discard); err != nil || !reflect.DeepEqual(o.Targets, []string{"canned", "gnet"}) {
		t.Fatalf("-targets canned,gnet: %v, %v", o, err)
	}
}

func TestParseOptionsRejectsUnknownNamesAndBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"-loads", "plaintext,bogus"},
		{"-targets", ""},
		{"-configs", "sideways"},
		{"-duration", "500ms"},
		{"-rounds", "0"},
		{"-server-cpu", "1", "-load-cpu", "1"},
		{"-depth", "1"},
		{"-idle-conns", "0"},
		{"-tls-keyshare", "p256"},
		{"stray"},
		{"-no-such-flag"},
	} {
		if _, err := parseOptions(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseOptions(%q) err = %v, want errUsage", args, err)
		}
	}
}

func TestParseOptionsHelpIsNotAnError(t *testing.T) {
	if _, err := parseOptions([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
}

func TestSelectedTargetsKeepsOnlyThoseALoadAppliesTo(t *testing.T) {
	o, err := parseOptions([]string{"-loads", "echo64", "-targets", "gnet,fasthttp,mustaine"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range o.selectedTargets(o.selectedLoads()) {
		got = append(got, tg.binary()+"/"+tg.label())
	}
	// Mustaine's server once per backend, the peers once.
	if want := []string{"mustaine-echo/mustaine", "mustaine-echo/mustaine io_uring", "gnet-echo/gnet"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("targets = %v, want %v", got, want)
	}
}

func TestBackendsSelectMustainesVariantsOnly(t *testing.T) {
	o, err := parseOptions([]string{"-loads", "plaintext", "-targets", "mustaine,gnet", "-backends", "io_uring"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range o.selectedTargets(o.selectedLoads()) {
		got = append(got, tg.label())
	}
	if want := []string{"mustaine io_uring", "gnet"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("targets = %v, want %v", got, want)
	}
	if _, err := parseOptions([]string{"-backends", "kqueue2"}, io.Discard); !errors.Is(err, errUsage) {
		t.Fatalf("-backends kqueue2: err = %v, want errUsage", err)
	}
}

func TestRunnableSkipsOtherBackendsOfABinaryWithoutTheFlag(t *testing.T) {
	epoll := target{Name: "mustaine", Ours: true, Backend: "epoll"}
	uring := target{Name: "mustaine", Ours: true, Backend: "io_uring"}
	peer := target{Name: "gnet"}
	old, cur := built{Path: "x"}, built{Path: "x", Backend: true}
	for _, c := range []struct {
		t    target
		b    built
		want bool
	}{{epoll, old, true}, {uring, old, false}, {uring, cur, true}, {peer, old, true}} {
		if got := runnable(c.t, c.b); got != c.want {
			t.Errorf("runnable(%s, backend flag %v) = %v, want %v", c.t.label(), c.b.Backend, got, c.want)
		}
	}
}

func TestRotateGivesEachTargetEachPosition(t *testing.T) {
	ts := []string{"a", "b", "c"}
	for k, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(ts, k); !reflect.DeepEqual(got, want) {
			t.Errorf("rotate(%d) = %v, want %v", k, got, want)
		}
	}
	if ts[0] != "a" {
		t.Fatal("rotate modified its input")
	}
	if rotate([]string(nil), 3) != nil {
		t.Fatal("rotate of nothing must be nothing")
	}
}

func TestTailBufferKeepsTheLastBytes(t *testing.T) {
	b := &tailBuffer{max: 5}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("defg"))
	if got := b.String(); got != "cdefg" {
		t.Fatalf("tail = %q, want %q", got, "cdefg")
	}
}
