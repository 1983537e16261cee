package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"strconv"
	"time"

	"github.com/mustaine/mustaine/protocol/http"
	"github.com/mustaine/mustaine/reactor"
)

// user is what GET /users/{id} answers.
type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

var errNoUser = errors.New("no such user")

// lookupUser stands for a database query: it blocks, so it runs on the
// worker pool, and it gives up when ctx ends (the client left).
func lookupUser(ctx context.Context, id int) (user, error) {
	select {
	case <-time.After(time.Millisecond): // the query's latency
	case <-ctx.Done():
		return user{}, context.Cause(ctx)
	}
	if id < 1 || id > 1000 {
		return user{}, errNoUser
	}
	return user{ID: id, Name: "user " + strconv.Itoa(id)}, nil
}

// getUser answers GET /users/{id} from a pool-backed lookup that carries
// the request's context.
func getUser(w *http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		problem(w, 400, "id must be an integer")
		return
	}
	w.Defer()
	d := reactor.DeferToThreadContext(w.Loop(), r.Context(), func(ctx context.Context) (user, error) {
		return lookupUser(ctx, id)
	})
	d.AddBoth(func(u user, err error) (user, error) {
		switch {
		case errors.Is(err, errNoUser):
			problem(w, 404, "no user "+strconv.Itoa(id))
		case err != nil:
			problem(w, 503, err.Error())
		default:
			b, _ := json.Marshal(u)
			w.SetHeader("Content-Type", "application/json")
			w.Write(b)
		}
		w.Finish() // ErrConnectionLost if the client left: nothing to do
		return u, nil
	})
}

// problem answers with an RFC 9457 problem details document.
func problem(w *http.ResponseWriter, status int, detail string) {
	b, _ := json.Marshal(map[string]any{"status": status, "title": http.StatusText(status), "detail": detail})
	w.SetStatus(status)
	w.SetHeader("Content-Type", "application/problem+json")
	w.Write(b)
}

// jsonErrors is the server's error hook: the responses the server makes
// itself (400, 408, 413, 431...) are problem details too.
func jsonErrors(e *http.ErrorResponse) {
	b, _ := json.Marshal(map[string]any{"status": e.Status, "title": http.StatusText(e.Status)})
	e.SetHeader("Content-Type", "application/problem+json")
	e.Write(b)
}

// upload answers POST /upload with the body's length and SHA-256, hashed
// on the worker pool as the body arrives: each piece is copied, the body
// paused while a worker hashes it and resumed after, so an upload of any
// size takes one piece of memory.
func upload(w *http.ResponseWriter, r *http.Request) {
	u := &uploader{w: w, r: r, h: sha256.New()}
	w.Defer()
	if err := r.ReadBody(u); err != nil {
		problem(w, 500, err.Error())
		w.Finish()
	}
}

type uploader struct {
	w    *http.ResponseWriter
	r    *http.Request
	h    hash.Hash
	buf  []byte
	n    int64
	busy bool
	done bool
	err  error
}

func (u *uploader) BodyData(p []byte) {
	u.buf = append(u.buf[:0], p...)
	u.n += int64(len(p))
	u.busy = true
	u.r.PauseBody()
	reactor.DeferToThread(u.w.Loop(), func() (int, error) {
		u.h.Write(u.buf)
		return 0, nil
	}).AddBoth(func(int, error) (int, error) {
		u.busy = false
		if u.done {
			u.answer()
		} else {
			u.r.ResumeBody()
		}
		return 0, nil
	})
}

func (u *uploader) BodyEnd(err error) {
	u.done, u.err = true, err
	if !u.busy {
		u.answer()
	}
}

func (u *uploader) answer() {
	if u.err != nil {
		problem(u.w, 400, u.err.Error())
	} else {
		b, _ := json.Marshal(map[string]any{"bytes": u.n, "sha256": hex.EncodeToString(u.h.Sum(nil))})
		u.w.SetHeader("Content-Type", "application/json")
		u.w.Write(b)
	}
	u.w.Finish()
}
