// Package callmeta names the metadata that travels with internal gRPC calls: the request id, so
// that one request's log lines across services can be found together, and the actor, so that the
// service recording an audit event knows who asked. Only the edge and the services set them; the
// edge passes no client header through as metadata.
package callmeta

import (
	"context"

	"google.golang.org/grpc/metadata"
)

const (
	// RequestIDKey carries the request id (also the X-Request-Id HTTP header of the edge).
	RequestIDKey = "x-request-id"
	// ActorKey names who acts: users/{id} (the edge sets it to the authenticated user),
	// service:{name} (a service acting on its own), or nothing (the system).
	ActorKey = "x-actor"
)

// ValidRequestID reports whether a caller's request id may be kept: a short token of letters,
// digits, '-', '_' and '.', safe in logs and headers. Others are replaced by a new one.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// WithActor returns a context whose outgoing calls name actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, ActorKey, actor)
}

// IncomingActor returns the actor an incoming call names, and whether it names one.
func IncomingActor(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(ActorKey); len(v) > 0 && v[0] != "" {
		return v[0], true
	}
	return "", false
}
