package deferred

// Winner is the result of Race: the index of the first input to succeed and
// its value.
type Winner[T any] struct {
	Index int
	Value T
}

// Race returns a Deferred that fires with the first of ds to succeed, after
// cancelling all the others, like Twisted's race. Errors do not end the race:
// only when every input failed does it fail, with a *FailureGroup holding
// each input's error (it matches ErrAllFailed, and errors.Is sees through to
// the inputs' errors). Race consumes the inputs' errors, so losers
// cancelled by it are not reported as unhandled; a winner's own chain keeps
// its value.
//
// Cancelling the returned Deferred before it fires cancels every input. No
// inputs: it fails at once with an empty *FailureGroup. A nil input counts
// as one that failed with ErrNilDeferred.
func Race[T any](ds []*Deferred[T]) *Deferred[Winner[T]] {
	st := &raceState[T]{inputs: ds, errs: make([]error, len(ds))}
	st.out.site = callerSite(1)
	st.out.linked = st
	if len(ds) == 0 {
		_ = st.out.Errback(&FailureGroup{})
		return &st.out
	}
	watchers := make([]raceWatch[T], len(ds))
	for i, d := range ds {
		if d == nil {
			if next := st.failed(i, ErrNilDeferred); next != nil {
				drive(next)
			}
			continue
		}
		watchers[i] = raceWatch[T]{st: st, i: i}
		d.add(step[T]{ext: &watchers[i]})
	}
	return &st.out
}

type raceState[T any] struct {
	out     Deferred[Winner[T]]
	inputs  []*Deferred[T]
	errs    []error
	nfailed int
	won     bool
}

// Cancel cancels every input; it is how the race's own Cancel reaches them.
func (st *raceState[T]) Cancel() {
	for _, d := range st.inputs {
		if d != nil {
			d.Cancel()
		}
	}
}

func (st *raceState[T]) failed(i int, err error) link {
	st.errs[i] = err
	st.nfailed++
	if st.won || st.nfailed < len(st.errs) {
		return nil
	}
	return st.out.receive(nopSource{}, Winner[T]{}, &FailureGroup{Errors: st.errs}, nil)
}

type raceWatch[T any] struct {
	st *raceState[T]
	i  int
}

func (w *raceWatch[T]) run(d *Deferred[T]) link {
	st := w.st
	if d.err != nil {
		err := d.err
		d.err = nil
		return st.failed(w.i, err)
	}
	if st.won || st.out.called {
		return nil
	}
	st.won = true
	for j, other := range st.inputs {
		if j != w.i && other != nil {
			other.Cancel()
		}
	}
	return st.out.receive(nopSource{}, Winner[T]{Index: w.i, Value: d.result}, nil, nil)
}
