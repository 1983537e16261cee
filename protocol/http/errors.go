package http

import "errors"

// Errors returned by this package. Match them with errors.Is.
var (
	// ErrNilHandler is returned by NewServer when the handler is nil.
	ErrNilHandler = errors.New("mustaine/http: nil handler")
	// ErrInvalidOption is returned by NewServer when an option has an
	// out-of-range value (a negative limit or timeout).
	ErrInvalidOption = errors.New("mustaine/http: invalid option value")
	// ErrResponseFinished is returned by ResponseWriter methods called
	// after the response was finished.
	ErrResponseFinished = errors.New("mustaine/http: response already finished")
	// ErrBodyNotAllowed is returned by Write when the status code does not
	// allow a body (1xx, 204, 304).
	ErrBodyNotAllowed = errors.New("mustaine/http: status code does not allow a body")
	// ErrContentLength is returned by Write when the handler writes more
	// than the Content-Length it declared with SetContentLength.
	ErrContentLength = errors.New("mustaine/http: wrote more than the declared Content-Length")
	// ErrConnectionLost is returned by ResponseWriter methods once the
	// connection that carried the request is gone (the peer closed it, or
	// it timed out). A deferred handler sees it when it answers too late.
	ErrConnectionLost = errors.New("mustaine/http: connection lost")
)
