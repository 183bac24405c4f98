package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// apiError is an error the API answers with a status and one sentence.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return newError(http.StatusBadRequest, format, args...)
}

func notFound(format string, args ...any) error {
	return newError(http.StatusNotFound, format, args...)
}

func conflict(format string, args ...any) error {
	return newError(http.StatusConflict, format, args...)
}

// statusOf returns the HTTP status an error is answered with.
func statusOf(err error) int {
	var e *apiError
	if errors.As(err, &e) {
		return e.status
	}
	return http.StatusInternalServerError
}

// list renders names for an error sentence: "a, b, c", or what to say when
// there are none.
func list(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	names = append([]string(nil), names...)
	sort.Strings(names)
	return strings.Join(names, ", ")
}
