package deferred

// Outcome is one input's result in a DeferredList: Done tells whether the
// input fired at all, Err whether it failed.
type Outcome[T any] struct {
	Value T
	Err   error
	Done  bool
}

// ListOption configures DeferredList and Gather.
type ListOption func(*listConfig)

type listConfig struct {
	fireOnOneCallback bool
	fireOnOneErrback  bool
	consumeErrors     bool
}

// FireOnOneCallback makes a DeferredList fire as soon as one input succeeds,
// without waiting for the others. Its slice then holds exactly one outcome
// with Done set and a nil Err: the winner (inputs that failed earlier are
// Done too, with their errors). Gather ignores it.
func FireOnOneCallback() ListOption {
	return func(c *listConfig) { c.fireOnOneCallback = true }
}

// FireOnOneErrback makes a DeferredList fail as soon as one input fails,
// with a *FirstError holding that input's index and error. Gather always
// behaves this way.
func FireOnOneErrback() ListOption {
	return func(c *listConfig) { c.fireOnOneErrback = true }
}

// ConsumeErrors makes each input's error stop at the list: the input's own
// chain goes on with the zero value and no error, so the error is not
// reported as unhandled on the input (the list, or Gather, still sees it).
func ConsumeErrors() ListOption {
	return func(c *listConfig) { c.consumeErrors = true }
}

// DeferredList collects the results of ds, Twisted's DeferredList: the
// returned Deferred fires, once every input fired, with one Outcome per
// input in input order (it never fails on its own, unless with
// FireOnOneErrback). Options change when it fires and whether input errors
// are consumed.
//
// It works by adding one step to the end of each input's chain, so steps
// added to an input before the call shape what the list sees. Cancelling the
// returned Deferred before it fires cancels every input. No inputs: it fires
// at once with an empty slice (whatever the options: Twisted would never
// fire a FireOnOneCallback list with no inputs). A nil input counts as an
// input that failed with ErrNilDeferred.
func DeferredList[T any](ds []*Deferred[T], opts ...ListOption) *Deferred[[]Outcome[T]] {
	st := &listState[T]{
		inputs:    ds,
		results:   make([]Outcome[T], len(ds)),
		remaining: len(ds),
	}
	for _, o := range opts {
		if o != nil {
			o(&st.cfg)
		}
	}
	st.out.site = callerSite(1)
	st.out.linked = st
	if len(ds) == 0 {
		_ = st.out.Callback(st.results)
		return &st.out
	}
	watchers := make([]listWatch[T], len(ds))
	for i, d := range ds {
		if d == nil {
			if next := st.record(i, Outcome[T]{Err: ErrNilDeferred, Done: true}); next != nil {
				drive(next)
			}
			continue
		}
		watchers[i] = listWatch[T]{st: st, i: i}
		d.add(step[T]{ext: &watchers[i]})
	}
	return &st.out
}

type listState[T any] struct {
	out       Deferred[[]Outcome[T]]
	inputs    []*Deferred[T]
	results   []Outcome[T]
	remaining int
	cfg       listConfig
}

// Cancel cancels every input; it is how the list's own Cancel reaches them.
func (st *listState[T]) Cancel() {
	for _, d := range st.inputs {
		if d != nil {
			d.Cancel()
		}
	}
}

// record stores input i's outcome and returns the list's Deferred, entered
// and loaded, when this outcome fires it.
func (st *listState[T]) record(i int, o Outcome[T]) link {
	st.results[i] = o
	st.remaining--
	if st.out.called {
		return nil
	}
	switch {
	case o.Err == nil && st.cfg.fireOnOneCallback:
		snap := make([]Outcome[T], len(st.results))
		copy(snap, st.results)
		return st.out.receive(nopSource{}, snap, nil, nil)
	case o.Err != nil && st.cfg.fireOnOneErrback:
		return st.out.receive(nopSource{}, nil, &FirstError{Index: i, Err: o.Err}, nil)
	case st.remaining == 0:
		return st.out.receive(nopSource{}, st.results, nil, nil)
	}
	return nil
}

type listWatch[T any] struct {
	st *listState[T]
	i  int
}

func (w *listWatch[T]) run(d *Deferred[T]) link {
	next := w.st.record(w.i, Outcome[T]{Value: d.result, Err: d.err, Done: true})
	if d.err != nil && w.st.cfg.consumeErrors {
		d.err = nil
	}
	return next
}

// nopSource is the source of a receive that has no chain to fail: the
// list's Deferred is only fired here, except by a Cancel that suppresses.
type nopSource struct{}

func (nopSource) failWith(error) {}

// Gather returns a Deferred that fires with the values of ds in input order
// once all succeeded, or fails as soon as one fails, with a *FirstError
// (errors.Is sees through it to the input's error). It is Twisted's
// gatherResults. ConsumeErrors keeps the inputs' errors from also being
// reported as unhandled on the inputs; the other options do not apply.
// Cancelling the returned Deferred cancels every input. No inputs: it fires
// at once with an empty slice.
func Gather[T any](ds []*Deferred[T], opts ...ListOption) *Deferred[[]T] {
	var cfg listConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	lopts := []ListOption{FireOnOneErrback()}
	if cfg.consumeErrors {
		lopts = append(lopts, ConsumeErrors())
	}
	l := DeferredList(ds, lopts...)
	l.site = callerSite(1)
	out := Then(l, func(os []Outcome[T]) ([]T, error) {
		vs := make([]T, len(os))
		for i, o := range os {
			vs[i] = o.Value
		}
		return vs, nil
	})
	out.site = l.site
	return out
}
