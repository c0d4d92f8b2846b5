package gateway

import (
	"net"
	"net/http"
)

// Authorizer decides whether a call to the admin API may go on. It is the one place where admin
// authentication plugs into the edge.
type Authorizer interface {
	// Authorize returns nil to let the call through, or a refusal to send as it is.
	Authorize(r *http.Request) *Refusal
}

// Refusal is an admin call turned away at the edge.
type Refusal struct {
	Status  int
	Reason  string
	Message string
}

// LoopbackOnly admits admin calls that come from the machine itself and refuses every other. It is
// the authorizer until admin credentials exist: with the edge bound to loopback, only the operator
// of the host can manage domains.
type LoopbackOnly struct{}

func (LoopbackOnly) Authorize(r *http.Request) *Refusal {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
		return nil
	}
	return &Refusal{Status: http.StatusForbidden, Reason: "ADMIN_LOOPBACK_ONLY",
		Message: "The admin API accepts calls from this host only until admin authentication is configured."}
}

func withAuthorization(a Authorizer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := a.Authorize(r); ref != nil {
			writeError(w, r, ref.Status, ref.Reason, ref.Message)
			return
		}
		next.ServeHTTP(w, r)
	})
}
