package callmeta

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestRequestIDsThatMayBeKept(t *testing.T) {
	for id, want := range map[string]bool{"abc-123": true, "A.b_c": true, "": false, "<script>": false, "a b": false,
		string(make([]byte, 65)): false} {
		if ValidRequestID(id) != want {
			t.Errorf("ValidRequestID(%q) != %v", id, want)
		}
	}
}

func TestTheActorTravelsFromCallerToCallee(t *testing.T) {
	out := WithActor(context.Background(), "users/usr_1")
	md, _ := metadata.FromOutgoingContext(out)
	in := metadata.NewIncomingContext(context.Background(), md)
	if a, ok := IncomingActor(in); !ok || a != "users/usr_1" {
		t.Fatalf("IncomingActor = %q, %v", a, ok)
	}
	if _, ok := IncomingActor(context.Background()); ok {
		t.Fatal("an actor was found in a call that names none")
	}
}
