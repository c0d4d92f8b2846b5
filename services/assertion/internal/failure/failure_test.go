package failure_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iechor/sso/services/assertion/internal/failure"
)

func TestQuotedValuesAreCutShortOnARuneBoundary(t *testing.T) {
	long := strings.Repeat("é", 300) // two bytes each
	f := failure.New(failure.BadAudience, failure.IdPAdmin, "Audience", long, "short")
	if len(f.Wanted) > 260 || !utf8.ValidString(f.Wanted) || !strings.HasSuffix(f.Wanted, "…") || f.Got != "short" {
		t.Fatalf("wanted %q (%d bytes)", f.Wanted, len(f.Wanted))
	}
}

func TestAFailureMatchesItsReasonThroughWrapping(t *testing.T) {
	f := failure.New(failure.Expired, failure.User, "NotOnOrAfter", "after x", "y").WithMessage("hello %s", "there")
	wrapped := fmt.Errorf("validating: %w", f)
	if !errors.Is(wrapped, &failure.Error{Reason: failure.Expired}) || errors.Is(wrapped, &failure.Error{Reason: failure.BadAudience}) {
		t.Fatal("errors.Is does not match by reason")
	}
	if f.Message != "hello there" || !strings.Contains(f.Error(), "EXPIRED: NotOnOrAfter") {
		t.Fatalf("%+v: %v", f, f)
	}
	if failure.IdPAdmin.String() != "IDP_ADMIN" || failure.IEchor.String() != "IECHOR" || failure.User.String() != "USER" {
		t.Fatal("fix-by names")
	}
}
